# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_build against real podman, the harness base image (Debian) and the harness registries.

Image builds in this file (CI time): one cold build of the test EE, partial/cached rebuilds when
an input changes, one cold build with build secrets, and two failing partial builds. The
tests run in file order and share the module-scoped project and image.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

from tests.harness.podman_env import podman
from tests.integration.secret_grep import files_containing, leftovers, scratch_env

PREFIX = "localhost/eeforge-t4-"
EE = PREFIX + "ee:1"
VENV_BIN = os.path.dirname(sys.executable)
PLANTED_TOKEN = "PLANTED-galaxy-token-t4-7f3c9a"

DEFINITION = """\
version: 3
images:
  base_image:
    name: {base}
dependencies:
  ansible_core:
    package_pip: ansible-core==2.19.14
  ansible_runner:
    package_pip: ansible-runner==2.4.3
  python: requirements.txt
  system: bindep.txt
  galaxy:
    collections:
      - name: {tarball}
        type: file
additional_build_files:
  - src: files/motd
    dest: configs
additional_build_steps:
  append_final:
    - COPY _build/configs/motd /etc/motd
"""


def run_ee_build(args, check=False, diff=False, verbosity=0, env=None, module="eeforge.builder.ee_build"):
    """Run eeforge.builder.ee_build (or ``module``) through the ansible CLI; return (result dict, full output text)."""
    full_env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                    ANSIBLE_NOCOLOR="1")
    full_env["PATH"] = VENV_BIN + os.pathsep + full_env.get("PATH", "")
    full_env.update(env or {})
    argv = [os.path.join(VENV_BIN, "ansible"), "localhost", "-c", "local", "-i", "localhost,",
            "-e", "ansible_python_interpreter=%s" % sys.executable,
            "-m", module, "-a", json.dumps(args)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if verbosity:
        argv.append("-" + "v" * verbosity)
    proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=1800, check=False)
    output = proc.stdout + proc.stderr
    start = proc.stdout.find("\n{")
    start = 0 if proc.stdout.startswith("{") else start + 1
    assert start >= 0 and proc.stdout[start:].startswith("{"), output
    doc = json.loads(proc.stdout[start:])
    result = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return result, output


