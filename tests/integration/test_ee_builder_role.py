# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ee_builder role through playbooks/build_ees.yml on the host (not nested), with the harness base
image, the auth registry and the stand-in AWX, given infra.ee_utilities variable names.

Image builds in this file (CI time): one build of the test EE on the harness base (its base stage,
with ansible-core, is shared with test_ee_build.py's EE through the layer cache), and cached rebuilds
of the same definition (the failing-verify EE differs only in its last step; the molecule scenario
builds the same definition under another name). The tests run in file order and share the
module-scoped first run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.harness.podman_env import podman
from tests.integration.awx_tasks import REPO_ROOT, run_playbook, tasks_named

PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "build_ees.yml")
PREFIX = "eef-role"
# ee_base_image points at an image that does not exist: an item that sets its own base must not use it.
NOT_THIS_BASE = "localhost/eef-role-no-such-base:1"
HUB_TOKEN = "PLANTED-hub-token-eef-role-5d2e8b"
REGISTRY_PASSWORD_NAME = "eef-role registry"
DEPENDENCIES = {
    "ansible_core": {"package_pip": "ansible-core==2.19.14"},
    "ansible_runner": {"package_pip": "ansible-runner==2.4.3"},
    "python": ["six==1.16.0"],
}

pytestmark = pytest.mark.slow


def stats(doc):
    return doc["stats"]["localhost"]


def facts(doc):
    """ee_builder_results as shown by the playbook's last task."""
    return tasks_named(doc, "Show what was built")[0]["ee_builder_results"]


