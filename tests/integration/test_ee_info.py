# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_info against real images: a small EE built here from the harness base image, the bare base
image, and the harness registries (open and htpasswd)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

from tests.harness.podman_env import podman
from tests.integration.secret_grep import files_containing, leftovers, scratch_env

PREFIX = "localhost/eeforge-t8-"
EE_IMAGE = PREFIX + "ee:test"

# What the test EE's "definition" asks for; the EE is built from it and ee_info must report it.
DEFINITION = {
    "python": {"ansible-core": "2.19.14", "ansible-runner": "2.4.3", "jmespath": "1.0.1"},
    "collections": ["containers.podman"],
    "runner_dir_mode": "0775",
    "user": "1001:1001",
}
DEFINITION_DIGEST = "sha256:" + hashlib.sha256(json.dumps(DEFINITION, sort_keys=True).encode()).hexdigest()

CONTAINERFILE = """\
FROM {base}
RUN python3 -m pip install --no-cache-dir --disable-pip-version-check {pip}
COPY {tarball} /tmp/{tarball}
RUN ansible-galaxy collection install --no-deps -p /usr/share/ansible/collections /tmp/{tarball} \\
 && rm /tmp/{tarball} && mkdir -m {mode} /runner
LABEL io.eeforge.definition-digest={digest}
USER {user}
"""


def run_ee_info(args, check=False, verbosity=0, env=None):
    """Run eeforge.builder.ee_info through the ansible CLI; return (result dict, full output text)."""
    extra = env or {}
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_NOCOLOR="1")
    env.update(extra)
    argv = ["ansible", "localhost", "-c", "local", "-i", "localhost,",
            "-e", "ansible_python_interpreter=%s" % sys.executable,
            "-m", "eeforge.builder.ee_info", "-a", json.dumps(args)]
    if check:
        argv.append("--check")
    if verbosity:
        argv.append("-" + "v" * verbosity)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    start = proc.stdout.find("{")
    assert start >= 0, output
    doc = json.loads(proc.stdout[start:])
    result = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return result, output


def tarball_version(path):
    return re.match(r"^[a-z0-9_]+-[a-z0-9_]+-(.+)\.tar\.gz$", os.path.basename(path)).group(1)


@pytest.fixture(scope="module")
def test_ee(base_image, collection_tarballs, tmp_path_factory):
    """A small EE: ansible-core, ansible-runner, jmespath and containers.podman on the harness base image."""
    tarball = collection_tarballs["containers.podman"]
    context = tmp_path_factory.mktemp("t8-context")
    name = os.path.basename(tarball)
    with open(tarball, "rb") as src, open(context / name, "wb") as dst:
        dst.write(src.read())
    pip = " ".join("%s==%s" % item for item in sorted(DEFINITION["python"].items()))
    (context / "Containerfile").write_text(CONTAINERFILE.format(
        base=base_image, pip=pip, tarball=name, mode=DEFINITION["runner_dir_mode"], digest=DEFINITION_DIGEST,
        user=DEFINITION["user"]))
    podman(["build", "--layers=false", "-t", EE_IMAGE, "-f", str(context / "Containerfile"), str(context)])
    try:
        yield {"image": EE_IMAGE, "podman_version": tarball_version(tarball)}
    finally:
        podman(["rmi", "-f", EE_IMAGE], check=False)


def podman_inspect(image, fmt):
    return podman(["image", "inspect", "--format", fmt, image]).stdout.strip()


def test_reports_what_the_definition_asked_for(test_ee):
    result, output = run_ee_info({"image": test_ee["image"], "pull": "never"})
    assert not result.get("failed"), output
    assert result["changed"] is False
    assert result["pulled"] is False
    # collections: exactly what was installed (ansible-core's own are not listed by ansible-galaxy)
    assert result["collections"] == {"containers.podman": test_ee["podman_version"]}
    assert result["collection_paths"]["containers.podman"] == "/usr/share/ansible/collections/ansible_collections"
    # python packages: every pinned one, at the pinned version
    for name, version in DEFINITION["python"].items():
        assert result["python_packages"].get(name) == version, name
    assert result["ansible_core_version"] == DEFINITION["python"]["ansible-core"]
    assert result["ansible_runner_version"] == DEFINITION["python"]["ansible-runner"]
    assert result["python_path"] == "/usr/bin/python3"
    assert result["python_version"].startswith("3.11.")
    # image facts, compared with podman's own view
    assert result["labels"]["io.eeforge.definition-digest"] == DEFINITION_DIGEST
    assert result["definition_digest"] == DEFINITION_DIGEST
    assert result["image_id"] == podman_inspect(test_ee["image"], "{{.Id}}")
    assert result["size"] == int(podman_inspect(test_ee["image"], "{{.Size}}"))
    assert result["layers"] == int(podman_inspect(test_ee["image"], "{{len .RootFS.Layers}}")) >= 2
    assert result["created"].startswith(podman_inspect(test_ee["image"], "{{.Created}}")[:10])
    assert re.match(r"^sha256:[0-9a-f]{64}$", result["digest"])
    assert EE_IMAGE in result["tags"]
    # the user and /runner: 0775 root:root, so root and uid 1000 (group 0) may write, 1001:1001 may not
    assert result["user"] == {"image_user": "1001:1001", "uid": 1001, "gid": 1001, "name": None, "home": None}
    assert result["runner_dir"] == {"path": "/runner", "exists": True, "uid": 0, "gid": 0, "mode": "0775"}
    assert result["runner_writable"] == {"root": True, "uid_1000": True, "image_user": False}
    assert result["assertions"] == {}
    assert not result.get("warnings"), result.get("warnings")