def image_ids(digest=None):
    """Ids and names of the images this file creates (prefix ``eeforge-t4``) and, with ``digest``,
    every image labelled with that definition digest. Other users of the shared podman storage
    may create and remove their own images meanwhile, so the whole list is not compared."""
    out = _podman_list(["images", "-a", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"])
    found = [line for line in out.splitlines() if "eeforge-t4" in line]
    if digest:
        out = _podman_list(["images", "-a", "--filter", "label=io.eeforge.definition-digest=%s" % digest,
                            "--format", "{{.ID}}"])
        found += ["label:" + line for line in out.splitlines() if line.strip()]
    return sorted(found)


def _podman_list(args, attempts=5):
    """``podman images`` output. Podman 4.3 fails a listing ("image not known") when another user of
    the shared storage removes an image while it runs; that says nothing about this test: try again."""
    for attempt in range(attempts):
        proc = podman(args, check=False)
        if proc.returncode == 0:
            return proc.stdout
        time.sleep(1 + attempt)
    raise AssertionError("podman %s failed %d times: %s" % (" ".join(args), attempts, proc.stderr))


def tmp_leftovers(tmpdir):
    """``leftovers`` of a run's TMPDIR, but for the per-user directory of the tag locks
    (``eeforge-locks-<uid>``), which stays; the lock files in it must be gone."""
    return [path for path in leftovers(tmpdir)
            if not (path.startswith("eeforge-locks-") and "/" not in path and not os.listdir(os.path.join(str(tmpdir), path)))]


def run_in(image, *cmd):
    return podman(["run", "--rm", image] + list(cmd)).stdout


def one_line_failure(result, fragment):
    assert result.get("failed"), result
    msg = result["msg"]
    assert "\n" not in msg, msg
    assert fragment in msg, msg
    assert "Traceback" not in json.dumps(result), result
    return msg


class Project:
    """A definition directory with a requirements file, a bindep file, a referenced file and a tarball."""

    def __init__(self, root, base_image, tarball, logs):
        self.root = root
        self.logs = logs
        self.base_image = base_image
        self.tarball = os.path.basename(tarball)
        shutil.copy(tarball, os.path.join(root, self.tarball))
        os.makedirs(os.path.join(root, "files"))
        self.write("requirements.txt", "six==1.16.0\n")
        self.write("bindep.txt", "jq [platform:dpkg]\n")
        self.write("files/motd", "eeforge t4 motd v1\n")
        self.write("execution-environment.yml", DEFINITION.format(base=base_image, tarball=self.tarball))

    def path(self, name):
        return os.path.join(self.root, name)

    def write(self, name, text):
        with open(self.path(name), "w", encoding="utf-8") as handle:
            handle.write(text)

    def read(self, name):
        with open(self.path(name), encoding="utf-8") as handle:
            return handle.read()

    def args(self, **extra):
        args = {"definition_file": self.path("execution-environment.yml"), "tags": [EE], "build_log_dir": self.logs}
        args.update(extra)
        return {key: value for key, value in args.items() if value is not None}


@pytest.fixture(scope="module")
def project(base_image, collection_tarballs, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("t4-project"))
    logs = str(tmp_path_factory.mktemp("t4-logs"))
    yield Project(root, base_image, collection_tarballs["containers.podman"], logs)
    out = _podman_list(["images", "--format", "{{.Repository}}:{{.Tag}}"]).split()
    mine = [ref for ref in out if ref.startswith(PREFIX) or "/eeforge-t4/" in ref]
    if mine:
        podman(["rmi", "-f"] + mine, check=False)


@pytest.fixture(scope="module")
def built(project):
    """The test EE, built once by ee_build (cold build)."""
    result, output = run_ee_build(project.args())
    assert result.get("changed") is True, output
    return result


# ----------------------------------------------------------------------------------------------
# build, no-op, rebuild on change
# ----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_build_runs_ansible_and_reports_debian_adaptation(built, project):
    assert built["built"] is True and built["builder_invoked"] is True
    assert built["tags"] == [EE]
    assert built["definition_digest"].startswith("sha256:")
    assert built["ansible_builder_version"] == "3.2.0"
    assert built["actions"] == ["build"]
    # The base is Debian: the apt adapter and skip_pip_install were supplied, and said so.
    assert any("package_manager_path" in line and "apt-get" in line for line in built["adaptations"])
    assert any("skip_pip_install" in line and "ensurepip" in line for line in built["adaptations"])
    assert "ARG PKGMGR=\"/output/eeforge/apt-dnf-adapter\"" in built["containerfile"]
    assert "pip_install" not in built["containerfile"]
    # The log was streamed to a file and holds the whole build.
    assert built["build_log"].startswith(project.logs) and os.path.isfile(built["build_log"])
    with open(built["build_log"], encoding="utf-8") as handle:
        log = handle.read()
    assert "COMMIT" in log and "ansible-galaxy collection install" in log
    assert "galaxy.ansible.com" not in log  # nothing reached out to Galaxy
    # The image runs ansible, has the collection from the tarball, the apt-installed jq, six and the file.
    assert run_in(EE, "ansible", "--version").startswith("ansible [core 2.19.14]")
    assert "containers.podman" in run_in(EE, "ansible-galaxy", "collection", "list")
    assert run_in(EE, "jq", "--version").startswith("jq-")
    assert run_in(EE, "python3", "-c", "import six; print(six.__version__)").strip() == "1.16.0"
    assert run_in(EE, "cat", "/etc/motd") == "eeforge t4 motd v1\n"
    labels = json.loads(podman(["image", "inspect", "--format", "{{json .Labels}}", EE]).stdout)
    assert labels["io.eeforge.definition-digest"] == built["definition_digest"]
    assert built["image_id"] == podman(["image", "inspect", "--format", "{{.Id}}", EE]).stdout.strip()


def test_ee_info_reports_what_the_definition_asked_for(built, project):
    """issue 8: ee_info on the EE ee_build just made lists what the definition installed."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_NOCOLOR="1", PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    args = {"image": EE, "pull": "never", "assert_collections": ["containers.podman"],
            "assert_python": ["six==1.16.0", "ansible-core==2.19.14", "ansible-runner==2.4.3"]}
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible"), "localhost", "-c", "local", "-i", "localhost,",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, "-m", "eeforge.builder.ee_info",
                           "-a", json.dumps(args)], capture_output=True, text=True, env=env, timeout=600, check=False)
    doc = json.loads(proc.stdout[proc.stdout.find("{"):])
    info = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert not info.get("failed") and info["assertions"] == {}, proc.stdout + proc.stderr
    tarball_version = project.tarball[len("containers-podman-"):-len(".tar.gz")]
    assert info["collections"] == {"containers.podman": tarball_version}
    assert info["python_packages"]["six"] == "1.16.0"
    assert (info["ansible_core_version"], info["ansible_runner_version"]) == ("2.19.14", "2.4.3")
    assert info["definition_digest"] == built["definition_digest"]
    assert info["labels"]["io.eeforge.definition-digest"] == built["definition_digest"]
    assert info["image_id"] == built["image_id"]
    assert info["runner_writable"]["root"] is True


def test_second_run_is_a_no_op_without_ansible_builder(built, project, tmp_path):
    # Proof from outside the module: an ansible-builder earlier in PATH records every call.
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    marker = tmp_path / "ansible-builder-calls"
    shim = shim_dir / "ansible-builder"
    shim.write_text('#!/bin/sh\necho "$@" >> %s\nexec %s "$@"\n' % (marker, os.path.join(VENV_BIN, "ansible-builder")))
    shim.chmod(0o755)
    before = image_ids()
    result, output = run_ee_build(project.args(), env={"PATH": "%s:%s:%s" % (shim_dir, VENV_BIN, os.environ["PATH"])})
    assert result["changed"] is False, output
    assert result["built"] is False and result["builder_invoked"] is False and result["up_to_date"] is True
    assert result["actions"] == [] and result["build_log"] is None and result["containerfile"] is None
    assert result["definition_digest"] == built["definition_digest"]
    assert result["image_id"] == built["image_id"]
    assert not marker.exists(), marker.read_text()
    assert image_ids() == before
    # The shim works: a run that must render calls it.
    result, output = run_ee_build(project.args(force=True), check=True,
                                  env={"PATH": "%s:%s:%s" % (shim_dir, VENV_BIN, os.environ["PATH"])})
    assert result["changed"] is True and result["builder_invoked"] is True, output
    assert marker.read_text().startswith("create ")


def test_check_mode_with_changed_input_builds_nothing(built, project, registry, tmp_path):
    project.write("requirements.txt", "six==1.16.0\nidna==3.7\n")
    try:
        images, catalog = image_ids(), registry.catalog()
        args = project.args(tags=[EE, "%s/eeforge-t4/ee:check" % registry.location], push=True, tls_verify=False)
        scratch = tmp_path / "scratch"
        result, output = run_ee_build(args, check=True, diff=True, env=scratch_env(scratch))
        assert result["changed"] is True, output
        assert result["built"] is False and result["pushed"] == []
        assert result["actions"][0] == "build"
        assert "push %s/eeforge-t4/ee:check" % registry.location in result["actions"]
        assert result["definition_digest"] != built["definition_digest"]
        assert "requirements.txt" in result["containerfile"]
        assert image_ids(result["definition_digest"]) == images  # no image with the new digest
        assert result["diff"]["before"]["definition_digest"] == built["definition_digest"]
        assert result["diff"]["after"]["definition_digest"] == result["definition_digest"]
        assert image_ids() == images
        assert registry.catalog() == catalog
        # the context rendered in check mode went to a private temp dir, removed afterwards (/tmp is
        # shared with other builds, so the run's TMPDIR is a directory of this test's own)
        assert tmp_leftovers(scratch / "tmp") == []
    finally:
        project.write("requirements.txt", "six==1.16.0\n")


def test_check_mode_diff_shows_the_definition_the_image_was_built_from(built, project):
    """--diff: the normalized definition to build against the one in the image's io.eeforge.definition label."""
    labels = json.loads(podman(["image", "inspect", "--format", "{{json .Labels}}", EE]).stdout)
    stored = json.loads(labels["io.eeforge.definition"])
    assert stored["dependencies"]["galaxy"] and stored["version"] == 3
    project.write("bindep.txt", "jq [platform:dpkg]\ncurl [platform:dpkg]\n")
    try:
        result, output = run_ee_build(project.args(), check=True, diff=True)
        assert result["changed"] is True and result["actions"] == ["build"], output
        before, after = result["diff"]["before"], result["diff"]["after"]
        assert before["definition"] == stored
        assert after["definition"] != stored
        assert after["definition"]["dependencies"]["system"] != stored["dependencies"]["system"]
        assert {k: v for k, v in after["definition"].items() if k != "dependencies"} == \
            {k: v for k, v in stored.items() if k != "dependencies"}
        # without --diff no diff is returned; unchanged input: before and after are the same
        result, output = run_ee_build(project.args(), check=True)
        assert "diff" not in result, output
    finally:
        project.write("bindep.txt", "jq [platform:dpkg]\n")
    result, output = run_ee_build(project.args(), check=True, diff=True)
    assert result["changed"] is False and result["diff"]["before"] == result["diff"]["after"], output


def test_check_mode_needs_neither_the_base_image_nor_the_registry(project, tmp_path):
    """issue 12: check mode of an EE whose base cannot be pulled and whose registry is down: no failure,
    the unknowns are warnings, and it counts as a change."""
    base = "127.0.0.1:1/eeforge-t4/unreachable-base:1"
    dest = "127.0.0.1:1/eeforge-t4/ee:1"
    args = {"definition": _minimal(base, dependencies=_pinned()), "project_dir": project.root,
            "tags": [dest], "push": True, "tls_verify": False, "build_log_dir": project.logs}
    images = image_ids()
    result, output = run_ee_build(args, check=True)
    assert not result.get("failed") and result["changed"] is True, output
    assert result["actions"] == ["build", "push %s" % dest]
    warnings = " ".join(result.get("warnings", []))
    assert "Base image '%s' is not in local storage and check mode does not pull it" % base in warnings
    assert "The digest of '%s' in its registry is unknown" % dest in warnings
    assert "ARG EE_BASE_IMAGE=\"%s\"" % base in result["containerfile"]
    assert image_ids() == images


def test_definition_without_base_image_uses_ansible_builders_default(project):
    """issue 12: a v3 definition without images.base_image is accepted, with a warning naming the default."""
    from ansible_builder import constants  # pylint: disable=import-outside-toplevel
    default = constants.build_arg_defaults["EE_BASE_IMAGE"]
    args = {"definition": {"version": 3, "dependencies": _pinned()}, "project_dir": project.root,
            "tags": [PREFIX + "nobase:1"], "build_log_dir": project.logs}
    result, output = run_ee_build(args, check=True)
    assert not result.get("failed") and result["changed"] is True, output
    warnings = " ".join(result.get("warnings", []))
    assert "names no images.base_image: ansible-builder builds FROM its default base image '%s'" % default in warnings
    assert "ARG EE_BASE_IMAGE=\"%s\"" % default in result["containerfile"]


def test_check_mode_with_context_dir_writes_the_context_without_building(built, project, tmp_path):
    """issue 12 / ee_utilities 4.x generate-only: check mode + context_dir (or keep_context) renders only."""
    context = tmp_path / "generated" / "ee"
    images = image_ids()
    project.write("files/motd", "eeforge t4 motd generate-only\n")
    try:
        result, output = run_ee_build(project.args(context_dir=str(context)), check=True)
        assert result["changed"] is True and result["built"] is False and result["builder_invoked"] is True, output
        assert result["context_dir"] == str(context)
        assert (context / "Containerfile").read_text() == result["containerfile"]
        assert (context / "_build" / "configs" / "motd").read_text() == "eeforge t4 motd generate-only\n"
        written = (context / "execution-environment.yml").read_text()
        assert "ansible-core==2.19.14" in written and project.base_image in written
        assert image_ids() == images
        # keep_context: a fresh directory, returned; the up-to-date image is rendered too
        project.write("files/motd", "eeforge t4 motd v1\n")
        kept, output = run_ee_build(project.args(keep_context=True), check=True)
        assert kept["changed"] is False and kept["context_dir"], output
        assert os.path.isfile(os.path.join(kept["context_dir"], "Containerfile"))
        assert os.path.isfile(os.path.join(kept["context_dir"], "execution-environment.yml"))
        shutil.rmtree(kept["context_dir"])
    finally:
        project.write("files/motd", "eeforge t4 motd v1\n")


@pytest.mark.slow
def test_values_reach_podman_literally(built, project, tmp_path):
    """issue 13: $HOME, ~ and ${PATH} in labels, build args, a referenced path and the temp dir are data."""
    literal_dir = project.path("$HOME")
    os.makedirs(literal_dir, exist_ok=True)
    project.write("$HOME/requirements.txt", "six==1.16.0\n")
    definition = DEFINITION.format(base=project.base_image, tarball=project.tarball).replace(
        "python: requirements.txt", "python: $HOME/requirements.txt") + \
        "    - ARG EEFORGE_LITERAL\n    - RUN printf '%s' \"$EEFORGE_LITERAL\" > /eeforge-literal\n"
    project.write("literal.yml", definition)
    image = PREFIX + "literal:1"
    label = "$HOME ~/x ${PATH}"
    scratch = tmp_path / "$HOME" / "scratch"  # TMPDIR: the staging dir and the context are below it
    scratch.mkdir(parents=True)
    args = project.args(definition_file=project.path("literal.yml"), tags=[image],
                        labels={"eeforge.t4.literal": label}, build_args={"EEFORGE_LITERAL": "$HOME~"})
    try:
        result, output = run_ee_build(args, env={"TMPDIR": str(scratch)})
        assert result.get("changed") is True and result["built"] is True, output
        assert os.path.join(literal_dir, "requirements.txt") in result["referenced_files"]
        labels = json.loads(podman(["image", "inspect", "--format", "{{json .Labels}}", image]).stdout)
        assert labels["eeforge.t4.literal"] == label
        assert run_in(image, "cat", "/eeforge-literal") == "$HOME~"
        assert tmp_leftovers(scratch) == []
        again, output = run_ee_build(args, env={"TMPDIR": str(scratch)})
        assert again["changed"] is False, output
    finally:
        podman(["rmi", "-f", image], check=False)


# ----------------------------------------------------------------------------------------------
# push
# ----------------------------------------------------------------------------------------------

def test_push_to_auth_registry_then_no_op(built, project, auth_registry, tmp_path):
    dest = "%s/eeforge-t4/ee:1" % auth_registry.location
    args = project.args(tags=[EE, dest], push=True, registry_username=auth_registry.username,
                        registry_password=auth_registry.password, tls_verify=False)
    scratch = tmp_path / "scratch"
    result, output = run_ee_build(args, verbosity=3, env=scratch_env(scratch))
    assert result["changed"] is True, output
    assert result["built"] is False and result["builder_invoked"] is False
    assert result["actions"] == ["tag %s" % dest, "push %s" % dest]
    served = auth_registry.manifest_digest("eeforge-t4/ee", "1")
    assert result["digest"] == served
    assert result["pushed"] == ["%s@%s" % (dest, served)]
    assert auth_registry.password not in output
    assert auth_registry.password not in json.dumps(result)
    # Every temp dir of the run (the module's private auth dir, ansible's AnsiballZ dirs, podman's
    # TMPDIR) was below ``scratch``: all of it was removed, and nothing else holds the password.
    assert tmp_leftovers(scratch / "tmp") == [] and leftovers(scratch / "ansible-remote") == []
    hits, _read = files_containing(auth_registry.password, scratch, project.root, project.logs,
                                   username=auth_registry.username)
    assert hits == []
    # Up to date locally and in the registry: nothing to do.
    again, output = run_ee_build(args)
    assert again["changed"] is False and again["pushed"] == [] and again["digest"] == served, output


def test_push_with_wrong_password_says_unauthorized(built, project, auth_registry, tmp_path):
    dest = "%s/eeforge-t4/ee:denied" % auth_registry.location
    args = project.args(tags=[EE, dest], push=True, registry_username=auth_registry.username,
                        registry_password="wrong-" + auth_registry.password, tls_verify=False)
    scratch = tmp_path / "scratch"
    result, output = run_ee_build(args, verbosity=3, env=scratch_env(scratch))
    msg = one_line_failure(result, "unauthorized")
    assert dest in msg
    assert auth_registry.password not in output and args["registry_password"] not in output
    assert args["registry_password"] not in json.dumps(result)
    assert tmp_leftovers(scratch / "tmp") == [] and leftovers(scratch / "ansible-remote") == []
    assert files_containing(args["registry_password"], scratch, project.root, project.logs)[0] == []
    assert "denied" not in auth_registry.tags("eeforge-t4/ee")


def test_push_to_unreachable_registry_is_not_unauthorized(built, project):
    dest = "127.0.0.1:1/eeforge-t4/ee:1"
    result, _output = run_ee_build(project.args(tags=[EE, dest], push=True, tls_verify=False, push_retries=0))
    msg = one_line_failure(result, "connection refused")
    assert "unauthorized" not in msg and "reachable" in msg


# ----------------------------------------------------------------------------------------------
# rebuilds: each test changes one input; the image is left as the change built it
# ----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_python_requirement_change_rebuilds(built, project):
    project.write("requirements.txt", "six==1.16.0\nidna==3.7\n")
    try:
        result, output = run_ee_build(project.args())
        assert result["changed"] is True and result["built"] is True, output
        assert result["definition_digest"] != built["definition_digest"]
        assert run_in(EE, "python3", "-c", "import idna; print(idna.__version__)").strip() == "3.7"
    finally:
        project.write("requirements.txt", "six==1.16.0\n")


@pytest.mark.slow
def test_build_arg_change_rebuilds(built, project):
    result, output = run_ee_build(project.args(build_args={"PKGMGR_PRESERVE_CACHE": "always"}))
    assert result["changed"] is True and result["built"] is True, output
    assert result["definition_digest"] != built["definition_digest"]
    history = podman(["history", "--no-trunc", "--format", "{{.CreatedBy}}", EE]).stdout
    assert "PKGMGR_PRESERVE_CACHE=always" in history
    again, output = run_ee_build(project.args(build_args={"PKGMGR_PRESERVE_CACHE": "always"}))
    assert again["changed"] is False and again["builder_invoked"] is False, output


@pytest.mark.slow
def test_referenced_file_bytes_change_rebuilds(built, project):
    project.write("files/motd", "eeforge t4 motd v2\n")
    try:
        result, output = run_ee_build(project.args())
        assert result["changed"] is True and result["built"] is True, output
        assert result["definition_digest"] != built["definition_digest"]
        assert run_in(EE, "cat", "/etc/motd") == "eeforge t4 motd v2\n"
        again, output = run_ee_build(project.args())
        assert again["changed"] is False and again["builder_invoked"] is False, output
    finally:
        project.write("files/motd", "eeforge t4 motd v1\n")


# ----------------------------------------------------------------------------------------------
# secrets: a Galaxy token and a registry password never land in layers, history, logs or files
# ----------------------------------------------------------------------------------------------

def _grep_image(image, needle, workdir):
    """Count occurrences of ``needle`` in every layer and config of ``image`` (podman save + tar)."""
    archive = os.path.join(workdir, "image.tar")
    podman(["save", "--format", "docker-archive", "-o", archive, image])
    hits = []
    members = 0
    with tarfile.open(archive) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            members += 1
            data = outer.extractfile(member).read()
            if needle.encode() in data:
                hits.append(member.name)
            if member.name.endswith(".tar"):
                with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                    for entry in layer.getmembers():
                        if entry.isfile() and needle.encode() in layer.extractfile(entry).read():
                            hits.append("%s:%s" % (member.name, entry.name))
    os.remove(archive)
    assert members > 3
    return hits


@pytest.mark.slow
def test_galaxy_token_and_password_never_left_behind(project, auth_registry, tmp_path):
    ca_dir = tmp_path / "ca"
    ca_dir.mkdir()
    ca = ca_dir / "corp-proxy.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_dir / "key.pem"),
                    "-out", str(ca), "-days", "2", "-subj", "/CN=eeforge-t4-test-ca"], check=True,
                   capture_output=True)
    context = tmp_path / "context"
    image = PREFIX + "secret:1"
    dest = "%s/eeforge-t4/secret:1" % auth_registry.location
    definition = {
        "version": 3,
        "images": {"base_image": {"name": project.base_image}},
        "dependencies": {
            "ansible_core": {"package_pip": "ansible-core==2.19.14"},
            "ansible_runner": {"package_pip": "ansible-runner==2.4.3"},
            "galaxy": {"collections": [{"name": project.tarball, "type": "file"}]},
        },
        # proves the token reached the build steps (it writes a marker, never the token)
        "additional_build_steps": {"append_galaxy": [
            'RUN test -n "$ANSIBLE_GALAXY_SERVER_EEFORGE_HUB_TOKEN" && echo seen > /usr/share/ansible/token-seen']},
    }
    args = {
        "definition": definition, "project_dir": project.root, "tags": [image, dest], "build_log_dir": project.logs,
        "galaxy_server_url": "https://hub.invalid.example/api/galaxy/", "galaxy_token": PLANTED_TOKEN,
        "pip_index_url": "https://pypi.org/simple", "ca_certificates": [str(ca)],
        "context_dir": str(context), "push": True, "registry_username": auth_registry.username,
        "registry_password": auth_registry.password, "tls_verify": False,
    }
    scratch = tmp_path / "scratch"
    result, output = run_ee_build(args, verbosity=3, env=scratch_env(scratch))
    assert result.get("changed") is True and result["built"] is True, output
    assert any("ca_certificates" in line for line in result["adaptations"])
    assert run_in(image, "cat", "/usr/share/ansible/token-seen") == "seen\n"
    # the CA is in the image's trust store
    pem_body = "".join(ca.read_text().splitlines()[1:-1])
    bundle = "".join(run_in(image, "cat", "/etc/ssl/certs/ca-certificates.crt").split())
    assert pem_body in bundle
    assert result["pushed"] and auth_registry.manifest_digest("eeforge-t4/secret", "1") == result["digest"]
    for secret in (PLANTED_TOKEN, auth_registry.password):
        assert secret not in output                                  # -vvv output
        assert secret not in json.dumps(result)                      # the result
        with open(result["build_log"], encoding="utf-8") as handle:  # the build log
            assert secret not in handle.read()
        for root, _dirs, files in os.walk(str(context)):            # the context left behind
            for name in files:
                with open(os.path.join(root, name), "rb") as handle:
                    assert secret.encode() not in handle.read(), os.path.join(root, name)
        history = podman(["history", "--no-trunc", "--format", "{{.CreatedBy}}", image]).stdout
        assert secret not in history
        assert _grep_image(image, secret, str(tmp_path)) == []
    assert "--mount=type=secret,id=eeforge_env" in result["containerfile"]
    # the private dirs (build secret file, auth.json) are gone, and no temp file of the run holds a secret
    assert tmp_leftovers(scratch / "tmp") == [] and leftovers(scratch / "ansible-remote") == []
    for secret in (PLANTED_TOKEN, auth_registry.password):
        assert files_containing(secret, scratch, str(context), project.logs, username=auth_registry.username)[0] == []


