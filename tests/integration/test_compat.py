# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fast subset ``make compat-216`` runs under the oldest ansible-core galaxy.yml claims (2.16),
besides the full suite under 2.19 (marker ``compat``): an ee_build no-op, one AWX module against
the stand-in, and the ee_builder role in check mode.

Image builds (CI time): one small image (the harness base plus two RUN steps, no pip), removed after.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.harness.podman_env import podman
from tests.integration.awx_tasks import REPO_ROOT, run_playbook, run_task
from tests.integration.test_faults import Project, local_image, remove_build_of, remove_images
from tests.integration.test_faults import run_playbook as run_ee_build_playbook

pytestmark = pytest.mark.compat


def ansible_core_version():
    from ansible.release import __version__  # pylint: disable=import-outside-toplevel
    return __version__


def test_ee_build_second_run_is_a_no_op(base_image, tmp_path):
    tag = "localhost/eeforge-compat-%s:1" % uuid.uuid4().hex[:8]
    project = Project(tmp_path / "project", base_image, steps=["RUN true"])
    args = {"definition_file": project.definition, "tags": [tag]}
    try:
        first, output, _seconds = run_ee_build_playbook(tmp_path, args)
        assert first.get("changed") is True and not first.get("failed"), output
        image = local_image(tag)
        assert image is not None, output
        again, output, seconds = run_ee_build_playbook(tmp_path, args)
        assert again.get("changed") is False and not again.get("failed"), output
        assert local_image(tag)["Id"] == image["Id"]
        print("ansible-core %s: ee_build no-op in %.1fs" % (ansible_core_version(), seconds))
    finally:
        remove_images(tag)
        # The build's other stages end in untagged images (the layer cache): they go too.
        remove_build_of(project.marker)


def test_awx_execution_environment_create_then_unchanged(awx_standin, tmp_path):
    args = {"name": "compat-ee", "image": "registry.example.com/compat/ee:1.0", "pull": "missing"}
    result = run_task(awx_standin, tmp_path, "eeforge.builder.awx_execution_environment", args)
    assert result["changed"] is True and result["image"] == args["image"], result
    again = run_task(awx_standin, tmp_path, "eeforge.builder.awx_execution_environment", args)
    assert again["changed"] is False and again["id"] == result["id"], again


def test_ee_builder_role_check_mode_builds_and_pushes_nothing(base_image, registry, tmp_path):
    dest = "%s/eeforge-compat-%s" % (registry.location, uuid.uuid4().hex[:8])
    variables = {
        "ee_base_image": base_image,
        "ee_registry_dest": dest,
        "ee_validate_certs": False,
        "ee_builder_dir": str(tmp_path / "builder"),
        "ee_builder_awx_register": False,
        "ee_list": [{
            "name": "ee-compat",
            "tags": ["1"],
            "images": {"base_image": {"name": base_image}},
            "dependencies": {"ansible_core": {"package_pip": "ansible-core==2.16.19"},
                             "ansible_runner": {"package_pip": "ansible-runner==2.4.3"}},
        }],
    }
    ref = dest + "/ee-compat:1"
    try:
        doc, rc, output = run_playbook(os.path.join(REPO_ROOT, "playbooks", "build_ees.yml"), variables, check=True,
                                       timeout=600)
        assert rc == 0, output
        builds = [task["hosts"]["localhost"] for play in doc["plays"] for task in play["tasks"]
                  if task["task"]["name"].split(" : ")[-1].startswith("Build " + ref)]
        assert builds and any(b.get("changed") for b in builds), output
        assert local_image(ref) is None
        assert registry.tags(dest.split("/", 1)[1] + "/ee-compat") == []
    finally:
        for line in podman(["images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split():
            if line.startswith(dest + "/"):
                podman(["rmi", "--ignore", line], check=False)