def test_assertions_that_hold_pass(test_ee):
    result, output = run_ee_info({
        "image": test_ee["image"], "pull": "never",
        "assert_collections": ["containers.podman", "containers.podman>=1.10", "containers.podman:%s" % test_ee["podman_version"]],
        "assert_python": ["ansible_core~=2.19.0", "ansible-runner>=2.4,<3", "JMESPath==1.0.*"],
    }, check=True)
    assert not result.get("failed"), output
    assert result["assertions"] == {}


def test_fails_clearly_on_missing_or_wrong_collections_and_packages(test_ee):
    result, output = run_ee_info({
        "image": test_ee["image"], "pull": "never",
        "assert_collections": ["containers.podman>=99", "awx.awx", "community.general"],
        "assert_python": ["boto3", "jmespath<1"],
    })
    assert result.get("failed"), output
    msg = result["msg"]
    assert "\n" not in msg
    assert msg.startswith("Failed to verify execution environment '%s': " % test_ee["image"])
    assert "missing collections: awx.awx, community.general" in msg
    assert "wrong collection version: containers.podman is %s, wanted containers.podman>=99" % test_ee["podman_version"] in msg
    assert "missing python package: boto3" in msg
    assert "wrong python package version: jmespath is 1.0.1, wanted jmespath<1" in msg
    assert result["assertions"] == {
        "collections": {
            "missing": ["awx.awx", "community.general"],
            "wrong_version": [{"name": "containers.podman", "found": test_ee["podman_version"],
                               "wanted": "containers.podman>=99"}],
        },
        "python": {"missing": ["boto3"],
                   "wrong_version": [{"name": "jmespath", "found": "1.0.1", "wanted": "jmespath<1"}]},
    }
    # the facts still come back, so the failure can be debugged from the result
    assert result["collections"] == {"containers.podman": test_ee["podman_version"]}


def test_invalid_requirement_is_rejected_before_anything_runs():
    result, output = run_ee_info({"image": PREFIX + "does-not-exist:1", "assert_python": ["boto3 >> 1"]})
    assert result.get("failed"), output
    assert "assert_python entry 'boto3 >> 1' is invalid" in result["msg"]
    assert "\n" not in result["msg"]


def test_an_image_that_is_not_an_ee(base_image):
    result, output = run_ee_info({"image": base_image, "pull": "never", "assert_collections": ["containers.podman"]})
    assert result.get("failed"), output
    assert result["msg"].endswith("missing collection: containers.podman. Add them to the definition's "
                                  "dependencies and rebuild.")
    assert result["collections"] == {} and result["ansible_core_version"] is None
    assert result["ansible_runner_version"] is None
    assert result["runner_writable"] == {"root": False, "uid_1000": False, "image_user": False}
    assert result["runner_dir"] == {"path": "/runner", "exists": False}
    assert result["python_packages"].get("pip")
    assert any("not an Execution Environment" in w for w in result["warnings"])


def test_pull_never_fails_when_the_image_is_not_local():
    image = PREFIX + "absent:never"
    result, output = run_ee_info({"image": image, "pull": "never"})
    assert result.get("failed"), output
    assert result["msg"] == ("Failed to inspect execution environment '%s': the image is not in local storage and pull "
                             "is 'never'. Pull it first or use pull: missing." % image)


def test_missing_tag_cannot_be_pulled(registry):
    image = "%s/eeforge-t8/ee:missing-tag" % registry.location
    result, output = run_ee_info({"image": image, "pull": "missing", "tls_verify": False})
    assert result.get("failed"), output
    assert result["msg"].startswith("Failed to pull image '%s': " % image)
    assert "manifest unknown" in result["msg"] or "not found" in result["msg"]
    assert result["msg"].endswith("Check the repository and tag.")
    assert "\n" not in result["msg"]
    assert podman(["image", "exists", image], check=False).returncode != 0