@pytest.mark.slow
def test_base_image_from_a_registry_that_needs_a_login(project, auth_registry, tmp_path):
    """base_registry_username/password: ee_build logs in to pull the base image (ee_utilities#118);
    a wrong password is an unauthorized pull; neither password is left anywhere."""
    base_dest = "%s/eeforge-t4/base:1" % auth_registry.location
    auth = tmp_path / "push-auth.json"
    token = base64.b64encode(("%s:%s" % (auth_registry.username, auth_registry.password)).encode()).decode()
    auth.write_text(json.dumps({"auths": {auth_registry.location: {"auth": token}}}))
    podman(["push", "--quiet", "--tls-verify=false", "--authfile", str(auth), project.base_image, "docker://" + base_dest])
    auth.unlink()
    image = PREFIX + "basereg:1"
    args = {"definition": _minimal(base_dest, dependencies=_pinned()), "project_dir": project.root, "tags": [image],
            "build_log_dir": project.logs, "tls_verify": False, "base_registry_username": auth_registry.username}
    try:
        wrong = "wrong-" + auth_registry.password
        scratch = tmp_path / "scratch-wrong"
        result, output = run_ee_build(dict(args, base_registry_password=wrong), verbosity=3, env=scratch_env(scratch))
        msg = one_line_failure(result, "Failed to pull base image '%s'" % base_dest)
        assert "unauthorized" in msg.lower(), msg
        assert wrong not in output and wrong not in json.dumps(result)
        assert files_containing(wrong, scratch, username=auth_registry.username)[0] == []

        scratch = tmp_path / "scratch"
        result, output = run_ee_build(dict(args, base_registry_password=auth_registry.password), verbosity=3,
                                      env=scratch_env(scratch))
        assert result.get("changed") is True and result["built"] is True, output
        assert run_in(image, "ansible", "--version").startswith("ansible [core 2.19.14]")
        assert auth_registry.password not in output and auth_registry.password not in json.dumps(result)
        with open(result["build_log"], encoding="utf-8") as handle:
            assert auth_registry.password not in handle.read()
        assert tmp_leftovers(scratch / "tmp") == [] and leftovers(scratch / "ansible-remote") == []
        assert files_containing(auth_registry.password, scratch, project.root, project.logs,
                                username=auth_registry.username)[0] == []
        history = podman(["history", "--no-trunc", "--format", "{{.CreatedBy}}", image]).stdout
        assert auth_registry.password not in history
    finally:
        podman(["rmi", "-f", image, base_dest], check=False)


