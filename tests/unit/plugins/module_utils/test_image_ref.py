# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import (
    ImageRef,
    ImageRefError,
    split_ref,
    validate_digest,
)

DIGEST = "sha256:" + "a1" * 32


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("registry.example.com:5000/ee/aws:1.2", ("registry.example.com:5000", "ee/aws", "1.2", None)),
        ("127.0.0.1:5000/eeforge/ee:latest", ("127.0.0.1:5000", "eeforge/ee", "latest", None)),
        ("localhost/eeforge-t4-x:1", ("localhost", "eeforge-t4-x", "1", None)),
        ("quay.io/ansible/awx-ee", ("quay.io", "ansible/awx-ee", "latest", None)),
        ("ubuntu", ("docker.io", "library/ubuntu", "latest", None)),
        ("myorg/ee:2", ("docker.io", "myorg/ee", "2", None)),
        ("index.docker.io/myorg/ee:2", ("docker.io", "myorg/ee", "2", None)),
        ("quay.io/a/b@" + DIGEST, ("quay.io", "a/b", None, DIGEST)),
        ("quay.io/a/b:1@" + DIGEST, ("quay.io", "a/b", "1", DIGEST)),
        ("[::1]:5000/a/b:1", ("[::1]:5000", "a/b", "1", None)),
        ("reg.example.com/a__b/c-d.e_f:V1.0-rc_1", ("reg.example.com", "a__b/c-d.e_f", "V1.0-rc_1", None)),
    ],
)
def test_split_ref_parts(ref, expected):
    parsed = split_ref(ref)
    assert (parsed.registry, parsed.repository, parsed.tag, parsed.digest) == expected


def test_explicit_registry_flag_and_str():
    assert split_ref("ubuntu").explicit_registry is False
    assert str(split_ref("ubuntu")) == "docker.io/library/ubuntu:latest"
    ref = split_ref("quay.io/a/b:1")
    assert ref.explicit_registry is True
    assert str(ref) == "quay.io/a/b:1"
    assert ref.name == "quay.io/a/b"
    assert ref.tagged == "quay.io/a/b:1"


def test_with_digest_and_tag_are_new_objects():
    ref = split_ref("quay.io/a/b:1")
    pinned = ref.with_digest(DIGEST)
    assert str(pinned) == "quay.io/a/b:1@" + DIGEST
    assert ref.digest is None
    assert str(pinned.without_digest()) == "quay.io/a/b:1"
    assert str(ref.with_tag("2")) == "quay.io/a/b:2"
    with pytest.raises(ImageRefError):
        ref.with_digest("sha256:abc")
    with pytest.raises(ImageRefError):
        ref.with_tag("-bad")
    with pytest.raises(AttributeError):
        ref.tag = "x"


def test_equality_and_hash():
    assert split_ref("quay.io/a/b:1") == ImageRef("quay.io", "a/b", "1")
    assert split_ref("quay.io/a/b:1") != split_ref("quay.io/a/b:2")
    assert len({split_ref("quay.io/a/b:1"), split_ref("quay.io/a/b:1")}) == 1


def test_missing_tag_flag():
    assert split_ref("quay.io/a/b").tag == "latest"
    assert split_ref("quay.io/a/b", default_tag="main").tag == "main"
    with pytest.raises(ImageRefError, match="has no tag"):
        split_ref("quay.io/a/b", require_tag=True)
    with pytest.raises(ImageRefError, match="has no tag"):
        split_ref("quay.io/a/b@" + DIGEST, require_tag=True)
    assert split_ref("quay.io/a/b@" + DIGEST).tag is None


@pytest.mark.parametrize(
    "ref, fragment",
    [
        ("quay.io/a/b c:1", "contains whitespace"),
        (" quay.io/a/b:1", "contains whitespace"),
        ("quay.io/MyOrg/ee:1", "repository path 'MyOrg/ee' must be lower case. Use 'myorg/ee'"),
        ("quay.io/a/b:", "the tag after ':' is empty"),
        ("quay.io/a/b:-x", "tag '-x' is not valid"),
        ("quay.io/a/b@sha256:abc", "sha256 digest has 3 hex digits, expected 64"),
        ("quay.io/a/b@md5", "is not '<algorithm>:<hex>'"),
        ("quay.io/a/b@sha256:" + "A1" * 32, "must be lower-case hex"),
        ("quay.io//b:1", "empty component"),
        ("quay.io/a/b/:1", "empty component"),
        ("quay.io/a/b$:1", "component 'b$' is not valid"),
        ("bad_host.io/a:1", "registry 'bad_host.io' is not a valid host[:port]"),
        ("-reg.io:5000/a:1", "registry '-reg.io:5000' is not a valid host[:port]"),
        ("docker://quay.io/a/b:1", "has a URL scheme"),
        ("", "it is empty"),
        (":1", "no repository name"),
        ("quay.io/" + "a" * 260 + ":1", "longer than 255"),
    ],
)
def test_bad_refs_have_one_line_errors(ref, fragment):
    with pytest.raises(ImageRefError) as err:
        split_ref(ref)
    text = str(err.value)
    assert fragment in text
    assert "\n" not in text
    assert text.startswith("Invalid image reference '%s': " % ref)


def test_non_string_and_digest_not_allowed():
    with pytest.raises(ImageRefError, match="not a string"):
        split_ref(5)
    with pytest.raises(ImageRefError, match="digest is not allowed"):
        split_ref("quay.io/a/b:1@" + DIGEST, allow_digest=False)


def test_validate_digest_and_registries():
    assert validate_digest(DIGEST) == DIGEST
    with pytest.raises(ImageRefError, match="digest is empty"):
        validate_digest("")
    assert split_ref("ubuntu:22.04").registry == "docker.io"
    assert split_ref("127.0.0.1:5000/x/y:1", require_tag=True).registry == "127.0.0.1:5000"
