# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nested builds at each privilege level a job container can be given (issue 6, point 3).

Each test starts the builder EE the way AWX starts a job on a podman execution node
(``podman run --user=root --network slirp4netns:enable_ipv6=true``, no ``--privileged``, no added
capability; the test containers.conf is on the host side only, through the harness), plus the one
option that sets the level. Inside, a playbook runs eeforge.builder.ee_builder_preflight and then a
tiny build with the environment it returned (FROM a 2 MB base imported in the job + one RUN), and
``podman info`` says which driver the build's store really uses.

Levels:
- nothing extra: native overlay;
- ``--device /dev/fuse`` with native overlay refused (the store on the container's overlayfs root,
  ``--image-volume ignore``, as a Kubernetes pod without an emptyDir): fuse-overlayfs;
- the same refusal without /dev/fuse: vfs;
- a seccomp profile that forbids user namespaces (as the docker/containerd default profiles do
  without CAP_SYS_ADMIN): no build can work, the preflight fails with one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import uuid

import pytest

pytestmark = [pytest.mark.slow]

# What AWX gives every job on a podman node (DEFAULT_CONTAINER_RUN_OPTIONS + the job user).
AWX_JOB_OPTIONS = ["--user=root", "--network", "slirp4netns:enable_ipv6=true"]
CLONE_NEWUSER = 0x10000000
HOST_SECCOMP = "/usr/share/containers/seccomp.json"

JOB_PLAYBOOK = """\
- name: Nested build at one privilege level
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Build with the storage driver the preflight picks
      block:
        - name: Check that podman can build here and choose its storage driver
          eeforge.builder.ee_builder_preflight:
            storage_conf: /root/.config/eeforge/storage.conf
          register: preflight

        - name: Import the tiny base image
          ansible.builtin.command: podman import /job/tiny.tar localhost/eef-pf-tiny:base
          environment: "{{ preflight.environment }}"
          changed_when: true

        - name: Build FROM the base with one RUN
          ansible.builtin.command: podman build -t localhost/eef-pf-tiny:built -f /job/Containerfile /job
          environment: "{{ preflight.environment }}"
          register: build
          changed_when: true

        - name: Ask podman which driver its store uses
          ansible.builtin.command: podman info --format json
          environment: "{{ preflight.environment }}"
          register: info
          changed_when: false
      always:
        - name: Hand the results to the test
          ansible.builtin.copy:
            content: "{{ {'preflight': preflight | default(None), 'build': build | default(None),
                          'info': (info.stdout | from_json) if info is defined and info.stdout is defined else None}
                         | to_json }}"
            dest: "/job/{{ result_name }}"
            mode: "0644"
"""

CONTAINERFILE = """\
FROM localhost/eef-pf-tiny:base
RUN echo nested > /proof && read line < /proof && echo "proof: $line"
"""