# ----------------------------------------------------------------------------------------------
# bad inputs: each gives one line naming the problem
# ----------------------------------------------------------------------------------------------

def _minimal(base, **extra):
    definition = {"version": 3, "images": {"base_image": {"name": base}}}
    definition.update(extra)
    return definition


def _pinned(**deps):
    deps.update({"ansible_core": {"package_pip": "ansible-core==2.19.14"},
                 "ansible_runner": {"package_pip": "ansible-runner==2.4.3"}})
    return deps


def bad_cases(project, registry):
    """name -> (module args, extra task keys, fragment of the one-line message)."""
    base = project.base_image
    missing_base = "%s/eeforge-t4/no-such-base:1" % registry.location
    inline = {"definition_file": None, "project_dir": project.root}
    return {
        "definition_file_missing": (project.args(definition_file=project.path("nope.yml")), {},
                                    "nope.yml': the file does not exist"),
        "definition_yaml": (project.args(definition_file=project.path("broken.yml")), {}, "YAML error at line"),
        "definition_version_1": (project.args(definition={"version": 1}, **inline), {}, "version 1 is not supported"),
        "definition_unknown_key": (project.args(definition=_minimal(base, dependancies={}), **inline), {},
                                   "'dependancies' was unexpected"),
        "definition_wrong_type": (project.args(definition=_minimal(base, dependencies={"python": 5}), **inline), {},
                                  "at 'dependencies.python': 5 is not of type string or list of strings"),
        "base_image_without_tag": (project.args(definition=_minimal("localhost/eeforge-t4-base"), **inline), {},
                                   "base image 'localhost/eeforge-t4-base' has no tag"),
        "missing_requirements_file": (
            project.args(definition=_minimal(base, dependencies={"python": "missing-requirements.txt"}), **inline),
            {}, "python requirements file 'missing-requirements.txt' does not exist"),
        "additional_build_files_glob": (
            project.args(definition=_minimal(base, additional_build_files=[{"src": "files/*.none", "dest": "x"}]),
                         **inline), {}, "additional_build_files[0].src 'files/*.none' matches no file"),
        "collection_tarball_missing": (
            project.args(definition=_minimal(base, dependencies={"galaxy": {"collections": [
                {"name": "gone-1.0.0.tar.gz", "type": "file"}]}}), **inline),
            {}, "collection tarball 'gone-1.0.0.tar.gz' does not exist"),
        "tag_upper_case": (project.args(tags=["localhost/EEforge-t4:1"]), {},
                           "repository path 'EEforge-t4' must be lower case"),
        "tag_with_space": (project.args(tags=["localhost/eeforge-t4 ee:1"]), {}, "contains whitespace"),
        "tag_with_digest": (project.args(tags=["localhost/eeforge-t4-ee@sha256:" + "a" * 64]), {},
                            "a digest is not allowed here"),
        "build_arg_name": (project.args(build_args={"BAD-NAME": "1"}), {},
                           "build_args key 'BAD-NAME' is not a valid ARG name"),
        "ca_certificate_not_pem": (project.args(ca_certificates=[project.path("not-a-cert.pem")]), {},
                                   "holds no PEM certificate"),
        "label_reserved": (project.args(labels={"io.eeforge.definition-digest": "x"}), {},
                           "is set by ee_build itself"),
        "runtime_binary_missing": (project.args(),
                                   {"environment": {"PATH": VENV_BIN}},
                                   "Failed to find container runtime 'podman': it is not installed or not in PATH"),
        "runtime_docker_refused": (project.args(container_runtime="docker"), {},
                                   "value of container_runtime must be one of: podman, got: docker"),
        "context_dir_under_a_file": (project.args(context_dir=project.path("not-a-cert.pem") + "/context", force=True),
                                     {}, "Failed to use context directory '%s/context': Not a directory. A part of "
                                     "the path is a regular file" % project.path("not-a-cert.pem")),
        "definition_file_is_a_directory": (project.args(definition_file=project.path("files")), {},
                                           "files': it is a directory"),
        "podman_answers_bad_json": (project.args(), {"environment": {"PATH": "%s:%s:/usr/bin:/bin" % (
            project.path("bad-podman"), VENV_BIN)}}, "Failed to inspect image '%s': podman image inspect printed "
            "unreadable JSON" % EE),
        "extra_args_creds": (project.args(extra_build_cli_args=["--creds", "u:PLANTED-creds-t4"]), {},
                             "passes registry credentials inline (--creds)"),
        "extra_args_password": (project.args(extra_build_cli_args=["--password=PLANTED-creds-t4"]), {},
                                "passes a password inline (--password)"),
        "extra_args_secret_inline": (project.args(extra_build_cli_args=["--secret", "id=hub,src=PLANTED-creds-t4"]),
                                     {}, "passes --secret 'id=hub' whose src is not an existing file"),
        "extra_args_token_build_arg": (project.args(extra_build_cli_args=["--build-arg", "HUB_TOKEN=PLANTED-creds-t4"]),
                                       {}, "passes 'HUB_TOKEN' as a build arg"),
        "pip_index_url_is_no_log": (project.args(pip_index_url="https://u:PLANTED-creds-t4@mirror.invalid/simple",
                                                 labels={"bad key": "x"}), {}, "label key 'bad key' is not valid"),
        "base_image_cannot_be_pulled": (project.args(definition=_minimal(missing_base), **inline), {},
                                        "Failed to pull base image '%s'" % missing_base),
        "pip_step_failed": (
            project.args(definition=_minimal(base, dependencies=_pinned(python="bad-requirements.txt")),
                         tags=[PREFIX + "bad:1"], **inline), {},
            "the builder step (pip wheels and bindep) failed: ERROR: No matching distribution found for "
            "eeforge-t4-no-such-package==9.9.9"),
        "galaxy_step_failed": (
            project.args(definition=_minimal(base, dependencies=_pinned(galaxy={"collections": [
                {"name": "broken-1.0.0.tar.gz", "type": "file"}]})), tags=[PREFIX + "bad:2"], **inline), {},
            "the galaxy step (installing roles) failed: [ERROR]: Collection artifact at "
            "'/build/eeforge-collections/broken-1.0.0.tar.gz' is not a valid tar file"),
    }


