# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults ee_build must survive: a registry that goes away mid-push, an AWX cancel (SIGTERM to the
process group) mid-build, two runs of the same tag at once, a full disk under the build context.

Each build here is small: the harness base image plus a few RUN steps (no pip, no galaxy), so a
cold build takes seconds. Every test uses its own tag (``localhost/eeforge-fault-*`` or a
repository below ``eeforge-fault/`` in a registry) and removes its images at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import pytest

from tests.harness.podman_env import podman, write_podman_config
from tests.harness.registry import Registry
from tests.integration.secret_grep import scratch_env

VENV_BIN = os.path.dirname(sys.executable)
PREFIX = "localhost/eeforge-fault-"

DEFINITION = """\
version: 3
images:
  base_image:
    name: {base}
options:
  skip_ansible_check: true
additional_build_files:
  - src: files
    dest: configs
additional_build_steps:
  prepend_base:
    - RUN echo {marker} > /etc/eeforge-fault-marker
{steps}
  append_final:
    - COPY _build/configs/ /etc/eeforge-fault/
"""

PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Build
      eeforge.builder.ee_build: {args}
"""


class Project:
    """A definition directory: a unique marker (so no cache is shared with other builds) and files."""

    def __init__(self, root, base_image, steps=(), payload_bytes=16):
        self.root = str(root)
        self.marker = uuid.uuid4().hex
        os.makedirs(os.path.join(self.root, "files"), exist_ok=True)
        with open(os.path.join(self.root, "files", "payload"), "wb") as handle:
            handle.write(os.urandom(payload_bytes))
        self.write_definition(base_image, steps)

    def write_definition(self, base_image, steps=()):
        lines = "".join("    - %s\n" % step for step in steps)
        with open(self.definition, "w", encoding="utf-8") as handle:
            handle.write(DEFINITION.format(base=base_image, marker=self.marker, steps=lines.rstrip("\n")))

    @property
    def definition(self):
        return os.path.join(self.root, "execution-environment.yml")


def playbook_argv(root, args):
    path = os.path.join(str(root), "playbook-%s.yml" % uuid.uuid4().hex[:8])
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(PLAYBOOK.format(args=json.dumps(args)))
    return [os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=%s" % sys.executable, path]


def ansible_env(extra=None):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_NOCOLOR="1")
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


def start_playbook(root, args, env=None):
    """ansible-playbook in its own session (its pid is the process group id), as AWX runs it."""
    return subprocess.Popen(playbook_argv(root, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ansible_env(env), start_new_session=True)


def task_result(stdout, stderr=""):
    """The ee_build result from the json callback's output."""
    start = 0 if stdout.startswith("{") else stdout.find("\n{") + 1
    assert stdout[start:].startswith("{"), stdout + stderr
    doc = json.loads(stdout[start:])
    return doc["plays"][0]["tasks"][0]["hosts"]["localhost"]


def run_playbook(root, args, env=None, timeout=900):
    started = time.time()
    proc = start_playbook(root, args, env)
    out, err = proc.communicate(timeout=timeout)
    return task_result(out, err), out + err, time.time() - started


def assert_one_line_failure(result, *fragments):
    assert result.get("failed"), result
    msg = result.get("msg", "")
    assert "\n" not in msg.strip(), msg
    assert "Traceback" not in json.dumps(result) and "MODULE FAILURE" not in msg, result
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


def local_image(ref):
    proc = podman(["image", "inspect", ref], check=False)
    return json.loads(proc.stdout)[0] if proc.returncode == 0 else None


def remove_images(*refs):
    for ref in refs:
        podman(["rmi", "-f", ref], check=False)


