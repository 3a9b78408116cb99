# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Session fixture ``builder_image``: the builder EE (execution-environment.yaml), built once.

It is built by the first-mover playbook (playbooks/build_builder_ee.yml, i.e. eeforge.builder.ee_build
with ``squash: new``) on the harness's Debian base image, with this collection and containers.podman
from local tarballs. The tag is local and stable (``localhost/eeforge-builder-ee:test``) and kept
between sessions: ee_build labels the image with the digest of its definition and inputs, so a later
session with the same inputs rebuilds nothing (``builder_image.built`` is False then). The collection
tarballs are repacked byte-for-byte reproducibly (``ansible-galaxy collection build`` stamps the time
into them), so only a change of content triggers a rebuild.

Use it in other test files by naming it as an argument::

    def test_nested(builder_image):
        podman run ... builder_image.ref ...

``builder_image`` has ``ref`` (local tag), ``base_image``, ``image_id``, ``layers``,
``layers_above_base``, ``size``, ``size_above_base``, ``built`` (this session built it) and
``seconds`` (how long the playbook took).
"""

from __future__ import annotations

import os

import pytest

from tests.demo import BUILDER_LOCAL_TAG, build_builder_image, stable_tarball


class BuilderImage:
    """What the session knows about the builder EE image."""

    def __init__(self, facts):
        self.facts = dict(facts)
        self.ref = facts["ref"]
        self.base_image = facts["base_image"]
        self.image_id = facts["id"]
        self.layers = facts["layers"]
        self.layers_above_base = facts["layers_above_base"]
        self.size = facts["size"]
        self.size_above_base = facts["size_above_base"]
        self.built = facts["built"]
        self.seconds = facts["seconds"]

    def __repr__(self):
        return "BuilderImage(%s, %s layers above the base, %.0f MB, built=%s in %ss)" % (
            self.ref, self.layers_above_base, self.size / 1e6, self.built, self.seconds)


@pytest.fixture(scope="session")
def builder_image(base_image, collection_tarballs, tmp_path_factory, podman_conf):  # pylint: disable=unused-argument
    """The builder EE, built once per session (reused across sessions when nothing changed)."""
    work = str(tmp_path_factory.mktemp("builder-ee"))
    tarballs = {
        name: stable_tarball(collection_tarballs[name], os.path.join(work, "collections"))
        for name in ("eeforge.builder", "containers.podman")
    }
    facts = build_builder_image(BUILDER_LOCAL_TAG, base_image, tarballs, work, push=False)
    return BuilderImage(facts)