@pytest.fixture(scope="module")
def bad_results(project, registry):
    """Every bad-input case as one task of one playbook run (one ansible start-up instead of 19)."""
    project.write("broken.yml", "version: 3\nimages: [\n")
    project.write("not-a-cert.pem", "hello\n")
    project.write("bad-requirements.txt", "eeforge-t4-no-such-package==9.9.9\n")
    project.write("broken-1.0.0.tar.gz", "this is not a tarball\n")
    os.makedirs(project.path("bad-podman"), exist_ok=True)
    project.write("bad-podman/podman", '#!/bin/sh\nif [ "$1 $2" = "image inspect" ]; then echo "{not json"; exit 0; fi\n'
                  'exec /usr/bin/podman "$@"\n')
    os.chmod(project.path("bad-podman/podman"), 0o755)
    cases = bad_cases(project, registry)
    tasks = []
    for name, (args, extra, _fragment) in cases.items():
        task = {"name": name, "eeforge.builder.ee_build": args, "ignore_errors": True}
        task.update(extra)
        tasks.append(task)
    playbook = os.path.join(project.root, "bad-inputs.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        json.dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}], handle)
    images = image_ids()
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_NOCOLOR="1", PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-c", "local", "-i", "localhost,",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, playbook],
                          capture_output=True, text=True, env=env, timeout=1800, check=False)
    start = 0 if proc.stdout.startswith("{") else proc.stdout.find("\n{") + 1
    doc = json.loads(proc.stdout[start:])
    results = dict((task["task"]["name"], task["hosts"]["localhost"]) for task in doc["plays"][0]["tasks"])
    return {"cases": cases, "results": results, "images_before": images, "images_after": image_ids()}