def tiny_rootfs(path):
    """A 2 MB root filesystem: dash as /bin/sh with its libc, enough for a RUN step."""
    files = {"bin/dash": "/usr/bin/dash", "lib/x86_64-linux-gnu/libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6",
             "lib64/ld-linux-x86-64.so.2": "/lib64/ld-linux-x86-64.so.2"}
    with tarfile.open(path, "w") as tar:
        for directory in ("bin", "lib", "lib/x86_64-linux-gnu", "lib64", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        for name, source in files.items():
            tar.add(os.path.realpath(source), arcname=name)
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "dash"
        tar.addfile(link)


def seccomp_without_user_namespaces(path):
    """podman's default seccomp profile, except that clone/unshare(CLONE_NEWUSER) fail with EPERM."""
    with open(HOST_SECCOMP, encoding="utf-8") as handle:
        profile = json.load(handle)
    for rule in profile["syscalls"]:
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args"):
            rule["names"] = [name for name in rule["names"] if name not in ("clone", "clone3", "unshare")]
    masked = {"index": 0, "value": CLONE_NEWUSER, "op": "SCMP_CMP_MASKED_EQ"}
    profile["syscalls"] += [
        {"names": ["clone", "unshare"], "action": "SCMP_ACT_ALLOW", "args": [dict(masked, valueTwo=0)]},
        {"names": ["clone", "unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [dict(masked, valueTwo=CLONE_NEWUSER)]},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},  # ENOSYS: libc falls back to clone
    ]
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(profile, handle)


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("eef-pf-job")
    tiny_rootfs(str(path / "tiny.tar"))
    (path / "Containerfile").write_text(CONTAINERFILE, encoding="utf-8")
    (path / "job.yml").write_text(JOB_PLAYBOOK, encoding="utf-8")
    seccomp_without_user_namespaces(str(path / "seccomp-no-userns.json"))
    return path


def run_job(builder_ref, job_dir, level, extra_options):
    """Start the builder EE as AWX starts a job, plus ``extra_options``; return (rc, output, results)."""
    name = "eef-pf-%s-%s" % (level, uuid.uuid4().hex[:8])
    result_name = "%s.json" % name
    argv = (["podman", "run", "--rm", "--name", name] + AWX_JOB_OPTIONS + list(extra_options)
            + ["-v", "%s:/job:Z" % job_dir, builder_ref,
               "ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "result_name=" + result_name,
               "/job/job.yml"])
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    finally:
        subprocess.run(["podman", "rm", "--force", "--volumes", "--ignore", name], capture_output=True, check=False)
    result_path = job_dir / result_name
    assert result_path.exists(), "the job wrote no result:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:])
    results = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink()
    return proc.returncode, proc.stdout + proc.stderr, results


def assert_job_had_no_extra_privilege(preflight):
    facts = preflight["facts"]
    assert facts["euid"] == 0  # --user=root, as AWX runs jobs
    assert facts["in_container"] is True
    assert facts["cap_sys_admin"] is False  # no --privileged, no --cap-add
    assert facts["rootless"] is True


def assert_built(results, driver):
    build = results["build"]
    assert build["rc"] == 0
    assert "proof: nested" in build["stdout"]
    store = results["info"]["store"]
    mount_program = (store.get("graphOptions") or {}).get("overlay.mount_program")
    assert store["graphRoot"] == "/var/lib/containers/storage"  # the real store, not a probe's
    if driver == "vfs":
        assert store["graphDriverName"] == "vfs"
    else:
        assert store["graphDriverName"] == "overlay"
        if driver == "fuse-overlayfs":
            assert mount_program and mount_program["Executable"].endswith("fuse-overlayfs")
        else:
            assert not mount_program


def test_nothing_extra_builds_with_native_overlay(builder_image, job_dir):
    rc, output, results = run_job(builder_image.ref, job_dir, "native", [])
    assert rc == 0, output[-3000:]
    preflight = results["preflight"]
    assert preflight["failed"] is False
    assert preflight["storage_driver"] == "overlay"
    assert preflight["reason"].startswith("native overlay mounts work in this user namespace")
    assert [(p["driver"], p["usable"]) for p in preflight["probes"]] == [("overlay", True)]
    assert preflight["isolation"] == "chroot"
    assert preflight["environment"] == {"BUILDAH_ISOLATION": "chroot",
                                        "CONTAINERS_STORAGE_CONF": "/root/.config/eeforge/storage.conf"}
    assert "mount_program" not in preflight["storage_conf_content"]
    assert preflight["facts"]["user_namespace"] == "usable"
    assert preflight["facts"]["dev_fuse"] == "missing"
    assert_job_had_no_extra_privilege(preflight)
    assert_built(results, "overlay")


@pytest.mark.skipif(not os.path.exists("/dev/fuse"), reason="the host has no /dev/fuse to give the job")
def test_dev_fuse_with_overlay_refused_builds_with_fuse_overlayfs(builder_image, job_dir):
    rc, output, results = run_job(builder_image.ref, job_dir, "fuse", ["--device", "/dev/fuse",
                                                                       "--image-volume", "ignore"])
    assert rc == 0, output[-3000:]
    preflight = results["preflight"]
    assert preflight["storage_driver"] == "fuse-overlayfs"
    assert preflight["facts"]["store_filesystem"] == "overlay"
    assert preflight["facts"]["dev_fuse"] == "usable"
    assert [(p["driver"], p["usable"]) for p in preflight["probes"]] == [("overlay", False), ("fuse-overlayfs", True)]
    assert "refuses native overlay with the store on overlay" in preflight["probes"][0]["reason"]
    assert preflight["reason"].startswith("native overlay was refused; /dev/fuse is usable")
    assert 'mount_program = "/usr/bin/fuse-overlayfs"' in preflight["storage_conf_content"]
    assert_job_had_no_extra_privilege(preflight)
    assert_built(results, "fuse-overlayfs")


def test_overlay_refused_without_fuse_builds_with_vfs(builder_image, job_dir):
    rc, output, results = run_job(builder_image.ref, job_dir, "vfs", ["--image-volume", "ignore"])
    assert rc == 0, output[-3000:]
    preflight = results["preflight"]
    assert preflight["storage_driver"] == "vfs"
    assert [(p["driver"], p["usable"]) for p in preflight["probes"]] == [
        ("overlay", False), ("fuse-overlayfs", False), ("vfs", True)]
    assert preflight["probes"][1]["reason"] == "/dev/fuse does not exist"
    assert "refused: overlay: the kernel refuses native overlay" in preflight["reason"]
    assert 'driver = "vfs"' in preflight["storage_conf_content"]
    assert_job_had_no_extra_privilege(preflight)
    assert_built(results, "vfs")


def test_no_user_namespaces_fails_with_one_line(builder_image, job_dir):
    rc, output, results = run_job(builder_image.ref, job_dir, "nouserns",
                                  ["--security-opt", "seccomp=%s" % (job_dir / "seccomp-no-userns.json")])
    assert rc != 0
    preflight = results["preflight"]
    assert preflight["failed"] is True
    assert results["build"] is None  # nothing ran after the preflight
    message = preflight["msg"]
    assert "\n" not in message
    assert message.startswith("Failed to prepare nested builds: podman cannot create a user namespace "
                              "(unshare(CLONE_NEWUSER) failed: Operation not permitted)")
    assert "AWX's 'Container Run Options' (Settings > Jobs, DEFAULT_CONTAINER_RUN_OPTIONS)" in message
    assert "seccompProfile" in message
    assert preflight["probes"] == []  # failed before any podman command
    assert preflight["facts"]["user_namespace"] == "denied"