@pytest.fixture(scope="module")
def workdir():
    path = tempfile.mkdtemp(prefix="eeforge-eef-role-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def role(base_image, auth_registry, awx_standin_server, workdir):
    """Variables of the role (infra.ee_utilities names) and a runner; removes the images it made."""
    standin = awx_standin_server
    standin.reset()
    user_dir = os.path.join(workdir, "my-builder-dir")
    os.makedirs(user_dir)
    with open(os.path.join(user_dir, "keep.txt"), "w", encoding="utf-8") as handle:
        handle.write("the user's own file\n")
    dest = "%s/%s" % (auth_registry.location, PREFIX)

    def variables(**extra):
        values = {
            "ee_base_image": NOT_THIS_BASE,
            "ee_registry_dest": dest,
            "ee_registry_username": auth_registry.username,
            "ee_registry_password": auth_registry.password,
            "ee_validate_certs": False,
            "ee_ah_host": "hub.example.invalid",
            "ee_ah_token": HUB_TOKEN,
            "ee_builder_dir": user_dir,
            "ee_builder_dir_clean": False,
            "ee_builder_storage_conf": os.path.join(workdir, "storage.conf"),
            "ee_reg_credential": REGISTRY_PASSWORD_NAME,
            "ee_builder_awx_register": True,
            "ee_builder_awx_organization": "Default",
            "ee_builder_controller_host": standin.url,
            "ee_builder_controller_oauthtoken": standin.token,
            "ee_builder_controller_validate_certs": False,
            "ee_list": [{
                "name": "ee-small",
                "tags": ["1", "latest"],
                "images": {"base_image": {"name": base_image}},
                "dependencies": DEPENDENCIES,
            }],
        }
        values.update(extra)
        return values

    state = {"base_image": base_image, "dest": dest, "user_dir": user_dir, "standin": standin, "registry": auth_registry,
             "variables": variables, "ref": dest + "/ee-small:1", "workdir": workdir}
    yield state
    for line in podman(["images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split():
        if line.startswith(dest + "/"):
            podman(["rmi", "--ignore", line], check=False)
    standin.reset()


@pytest.fixture(scope="module")
def first_run(role):
    doc, rc, output = run_playbook(PLAYBOOK, role["variables"](), timeout=1800)
    assert rc == 0, output
    return doc, output


def test_first_run_builds_verifies_pushes_and_registers(role, first_run):
    doc, output = first_run
    registry, standin = role["registry"], role["standin"]
    [result] = facts(doc)
    assert result["name"] == "ee-small" and result["changed"] is True and result["built"] is True
    assert result["verified"] is True
    assert result["tags"] == [role["dest"] + "/ee-small:1", role["dest"] + "/ee-small:latest"]
    assert result["storage_driver"] == "overlay"
    # Verified before the push: ee_info ran on the built image and found the requested package.
    names = [task["task"]["name"].split(" : ")[-1] for task in doc["plays"][0]["tasks"]]
    assert names.index("Verify before pushing or registering %s" % role["ref"]) < \
        names.index("Push once verified %s" % role["ref"])
    [info] = tasks_named(doc, "Verify ")
    assert info["invocation"]["module_args"]["assert_python"] == ["six==1.16.0"]
    assert info["python_packages"]["six"] == "1.16.0" and info["assertions"] == {}
    assert "Traceback" not in output
    # Pushed: both tags in the registry, the digest the role reports.
    assert sorted(registry.tags(PREFIX + "/ee-small")) == ["1", "latest"]
    assert result["digest"] == registry.manifest_digest(PREFIX + "/ee-small", "1")
    # Registered in AWX, pulling with the registry credential the role created.
    credential = standin.find("credentials", name=REGISTRY_PASSWORD_NAME)
    assert credential["inputs"]["host"] == registry.location and credential["inputs"]["username"] == registry.username
    assert standin.store.objects["credentials"][credential["id"]]["inputs"]["password"] == registry.password
    ee = standin.find("execution_environments", name="ee-small")
    assert (ee["image"], ee["credential"], ee["pull"]) == (role["ref"], credential["id"], "missing")
    assert result["awx_id"] == ee["id"]
    assert registry.password not in output and HUB_TOKEN not in output


def test_per_item_base_image_is_honoured(role, first_run):
    # The item's images.base_image wins over ee_base_image (which names no image: using it fails the build).
    assert podman(["image", "exists", NOT_THIS_BASE], check=False).returncode == 1
    base_layers = podman(["image", "inspect", "--format", "{{json .RootFS.Layers}}", role["base_image"]]).stdout
    ee_layers = podman(["image", "inspect", "--format", "{{json .RootFS.Layers}}", role["ref"]]).stdout
    base_layers, ee_layers = json.loads(base_layers), json.loads(ee_layers)
    assert ee_layers[:len(base_layers)] == base_layers and len(ee_layers) > len(base_layers)


def test_hub_token_is_in_no_layer(role, first_run):
    # ee_ah_host / ee_ah_token (3.x names) reached the build as ee_build's galaxy server and secret token.
    [build] = tasks_named(first_run[0], "Build " + role["ref"])
    args = build["invocation"]["module_args"]
    assert args["galaxy_server_url"] == "https://hub.example.invalid/api/galaxy/content/published/"
    assert args["galaxy_token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    history = podman(["history", "--no-trunc", "--format", "{{.CreatedBy}} {{.Comment}}", role["ref"]]).stdout
    assert "ansible-core" in history  # the history is the real one
    assert HUB_TOKEN not in history
    inspect = podman(["image", "inspect", role["ref"]]).stdout
    assert HUB_TOKEN not in inspect
    archive = os.path.join(role["workdir"], "image.tar")
    podman(["save", "--format", "docker-archive", "-o", archive, role["ref"]])
    try:
        found = subprocess.run(["grep", "-c", "-a", HUB_TOKEN, archive], capture_output=True, text=True, check=False)
        assert os.path.getsize(archive) > 50 * 1024 * 1024  # the whole image, layers uncompressed
        assert found.stdout.strip() == "0", "hub token found in the saved image"
    finally:
        os.unlink(archive)
    # Nor in the build context kept in the user's directory.
    found = subprocess.run(["grep", "-r", "-l", HUB_TOKEN, role["user_dir"]], capture_output=True, text=True,
                           check=False)
    assert found.stdout == ""


def test_user_builder_dir_is_kept(role, first_run):
    user_dir = role["user_dir"]
    assert sorted(os.listdir(user_dir)) == ["ee-small", "keep.txt"]
    assert os.path.exists(os.path.join(user_dir, "ee-small", "Containerfile"))


def test_rerun_changes_nothing(role, first_run):
    standin, registry = role["standin"], role["registry"]
    image_id = podman(["image", "inspect", "--format", "{{.Id}}", role["ref"]]).stdout.strip()
    digest = registry.manifest_digest(PREFIX + "/ee-small", "1")
    standin.clear_requests()
    doc, rc, output = run_playbook(PLAYBOOK, role["variables"](), timeout=900)
    assert rc == 0, output
    assert stats(doc)["changed"] == 0, output
    [result] = facts(doc)
    assert (result["changed"], result["built"], result["pushed"]) == (False, False, [])
    # The registry was up to date: no build, no verify, no push task ran.
    assert [task.get("skipped") for task in tasks_named(doc, "Build " + role["ref"])] == [True]
    assert [task.get("skipped") for task in tasks_named(doc, "Verify before")] == [True]
    assert [task.get("skipped") for task in tasks_named(doc, "Push once verified")] == [True]
    assert podman(["image", "inspect", "--format", "{{.Id}}", role["ref"]]).stdout.strip() == image_id
    assert registry.manifest_digest(PREFIX + "/ee-small", "1") == digest
    assert standin.writes() == []


def test_dir_clean_never_deletes_the_user_dir(role, first_run):
    user_dir = role["user_dir"]
    doc, rc, output = run_playbook(PLAYBOOK, role["variables"](ee_builder_dir_clean=True), timeout=900)
    assert rc == 0, output
    assert stats(doc)["changed"] == 0, output
    assert sorted(os.listdir(user_dir)) == ["ee-small", "keep.txt"]
    with open(os.path.join(user_dir, "keep.txt"), encoding="utf-8") as handle:
        assert handle.read() == "the user's own file\n"


def test_without_verify_one_call_builds_and_pushes(role, first_run):
    doc, rc, output = run_playbook(PLAYBOOK, role["variables"](ee_verify=False), timeout=900)
    assert rc == 0, output
    assert stats(doc)["changed"] == 0, output
    assert tasks_named(doc, "Check whether the registry copy")[0].get("skipped") is True
    assert tasks_named(doc, "Verify before")[0].get("skipped") is True
    [build] = tasks_named(doc, "Build " + role["ref"])
    assert build["invocation"]["module_args"]["push"] is True and build["up_to_date"] is True
    assert build["digest"] == role["registry"].manifest_digest(PREFIX + "/ee-small", "1")


@pytest.mark.parametrize("name, value", [("ee_squash", "everything"), ("ee_builder_squash", "everything")])
def test_invalid_squash_is_rejected(role, name, value):
    doc, rc, output = run_playbook(PLAYBOOK, role["variables"](**{name: value}), timeout=300)
    assert rc != 0
    [failed] = tasks_named(doc, "Validating arguments against arg spec")
    assert failed["failed"] is True
    assert name in failed["msg"] and "everything" in failed["msg"] and "off, new, all" in failed["msg"], failed["msg"]
    assert not tasks_named(doc, "Build " + role["ref"])


def test_unsupported_variable_is_rejected(role):
    doc, rc, output = run_playbook(PLAYBOOK, role["variables"](ee_executable="/usr/local/bin/podman"), timeout=300)
    assert rc != 0, output
    [failed] = tasks_named(doc, "Refuse infra.ee_utilities variables")
    assert "ee_executable is not supported" in failed["msg"], failed
    assert not tasks_named(doc, "Build " + role["ref"])


def test_failed_verify_pushes_and_registers_nothing(role, first_run):
    standin, registry = role["standin"], role["registry"]
    bad = {"name": "ee-bad", "tag": "1", "images": {"base_image": {"name": role["base_image"]}},
           "dependencies": DEPENDENCIES,
           # The definition asks for six, and a last step removes it: the image is broken.
           "additional_build_steps": {"append_final": [
               "RUN /usr/bin/python3 -m pip uninstall -y --break-system-packages six"]}}
    for attempt in (1, 2):
        standin.clear_requests()
        doc, rc, output = run_playbook(PLAYBOOK, role["variables"](ee_list=[bad]), timeout=1800)
        assert rc != 0, output
        [verify] = tasks_named(doc, "Verify before")
        assert verify["failed"] is True and "six" in verify["msg"], verify
        assert verify["assertions"]["python"]["missing"] == ["six==1.16.0"], verify
        [build] = tasks_named(doc, "Build " + role["dest"] + "/ee-bad:1")
        assert build["changed"] is (attempt == 1) and build["pushed"] == []
        assert build["invocation"]["module_args"]["push"] is False
        # Nothing reached the registry or AWX (only the registry credential is checked, unchanged).
        assert PREFIX + "/ee-bad" not in registry.catalog()
        assert standin.find("execution_environments", name="ee-bad") is None
        assert standin.writes() == []
        assert not tasks_named(doc, "Push once verified") and not tasks_named(doc, "Register in AWX")
    podman(["rmi", "--ignore", role["dest"] + "/ee-bad:1"], check=False)


def test_molecule_converge_and_idempotence(role, first_run):
    """extensions/molecule/ee_builder: converge, then a second converge that changes and builds nothing."""
    env = dict(os.environ,
               EEF_ROLE_BASE_IMAGE=role["base_image"],
               EEF_ROLE_REGISTRY=role["registry"].location,
               EEF_ROLE_REGISTRY_USERNAME=role["registry"].username,
               EEF_ROLE_REGISTRY_PASSWORD=role["registry"].password,
               EEF_ROLE_WORKDIR=role["workdir"],
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, NO_COLOR="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(["molecule", "test", "-s", "ee_builder"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=1800, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert re.search(r"idempotence\W+Executed: Successful", output), output[-6000:]
    # Playbook output (molecule may wrap it in boxes): compare on the text alone.
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m|[\u2500-\u257f]", " ", proc.stdout).split())
    build = r"ee_builder : Build %s/eef-role/ee-molecule:1\]? ?\**\s*(\w+):" % re.escape(role["registry"].location)
    # converge built it; the second converge (idempotence) found the registry copy up to date: no build task ran.
    assert re.findall(build, text) == ["changed", "skipping"], text[-6000:]
    recaps = re.findall(r"localhost : ok=\d+ changed=(\d+) unreachable=0 failed=(\d+)", text)
    assert len(recaps) == 4 and recaps[1] == ("0", "0"), recaps  # converge, idempotence, verify, cleanup
    assert sorted(role["registry"].tags(PREFIX + "/ee-molecule")) == ["1"]
    # The scenario's cleanup removed its local image.
    assert podman(["image", "exists", role["dest"] + "/ee-molecule:1"], check=False).returncode == 1
