# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""issue 14, part 1: refresh_base. An EE on a moving base tag (``...:latest`` in the harness registry) is
rebuilt when the tag moves, and only then; with ``refresh_base: false`` the image stays on the base its last
build recorded.

Builds (CI time): three small builds on the harness's ee-minimal image (ansible-core and ansible-runner are
in the base, so no pip install runs): the first, the rebuild after the tag moved, and the build on a
definition change with ``refresh_base: false``.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

from tests.harness.ee_minimal import ensure_ee_minimal_image
from tests.harness.podman_env import podman
from tests.integration.test_ee_build import run_ee_build

PREFIX = "localhost/eeforge-t14-refresh-"


def _definition(base, step="RUN echo t14 > /etc/eeforge-t14"):
    return {"version": 3, "images": {"base_image": {"name": base}},
            "additional_build_steps": {"append_final": [step]}}


def _push(source, dest):
    podman(["push", "--quiet", "--tls-verify=false", source, "docker://" + dest])


def _labels(ref):
    return json.loads(podman(["image", "inspect", "--format", "{{json .Labels}}", ref]).stdout)


@pytest.fixture
def moving_base(registry, base_image, tmp_path):
    """``<registry>/eeforge-t14/base-<id>:latest``, and ``move()`` that pushes a new image under that tag."""
    minimal = ensure_ee_minimal_image(base_image)
    dest = "%s/eeforge-t14/base-%s:latest" % (registry.location, uuid.uuid4().hex[:8])
    _push(minimal, dest)
    made = []

    def move(text):
        context = tmp_path / ("move-%d" % len(made))
        context.mkdir()
        (context / "Containerfile").write_text("FROM %s\nRUN echo %s > /etc/eeforge-t14-base\n" % (minimal, text))
        image = PREFIX + "base:%s" % text
        podman(["build", "--quiet", "--layers=false", "-t", image, str(context)], timeout=600)
        made.append(image)
        _push(image, dest)
        return registry.manifest_digest(dest.split("/", 1)[1].rsplit(":", 1)[0], "latest")

    yield dest, move
    podman(["rmi", "-f"] + made, check=False)
    # What the builds pulled by digest (known only by this repository's names, "<repo>@sha256:...") goes
    # too; an image with other names (the cached ee-minimal, which was pushed there) stays.
    name = dest.rsplit(":", 1)[0]
    listed = json.loads(podman(["images", "--format", "json"]).stdout or "[]")
    pulled = [entry["Id"] for entry in listed
              if all(n.startswith((name + ":", name + "@")) for n in entry.get("Names") or [])
              and any(d.startswith(name + "@") for d in entry.get("RepoDigests") or entry.get("Digests") or [])]
    if pulled:
        podman(["rmi"] + pulled, check=False)


def test_a_moved_base_tag_rebuilds_and_refresh_false_keeps_the_old_base(moving_base, registry, tmp_path):
    base, move = moving_base
    repo = base.split("/", 1)[1].rsplit(":", 1)[0]
    tag = PREFIX + "ee-%s:1" % uuid.uuid4().hex[:8]
    logs = str(tmp_path / "logs")
    os.makedirs(logs)
    args = {"definition": _definition(base), "tags": [tag], "tls_verify": False, "build_log_dir": logs}
    try:
        first, output = run_ee_build(args)
        assert first.get("changed") is True and first["built"] is True, output
        served = first["base_image_digest"]
        assert served.startswith("sha256:") and first["base_image_moved"] is False
        labels = _labels(tag)
        assert labels["io.eeforge.base-digest"] == served == labels["org.opencontainers.image.base.digest"]
        assert labels["org.opencontainers.image.base.name"] == base

        # Nothing moved: a no-op (the registry is asked, nothing is built).
        again, output = run_ee_build(args)
        assert again.get("changed") is False and again["actions"] == [], output
        assert again["base_image_digest"] == served and again["definition_digest"] == first["definition_digest"]

        # The base tag moves (a new image under :latest): the unchanged definition is rebuilt on it.
        moved = move("security-fix-1")
        assert moved != served
        check, output = run_ee_build(args, check=True)
        assert check.get("changed") is True and check["actions"] == ["build"] and check["base_image_moved"], output
        rebuilt, output = run_ee_build(args)
        assert rebuilt.get("changed") is True and rebuilt["built"] is True, output
        assert rebuilt["base_image_digest"] == moved and rebuilt["base_image_moved"] is True
        assert rebuilt["definition_digest"] != first["definition_digest"] and rebuilt["image_id"] != first["image_id"]
        assert podman(["run", "--rm", tag, "cat", "/etc/eeforge-t14-base"]).stdout.strip() == "security-fix-1"
        assert _labels(tag)["io.eeforge.base-digest"] == moved
        # The build started from exactly that digest, not from the tag.
        with open(rebuilt["build_log"], encoding="utf-8") as handle:
            log = handle.read()
        assert "STEP 1/" in log and ": FROM %s@%s AS base" % (base.rsplit(":", 1)[0], moved) in log, log[:400]

        # A re-run is a no-op.
        again, output = run_ee_build(args)
        assert again.get("changed") is False and again["base_image_digest"] == moved, output

        # The tag moves again, but refresh_base is false: the image stays on the base it recorded.
        latest = move("security-fix-2")
        kept, output = run_ee_build(dict(args, refresh_base=False))
        assert kept.get("changed") is False and kept["image_id"] == rebuilt["image_id"], output
        assert kept["base_image_digest"] == moved and kept["base_image_moved"] is False
        # ... also when the definition changes: the rebuild is on the recorded base, not on the moved tag.
        changed, output = run_ee_build(dict(args, refresh_base=False,
                                            definition=_definition(base, "RUN echo t14b > /etc/eeforge-t14")))
        assert changed.get("changed") is True and changed["base_image_digest"] == moved, output
        assert podman(["run", "--rm", tag, "cat", "/etc/eeforge-t14-base"]).stdout.strip() == "security-fix-1"
        assert registry.manifest_digest(repo, "latest") == latest
    finally:
        podman(["rmi", "-f", tag], check=False)