def _push_with_login(image, dest, reg, tmp_path):
    authfile = str(tmp_path / "auth.json")
    podman(["login", "--authfile", authfile, "--username", reg.username, "--password-stdin", reg.location],
           input_data=reg.password)
    try:
        podman(["push", "--authfile", authfile, image, dest])
    finally:
        os.remove(authfile)


def test_pull_from_registry_with_credentials(test_ee, auth_registry, tmp_path):
    repo, tag = "eeforge-t8/ee", "pull"
    dest = "%s/%s:%s" % (auth_registry.location, repo, tag)
    _push_with_login(test_ee["image"], dest, auth_registry, tmp_path)
    registry_digest = auth_registry.manifest_digest(repo, tag)
    try:
        args = {"image": dest, "pull": "always", "tls_verify": False,
                "registry_username": auth_registry.username, "registry_password": auth_registry.password,
                "assert_collections": ["containers.podman"]}
        scratch = tmp_path / "scratch"
        result, output = run_ee_info(args, verbosity=3, env=scratch_env(scratch))
        assert not result.get("failed"), output
        assert result["pulled"] is True
        assert result["digest"] == registry_digest
        assert result["collections"] == {"containers.podman": test_ee["podman_version"]}
        assert auth_registry.password not in output
        assert auth_registry.password not in json.dumps(result)
        # the private auth.json and ansible's AnsiballZ dirs are gone; no temp file holds the password
        assert leftovers(scratch / "tmp") == [] and leftovers(scratch / "ansible-remote") == []
        assert files_containing(auth_registry.password, scratch, username=auth_registry.username)[0] == []
        # missing: the tag is local now, nothing is pulled; podman holds two digests for it (the local
        # build's and the registry's) and the registry (asked with the credentials) tells which is its own
        args["pull"] = "missing"
        result, output = run_ee_info(args)
        assert not result.get("failed"), output
        assert result["pulled"] is False and result["digest"] == registry_digest
        assert len(set(d.split("@")[1] for d in result["repo_digests"] if d.startswith(dest.split(":pull")[0]))) == 2
    finally:
        podman(["rmi", dest], check=False)


def test_check_mode_pulls_nothing(test_ee, auth_registry, tmp_path):
    """issue 13: ee_info changes nothing in check mode. A tag that is only in the registry is reported as
    would_pull with unknown facts (no failure, a warning); pull: always on a local image inspects the local copy."""
    dest = "%s/eeforge-t8/ee:check" % auth_registry.location
    _push_with_login(test_ee["image"], dest, auth_registry, tmp_path)
    podman(["rmi", dest], check=False)
    args = {"image": dest, "pull": "missing", "tls_verify": False, "registry_username": auth_registry.username,
            "registry_password": auth_registry.password, "assert_collections": ["containers.podman"]}
    result, output = run_ee_info(args, check=True)
    assert not result.get("failed") and result["changed"] is False, output
    assert (result["pulled"], result["would_pull"], result["image_id"]) == (False, True, None)
    assert result["collections"] == {} and result["assertions"] == {}
    assert any("was not pulled (pull: missing)" in w and "assertions were not checked" in w
               for w in result.get("warnings", [])), result
    assert podman(["image", "exists", dest], check=False).returncode != 0
    result, output = run_ee_info({"image": test_ee["image"], "pull": "always"}, check=True)
    assert not result.get("failed"), output
    assert (result["pulled"], result["would_pull"]) == (False, True)
    assert result["collections"] == {"containers.podman": test_ee["podman_version"]}
    assert any("facts of the local copy" in w for w in result.get("warnings", [])), result
    # the real run pulls
    result, output = run_ee_info(args)
    try:
        assert result["pulled"] is True and result["would_pull"] is False, output
    finally:
        podman(["rmi", dest], check=False)


def test_wrong_password_cannot_pull(auth_registry, tmp_path):
    image = "%s/eeforge-t8/ee:pull" % auth_registry.location
    wrong = "wrong-" + auth_registry.password[::-1]
    scratch = tmp_path / "scratch"
    result, output = run_ee_info({"image": image, "pull": "always", "tls_verify": False,
                                  "registry_username": auth_registry.username, "registry_password": wrong},
                                 verbosity=3, env=scratch_env(scratch))
    assert result.get("failed"), output
    assert result["msg"].startswith("Failed to pull image '%s': " % image)
    assert "unauthorized" in result["msg"].lower()
    assert "Check the registry username/password or auth_file" in result["msg"]
    assert wrong not in output and wrong not in json.dumps(result)
    assert leftovers(scratch / "tmp") == [] and leftovers(scratch / "ansible-remote") == []
    assert files_containing(wrong, scratch, username=auth_registry.username)[0] == []
    assert podman(["image", "exists", image], check=False).returncode != 0
