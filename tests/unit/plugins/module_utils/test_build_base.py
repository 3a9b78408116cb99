# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""refresh_base: what the base image is taken to be, decided without podman or a registry."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._build_base import (
    BASE_DIGEST_LABEL,
    recorded_base_digest,
    resolve_base,
)
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError, RegistryError

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
LOCAL_ID = "a" * 64
BASE = "r.example.com/ee/base:latest"


def _local(repo_digest=D1, image_id=LOCAL_ID):
    return {"id": image_id, "repo_digests": ["r.example.com/ee/base@" + repo_digest] if repo_digest else []}


class Lookup(object):
    def __init__(self, answer):
        self.answer = answer
        self.asked = []

    def __call__(self, ref):
        self.asked.append(ref)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_the_tag_moved_in_the_registry_builds_from_the_new_digest():
    lookup = Lookup(D2)
    base, warnings = resolve_base(BASE, _local(D1), D1, True, lookup)
    assert (base.digest, base.build_ref, base.pull, base.source) == (D2, "r.example.com/ee/base@" + D2, True, "registry")
    assert lookup.asked == [BASE] and warnings == []
    assert base.labels() == {BASE_DIGEST_LABEL: D2, "org.opencontainers.image.base.name": BASE,
                             "org.opencontainers.image.base.digest": D2}


def test_the_local_copy_is_what_the_registry_serves_so_nothing_is_pulled():
    base, _warnings = resolve_base(BASE, _local(D2), D1, True, Lookup(D2))
    assert (base.digest, base.build_ref, base.pull) == (D2, LOCAL_ID, False)


def test_refresh_false_uses_the_recorded_digest_and_asks_no_registry():
    lookup = Lookup(D2)
    base, _warnings = resolve_base(BASE, _local(D1), D1, False, lookup)
    assert (base.digest, base.build_ref, base.pull, base.source) == (D1, LOCAL_ID, False, "recorded")
    assert lookup.asked == []
    # the recorded base is not local any more: pulled by its digest, not by the tag that moved
    base, _warnings = resolve_base(BASE, _local(D2), D1, False, lookup)
    assert (base.build_ref, base.pull) == ("r.example.com/ee/base@" + D1, True) and lookup.asked == []
    # no build recorded one yet: looked up as with refresh_base true
    base, _warnings = resolve_base(BASE, None, None, False, lookup)
    assert base.digest == D2 and lookup.asked == [BASE]


def test_registry_down_falls_back_to_the_local_copy_with_a_warning():
    down = RegistryError("Failed to inspect image '%s': dial tcp 10.0.0.1:443: connection refused" % BASE,
                         "Check the registry", kind="unreachable")
    base, warnings = resolve_base(BASE, _local(D1), None, True, Lookup(down))
    assert (base.digest, base.build_ref, base.pull, base.source) == (D1, LOCAL_ID, False, "local")
    assert warnings == ["Could not look up base image '%s' in its registry (dial tcp 10.0.0.1:443: connection refused): "
                        "building on the local copy" % BASE]
    # a local copy pulled under another name has no repo digest for this repository: its image id
    base, _warnings = resolve_base(BASE, _local(None), None, True, Lookup(None))
    assert base.digest == "sha256:" + LOCAL_ID


def test_no_base_anywhere_is_one_line_and_check_mode_only_warns():
    denied = RegistryError("Failed to inspect image '%s': unauthorized: authentication required" % BASE,
                           "Check the registry username/password", kind="unauthorized")
    with pytest.raises(BuildError) as err:
        resolve_base(BASE, None, None, True, Lookup(denied))
    assert err.value.cause == "Failed to pull base image '%s': unauthorized: authentication required" % BASE
    assert err.value.fix.endswith("(base_registry_username/base_registry_password)")
    with pytest.raises(BuildError, match="it does not exist in its registry"):
        resolve_base(BASE, None, None, True, Lookup(None))
    base, warnings = resolve_base(BASE, None, None, True, Lookup(denied), check_mode=True)
    assert base.digest is None and base.pull is True and base.labels() == {}
    assert warnings == ["Base image '%s' could not be looked up (unauthorized: authentication required): counted as "
                        "a build" % BASE]


def test_local_only_base_is_its_image_id():
    local = "localhost/eeforge-base:1"
    lookup = Lookup(D2)
    base, _warnings = resolve_base(local, _local(None), None, True, lookup)
    assert (base.digest, base.build_ref, base.pull, base.source) == ("sha256:" + LOCAL_ID, LOCAL_ID, False, "local")
    assert lookup.asked == []  # a localhost/ name has no registry to ask
    with pytest.raises(BuildError, match="is not in local storage, and a 'localhost/' image cannot be pulled"):
        resolve_base(local, None, None, True, lookup)
    assert resolve_base(local, None, None, True, lookup, check_mode=True)[0].digest is None


def test_a_local_short_name_is_its_image_id_and_a_missing_one_is_looked_up():
    lookup = Lookup(D2)
    base, warnings = resolve_base("ee-minimal:latest", _local(None), None, True, lookup)
    assert (base.digest, base.build_ref, base.source) == ("sha256:" + LOCAL_ID, LOCAL_ID, "local") and not warnings
    assert lookup.asked == []
    # not local: podman's unqualified-search registries decide where it comes from, so it is pulled first
    base, _warnings = resolve_base("ee-minimal:latest", None, None, True, lookup)
    assert (base.digest, base.build_ref, base.pull, base.source) == (None, "ee-minimal:latest", True, "unqualified")
    assert lookup.asked == []


def test_local_only_base_with_refresh_false_keeps_the_recorded_image_while_it_exists():
    local = "localhost/eeforge-base:1"
    old = "sha256:" + "b" * 64
    kept = []
    base, _warnings = resolve_base(local, _local(None), old, False, Lookup(D2),
                                   exists=lambda image_id: kept.append(image_id) or True)
    assert (base.digest, base.build_ref, base.pull) == (old, "b" * 64, False) and kept == ["b" * 64]
    with pytest.raises(BuildError) as err:
        resolve_base(local, _local(None), old, False, Lookup(D2), exists=lambda image_id: False)
    assert "no longer in local storage" in str(err.value) and err.value.fix.startswith("Set refresh_base: true")


def test_a_base_named_by_digest_is_that_digest():
    pinned = "r.example.com/ee/base@" + D1
    lookup = Lookup(D2)
    base, _warnings = resolve_base(pinned, None, D2, True, lookup)
    assert (base.digest, base.build_ref, base.pull, base.source) == (D1, pinned, True, "definition")
    assert lookup.asked == []


def test_recorded_digest_comes_from_the_first_image_that_has_one():
    assert recorded_base_digest(None, "unknown", {"labels": {}}, {"labels": {BASE_DIGEST_LABEL: D1}}) == D1
    assert recorded_base_digest(None, {"labels": {"x": "y"}}) is None