def session_processes(pgid):
    """(pid, argv) of the live processes in process group ``pgid``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.getpgid(int(name)) != pgid:
                continue
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                argv = [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
        except (OSError, ProcessLookupError):
            continue
        if argv:
            found.append((int(name), argv))
    return found


def descendants(root):
    """(pid, pgid, argv) of every live process below ``root``."""
    parent, info = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as handle:
                stat = handle.read().decode(errors="replace")
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                argv = [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parent[int(name)] = int(fields[1])
        info[int(name)] = (int(fields[2]), argv)
    found = []
    for pid in info:
        ancestor = parent.get(pid)
        while ancestor and ancestor != root:
            ancestor = parent.get(ancestor)
        if ancestor == root:
            found.append((pid, info[pid][0], info[pid][1]))
    return found


def podman_builds(root):
    return [p for p in descendants(root) if p[2] and os.path.basename(p[2][0]) == "podman" and "build" in p[2]]


@contextmanager
def killed_if_running(proc):
    """The test's own clean-up: a playbook still running when the block ends gets SIGKILL (its group)."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def container_layer(pid):
    """The storage layer dir of the container process ``pid`` runs in (its overlay upperdir's parent)."""
    with open("/proc/%d/mountinfo" % pid, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if fields[4] == "/" and "upperdir=" in line:
                upper = line.split("upperdir=", 1)[1].split(",", 1)[0].split()[0]
                return os.path.dirname(upper)
    return None


def build_containers_of(marker):
    """Ids of the build containers whose image belongs to the build with ``marker`` (ee_build labels
    every image of a build with its definition, which holds the marker)."""
    proc = subprocess.run(["buildah", "containers", "--json"], capture_output=True, text=True, check=False)
    found = []
    for entry in json.loads(proc.stdout or "[]") or []:
        image = local_image(entry.get("imageid") or "-")
        if image and marker in json.dumps(image.get("Labels") or {}):
            found.append(entry["id"][:12])
    return found


def remove_build_of(marker):
    """The test's own clean-up after a build the cancel did not stop: its containers and images."""
    for cid in build_containers_of(marker):
        subprocess.run(["buildah", "rm", cid], capture_output=True, check=False)
    out = podman(["images", "-a", "--format", "{{.ID}}"], check=False).stdout.split()
    for image_id in out:
        image = local_image(image_id)
        if image and marker in json.dumps(image.get("Labels") or {}):
            podman(["rmi", image_id], check=False)


def lock_files(tmpdir):
    found = []
    for dirpath, _dirs, files in os.walk(tmpdir):
        found += [os.path.join(dirpath, name) for name in files if name.endswith(".lock")]
    return found


@pytest.fixture
def scratch(tmp_path):
    """TMPDIR and ansible's temp dirs for one ansible run, checked for leftovers by the test."""
    root = tmp_path / "scratch"
    root.mkdir()
    return str(root)


@pytest.fixture
def own_registry(tmp_path):
    """A registry only this test uses (it is stopped and restarted), with podman told it is insecure."""
    reg = Registry(workdir=str(tmp_path / "registry"))
    os.makedirs(reg.workdir)
    reg.start()
    conf = str(tmp_path / "podman-conf")
    os.makedirs(conf)
    env = write_podman_config(conf, [reg.location])
    try:
        yield reg, env
    finally:
        reg.stop()


# ----------------------------------------------------------------------------------------------
# the registry goes away mid-push
# ----------------------------------------------------------------------------------------------

def test_registry_stopped_mid_push(own_registry, base_image, tmp_path):
    reg, podman_env = own_registry
    repo = "eeforge-fault/push-%s" % uuid.uuid4().hex[:8]
    tag = "%s/%s:1" % (reg.location, repo)
    # A layer of its own of some size, so the push takes long enough to be cut.
    project = Project(tmp_path / "project", base_image, payload_bytes=48 * 1024 * 1024)
    args = {"definition_file": project.definition, "tags": [tag], "push": True}
    started = time.time()
    with killed_if_running(start_playbook(tmp_path, args, env=podman_env)) as proc:
        wait_for(reg.uploads_in_progress, 600, "the push to start (an upload session in the registry)")
        reg.stop(keep=True)
        cut = time.time()
        out, err = proc.communicate(timeout=600)
    failed_after = time.time() - cut
    result = task_result(out, err)
    msg = assert_one_line_failure(result, tag)
    # The retries are bounded: push_retries (2) with a short back-off, not minutes of waiting.
    assert failed_after < 120, "ee_build took %.0fs to give up after the registry stopped" % failed_after
    print("registry stopped mid-push: failed %.1fs after the cut (run %.1fs): %s"
          % (failed_after, time.time() - started, msg))

    reg.start()
    # Nothing half-tagged: the tag is absent, or names a manifest whose blobs are all there.
    manifest, _digest = reg.manifest(repo, "1")
    if manifest is not None:
        assert reg.missing_blobs(repo, manifest) == [], manifest

    result, output, seconds = run_playbook(tmp_path, args, env=podman_env)
    try:
        assert result.get("changed") is True and not result.get("failed"), output
        manifest, digest = reg.manifest(repo, "1")
        assert manifest is not None and reg.missing_blobs(repo, manifest) == [], output
        assert digest in json.dumps(result), (digest, result)
        print("push after the restart: %.1fs" % seconds)
    finally:
        remove_images(tag)


# ----------------------------------------------------------------------------------------------
# AWX cancel: SIGTERM to the ansible-playbook process group mid-build
# ----------------------------------------------------------------------------------------------

def test_sigterm_to_process_group_mid_build(base_image, tmp_path, scratch):
    tag = PREFIX + "sigterm-%s:1" % uuid.uuid4().hex[:8]
    project = Project(tmp_path / "project", base_image, steps=["RUN sleep 45.%06d" % (uuid.uuid4().int % 1000000)])
    env = scratch_env(scratch)
    tmpdir = env["TMPDIR"]
    args = {"definition_file": project.definition, "tags": [tag]}
    proc = start_playbook(tmp_path, args, env=env)
    builds = []
    try:
        _check_sigterm(proc, tag, tmpdir, builds, project.marker)
        # The next run builds cleanly.
        project.write_definition(base_image, steps=["RUN true"])
        result, output, _seconds = run_playbook(tmp_path, args, env=env)
        assert result.get("changed") is True and not result.get("failed"), output
        assert local_image(tag) is not None
    finally:
        for pid in [p[0] for p in builds if _alive(p[0])]:
            os.kill(pid, signal.SIGTERM)  # the test's own clean-up of a build the cancel missed
        for _attempt in range(60):
            if not any(_alive(p[0]) for p in builds):
                break
            time.sleep(0.5)
        remove_images(tag)
        remove_build_of(project.marker)


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _check_sigterm(proc, tag, tmpdir, builds, marker):
    with killed_if_running(proc):
        builds += wait_for(lambda: podman_builds(proc.pid), 600, "podman build to start")
        # The RUN sleep step runs in a build container: cut there.
        sleeper = wait_for(lambda: [p for p in descendants(proc.pid)
                                    if p[2][:1] and os.path.basename(p[2][0]) == "sleep"],
                           600, "the build container to run its RUN step")[0]
        layer = container_layer(sleeper[0])
        assert layer and os.path.isdir(layer), "no container layer found for the RUN step (pid %d)" % sleeper[0]
        time.sleep(1)
        # ansible-playbook's worker runs in a session of its own; on SIGTERM the playbook process
        # passes the signal on to the worker's process group (module, timeout, podman build).
        builds[:] = podman_builds(proc.pid) or builds
        os.killpg(proc.pid, signal.SIGTERM)
        cut = time.time()
        out, err = proc.communicate(timeout=120)
    stopped_after = time.time() - cut
    # Give podman's own clean-up (it got the signal too) a moment to finish.
    wait_for_clean(lambda: os.path.exists(layer), 30)
    survivors = session_processes(proc.pid)
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        mounted = [line.split()[4] for line in handle if line.split()[4].startswith(layer + "/")]
    report = {
        "processes of the group still running": survivors,
        "build containers": build_containers_of(marker),
        "build container (its storage layer)": [layer] if os.path.exists(layer) else [],
        "build container mounts": mounted,
        "podman build still running": ["pid %d" % p[0] for p in builds if _alive(p[0])],
        "files in TMPDIR": sorted(name for name in os.listdir(tmpdir) if not name.startswith("eeforge-locks-")),
        "lock files": lock_files(tmpdir),
        "tag created": local_image(tag) is not None,
    }
    print("SIGTERM: the playbook ended %.1fs after the signal; output tail: %s" % (stopped_after, (out + err)[-600:]))
    # Nothing is left: no process of the run, no temp dir or auth file (ee_build's own, or podman's
    # buildahNNNN), no build container or its mount, no lock, no tag.
    # (ansible-playbook itself dies at once on SIGTERM and prints no result; the module's one-line
    # message is covered by tests/unit/plugins/module_utils/test_engine.py and test_signals.py.)
    assert not any(report.values()), "left behind after SIGTERM: %s" % {k: v for k, v in report.items() if v}


def wait_for_clean(probe, timeout):
    deadline = time.time() + timeout
    value = probe()
    while value and time.time() < deadline:
        time.sleep(0.5)
        value = probe()
    return value


# ----------------------------------------------------------------------------------------------
# two runs of the same tag at once
# ----------------------------------------------------------------------------------------------

def test_two_runs_of_the_same_tag_at_once(registry, base_image, tmp_path):
    repo = "eeforge-fault/twice-%s" % uuid.uuid4().hex[:8]
    tag = "%s/%s:1" % (registry.location, repo)
    project = Project(tmp_path / "project", base_image, steps=["RUN sleep 3"], payload_bytes=4 * 1024 * 1024)
    args = {"definition_file": project.definition, "tags": [tag], "push": True}
    started = time.time()
    procs = [start_playbook(tmp_path, args) for _run in range(2)]
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=900)
            results.append((task_result(out, err), out + err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    try:
        for result, output in results:
            if result.get("failed"):
                # The only acceptable failure: waited on the other run's lock, said so in one line.
                assert_one_line_failure(result, "locked")
            else:
                assert "digest" in json.dumps(result), output
        assert any(not r.get("failed") for r, _out in results), results
        # Never half-tagged: the local tag and the registry tag name one complete image.
        image = local_image(tag)
        assert image is not None
        manifest, digest = registry.manifest(repo, "1")
        assert manifest is not None and registry.missing_blobs(repo, manifest) == []
        labels = image.get("Labels") or image.get("Config", {}).get("Labels") or {}
        # The registry's tag and the local tag name the same image (its config is the image id).
        assert manifest["config"]["digest"] == "sha256:" + image["Id"].replace("sha256:", ""), (digest, image["Id"])
        for result, output in results:
            if not result.get("failed"):
                assert result.get("changed") in (True, False), output
        print("two runs at once: %.1fs, changed=%s, msgs=%s" % (
            time.time() - started, [r.get("changed") for r, _out in results], [r.get("msg") for r, _out in results]))
        assert labels.get("io.eeforge.definition-digest"), labels
    finally:
        remove_images(tag)


# ----------------------------------------------------------------------------------------------
# a full disk under the build context
# ----------------------------------------------------------------------------------------------

@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)], check=True)
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_in_context_dir(small_tmpfs, base_image, tmp_path):
    tag = PREFIX + "disk-%s:1" % uuid.uuid4().hex[:8]
    project = Project(tmp_path / "project", base_image, payload_bytes=3 * 1024 * 1024)
    context = os.path.join(small_tmpfs, "context")
    started = time.time()
    result, output, _seconds = run_playbook(tmp_path, {"definition_file": project.definition, "tags": [tag],
                                                       "context_dir": context})
    try:
        msg = assert_one_line_failure(result, context)
        assert "space" in msg.lower(), msg
        # The fix is about the disk, not the definition.
        assert "context_dir" in msg or "free" in msg.lower(), msg
        print("full disk: %.1fs: %s" % (time.time() - started, msg))
        assert local_image(tag) is None
    finally:
        remove_images(tag)