BAD_CASE_NAMES = [
    "definition_file_missing", "definition_yaml", "definition_version_1", "definition_unknown_key",
    "definition_wrong_type", "base_image_without_tag", "missing_requirements_file", "additional_build_files_glob",
    "collection_tarball_missing", "tag_upper_case", "tag_with_space", "tag_with_digest", "build_arg_name",
    "ca_certificate_not_pem", "label_reserved", "runtime_binary_missing", "base_image_cannot_be_pulled",
    "pip_step_failed", "galaxy_step_failed", "runtime_docker_refused", "context_dir_under_a_file",
    "definition_file_is_a_directory", "podman_answers_bad_json", "extra_args_creds", "extra_args_password",
    "extra_args_secret_inline", "extra_args_token_build_arg", "pip_index_url_is_no_log",
]


@pytest.mark.parametrize("case", BAD_CASE_NAMES)
def test_bad_input_gives_one_line_error(bad_results, case):
    _args, _extra, fragment = bad_results["cases"][case]
    result = bad_results["results"][case]
    msg = one_line_failure(result, fragment)
    # argument validation (ansible's own message) or the module's "Failed to <verb> ...: <cause>. <fix>"
    assert msg.startswith("Failed to ") or msg.startswith("value of container_runtime"), msg
    assert result["changed"] is False
    assert "PLANTED-creds-t4" not in json.dumps(result)
    if case not in ("runtime_docker_refused", "runtime_binary_missing"):
        assert "exception" in result, "the traceback is kept for -vvv: %s" % result


def test_bad_inputs_are_all_distinct_and_cover_the_list(bad_results):
    assert sorted(bad_results["cases"]) == sorted(BAD_CASE_NAMES)
    messages = [bad_results["results"][name]["msg"] for name in BAD_CASE_NAMES]
    assert len(set(messages)) == len(messages)


def test_failed_builds_leave_log_tail_and_nothing_tagged(bad_results):
    for case in ("pip_step_failed", "galaxy_step_failed"):
        result = bad_results["results"][case]
        assert os.path.isfile(result["build_log"]), result
        assert 0 < len(result["log_tail"]) <= 30
        assert result["build_log"] in result["msg"]
    assert not [line for line in bad_results["images_after"] if "eeforge-t4-bad" in line]
