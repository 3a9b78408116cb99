# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""issue 15: ee_build ``platforms``. One definition, an amd64 + arm64 manifest list, built on this
machine (arm64 emulated through binfmt_misc + qemu-user-static), pushed, idempotent per platform.

The base is the harness's two-platform Debian list (``push_base_manifest``); ee_build's Debian
adaptation installs ansible-core and ansible-runner with pip, so each platform's image runs
``ansible --version`` for real. Builds (CI time): amd64 and arm64 once, then amd64 again after its
base image moved (arm64 is not rebuilt).
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from tests.harness import binfmt
from tests.harness.images import remove_session_images, snapshot as image_snapshot
from tests.harness.multiarch import MANIFEST_NAME, push_base_manifest
from tests.harness.podman_env import podman
from tests.integration.test_ee_build import run_ee_build
from tests.integration.test_ee_info import run_ee_info
from tests.integration.test_harness_multiarch import emulation  # noqa: F401  pylint: disable=unused-import

pytestmark = [pytest.mark.slow]

PLATFORMS = ["linux/amd64", "linux/arm64"]
PREFIX = "eeforge-t15-ee"


def _definition(base):
    return {
        "version": 3,
        "images": {"base_image": {"name": base}},
        "dependencies": {
            "ansible_core": {"package_pip": "ansible-core==2.19.14"},
            "ansible_runner": {"package_pip": "ansible-runner==2.4.3"},
        },
    }


def _raw(ref):
    out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + ref],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out), out


def _by_platform(index):
    return dict(("%s/%s" % (m["platform"]["os"], m["platform"]["architecture"]), m["digest"])
                for m in index["manifests"])


@pytest.fixture
def two_platform_base(emulation, registry, base_image, podman_conf):  # pylint: disable=unused-argument
    """A two-platform base list under a fresh tag, and ``move_amd64()`` that pushes a list whose
    amd64 image changed (arm64 kept)."""
    repository = "eeforge-t15/base-%s" % uuid.uuid4().hex[:8]
    ref = push_base_manifest(registry.location, repository=repository, tag="1")
    made = []

    def move_amd64(tmp_path):
        context = tmp_path / "moved-base"
        context.mkdir()
        (context / "Containerfile").write_text("FROM %s\nRUN echo moved > /etc/eeforge-t15-base\n" % base_image)
        image = "localhost/%s-base:moved-%s" % (PREFIX, uuid.uuid4().hex[:8])
        podman(["build", "--quiet", "--platform", "linux/amd64", "-t", image, str(context)], timeout=600)
        made.append(image)
        index, _text = _raw(ref)
        arm64 = _by_platform(index)["linux/arm64"]
        local = "%s:t15-moved" % MANIFEST_NAME
        podman(["manifest", "rm", local], check=False)
        podman(["manifest", "create", local])
        try:
            podman(["manifest", "add", local, "containers-storage:" + image])
            podman(["manifest", "add", "--tls-verify=false", local, "docker://%s@%s" % (ref.rsplit(":", 1)[0], arm64)])
            podman(["manifest", "push", "--all", "--tls-verify=false", local, "docker://" + ref])
        finally:
            podman(["manifest", "rm", local], check=False)
        return _raw(ref)[0]

    yield ref, move_amd64
    podman(["rmi", "-f"] + made, check=False)
    _remove_pulled(ref.rsplit(":", 1)[0])


def _remove_pulled(name):
    """Images known only by this repository's names (what the builds pulled by digest)."""
    listed = json.loads(podman(["images", "--format", "json"]).stdout or "[]")
    pulled = [entry["Id"] for entry in listed
              if entry.get("Names") is not None and all(n.startswith((name + ":", name + "@")) for n in entry["Names"])
              or not entry.get("Names") and any(d.startswith(name + "@") for d in entry.get("RepoDigests") or [])]
    if pulled:
        podman(["rmi", "-f"] + pulled, check=False)


def _cleanup(tag, results, before):
    podman(["manifest", "rm", tag], check=False)
    ids = set()
    for result in results:
        for entry in (result.get("platforms") or {}).values():
            if entry.get("image_id"):
                ids.add(entry["image_id"])
    for image_id in ids:
        podman(["rmi", "-f", image_id], check=False)
    # The builds' stage images and the lists a pull of the tag left unnamed.
    remove_session_images(before, (), everything=True)


def test_two_platform_ee_is_a_manifest_list_idempotent_per_platform(two_platform_base, registry, tmp_path):
    base, move_amd64 = two_platform_base
    tag = "%s/%s:%s" % (registry.location, PREFIX, uuid.uuid4().hex[:8])
    args = {"definition": _definition(base), "tags": [tag], "platforms": PLATFORMS, "push": True,
            "tls_verify": False, "build_log_dir": str(tmp_path)}
    results = []
    before = image_snapshot()
    try:
        # Check mode: both platforms would be built and the list pushed; nothing is.
        plan, output = run_ee_build(args, check=True)
        assert plan.get("changed") is True, output
        assert plan["actions"] == ["build linux/amd64", "build linux/arm64", "manifest %s" % tag, "push %s" % tag]
        assert podman(["manifest", "exists", tag], check=False).returncode != 0

        first, output = run_ee_build(args)
        results.append(first)
        assert first.get("changed") is True, output
        assert [first["platforms"][p]["built"] for p in PLATFORMS] == [True, True]
        index, text = _raw(tag)
        assert index["mediaType"] in ("application/vnd.oci.image.index.v1+json",
                                      "application/vnd.docker.distribution.manifest.list.v2+json")
        assert sorted(_by_platform(index)) == PLATFORMS
        assert first["manifest_digest"] == first["digest"] == "sha256:" + __import__("hashlib").sha256(
            text.encode()).hexdigest()
        assert first["pushed"] == ["%s@%s" % (tag, first["manifest_digest"])]
        for platform in PLATFORMS:
            assert first["platforms"][platform]["digest"] == _by_platform(index)[platform]

        # A re-run is a no-op: nothing built, nothing pushed.
        again, output = run_ee_build(args)
        assert again.get("changed") is False and again["actions"] == [], output
        assert [again["platforms"][p]["built"] for p in PLATFORMS] == [False, False]
        assert again["manifest_digest"] == first["manifest_digest"]

        # The base's amd64 image moves (arm64 kept): only amd64 is rebuilt, on the new base image.
        moved = _by_platform(move_amd64(tmp_path))
        assert moved["linux/arm64"] == first["platforms"]["linux/arm64"]["base_image_digest"]
        assert moved["linux/amd64"] != first["platforms"]["linux/amd64"]["base_image_digest"]
        check, output = run_ee_build(args, check=True)
        assert check["actions"] == ["build linux/amd64", "manifest %s" % tag, "push %s" % tag], output
        rebuilt, output = run_ee_build(args)
        results.append(rebuilt)
        assert rebuilt.get("changed") is True and rebuilt["base_image_moved"] is True, output
        assert rebuilt["platforms"]["linux/amd64"]["built"] is True
        assert rebuilt["platforms"]["linux/amd64"]["base_image_digest"] == moved["linux/amd64"]
        assert rebuilt["platforms"]["linux/arm64"]["built"] is False
        assert rebuilt["platforms"]["linux/arm64"]["image_id"] == first["platforms"]["linux/arm64"]["image_id"]
        ran = podman(["run", "--rm", "--pull=never", rebuilt["platforms"]["linux/amd64"]["image_id"],
                      "cat", "/etc/eeforge-t15-base"]).stdout
        assert ran.strip() == "moved"
        index, _text = _raw(tag)
        assert sorted(_by_platform(index)) == PLATFORMS
        assert rebuilt["manifest_digest"] != first["manifest_digest"]
        final, output = run_ee_build(args)
        assert final.get("changed") is False, output
        # ee_info picks the image of the local list: this host's by default, or the one of `platform`.
        for platform, arch in ((None, "amd64"), ("linux/arm64", "arm64")):
            query = {"image": tag, "pull": "never"}
            if platform:
                query["platform"] = platform
            info, output = run_ee_info(query)
            assert info.get("failed") is not True, output
            assert info["architecture"] == arch and info["platforms"] == PLATFORMS, output
            assert info["ansible_core_version"] == "2.19.14"
            assert info["image_id"] == rebuilt["platforms"]["linux/" + arch]["image_id"]
        info, output = run_ee_info({"image": tag, "pull": "never", "platform": "linux/s390x"})
        assert info.get("failed") is True and info["msg"] == (
            "Failed to inspect execution environment '%s': its manifest list has no linux/s390x image (it has "
            "linux/amd64, linux/arm64). Set platform to one of them." % tag), output

        # Each platform's image, from the pushed list: the arm64 one runs aarch64 programs, both run ansible.
        for platform, machine in (("linux/arm64", "aarch64"), ("linux/amd64", "x86_64")):
            ran = podman(["run", "--rm", "--pull=always", "--tls-verify=false", "--platform", platform, tag,
                          "uname", "-m"], timeout=600)
            assert ran.stdout.strip() == machine
            version = podman(["run", "--rm", "--pull=never", rebuilt["platforms"][platform]["image_id"],
                              "ansible", "--version"], timeout=600).stdout
            assert version.startswith("ansible [core 2.19.14]"), version
        # That pull replaced the local list under the tag by one image: the next run finds the platforms'
        # images by their labels and makes the list again, without building or pushing.
        assert podman(["manifest", "exists", tag], check=False).returncode != 0
        restored, output = run_ee_build(args)
        assert restored["actions"] == ["manifest %s" % tag], output
        assert podman(["manifest", "exists", tag], check=False).returncode == 0
        assert run_ee_build(args)[0]["actions"] == []
    finally:
        _cleanup(tag, results, before)


def test_unknown_platform_string_fails_in_one_line(tmp_path):
    result, output = run_ee_build({"definition": _definition("localhost/nothing:1"), "platforms": ["linux/aarch64"],
                                   "tags": ["localhost/%s-bad:1" % PREFIX]})
    assert result.get("failed") is True, output
    assert result["msg"] == ("Failed to build image: platforms: 'linux/aarch64': unknown architecture 'aarch64'. "
                             "Use an OCI architecture name ('aarch64' is called 'arm64' there): 386, amd64, arm, arm64, "
                             "mips64le, ppc64le, riscv64, s390x.")
    assert "Traceback" not in output


def test_a_platform_the_base_lacks_fails_in_one_line(emulation, registry, base_image, podman_conf):  # pylint: disable=unused-argument
    # A single-platform base (amd64 only) in the registry.
    dest = "%s/eeforge-t15/amd64-only-%s:1" % (registry.location, uuid.uuid4().hex[:8])
    podman(["push", "--quiet", "--tls-verify=false", base_image, "docker://" + dest])
    tag = "localhost/%s-lacks:1" % PREFIX
    result, output = run_ee_build({"definition": _definition(dest), "platforms": PLATFORMS, "tags": [tag],
                                   "tls_verify": False})
    assert result.get("failed") is True, output
    assert result["msg"] == ("Failed to build image: base image '%s' has no linux/arm64 image (it has linux/amd64). "
                             "Use a base image (a manifest list) with every platform in platforms, or leave "
                             "linux/arm64 out." % dest)
    assert "\n" not in result["msg"] and "Traceback" not in output
    assert podman(["image", "exists", tag], check=False).returncode != 0


def test_missing_emulation_fails_in_one_line_before_anything_runs(emulation, two_platform_base, registry):
    base, _move = two_platform_base
    tag = "localhost/%s-noemu:1" % PREFIX
    args = {"definition": _definition(base), "platforms": PLATFORMS, "tags": [tag], "tls_verify": False}
    with binfmt.disabled(binfmt.ENTRIES["arm64"]):
        result, output = run_ee_build(args)
        check, _output = run_ee_build(args, check=True)
    assert binfmt.can_execute("arm64") is None  # restored
    assert result.get("failed") is True, output
    assert result["msg"] == (
        "Failed to build image for linux/arm64: this host (linux/amd64) cannot run arm64 programs: the binfmt_misc "
        "entry 'qemu-aarch64' is disabled. On the host that runs podman (the AWX execution node), install "
        "qemu-user-static, mount binfmt_misc (mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc) and enable "
        "'qemu-aarch64' with the F flag (update-binfmts --enable qemu-aarch64); for a container group the node's "
        "kernel must have it, a pod cannot register it.")
    assert check.get("failed") is True and check["msg"] == result["msg"]
    assert podman(["image", "exists", tag], check=False).returncode != 0
    assert podman(["manifest", "exists", tag], check=False).returncode != 0


def test_preflight_says_which_platforms_run_natively_or_emulated_and_fails_without_emulation(emulation, tmp_path):
    args = {"platforms": PLATFORMS, "graphroot": str(tmp_path / "graph"), "runroot": str(tmp_path / "run"),
            "storage_drivers": ["vfs"]}
    result, output = run_ee_build(args, module="eeforge.builder.ee_builder_preflight")
    assert result.get("failed") is not True, output
    assert result["platforms"] == {"linux/amd64": "native", "linux/arm64": "emulated"}
    with binfmt.disabled(binfmt.ENTRIES["arm64"]):
        result, output = run_ee_build(args, module="eeforge.builder.ee_builder_preflight")
    assert result.get("failed") is True, output
    assert result["msg"].startswith("Failed to check platforms for linux/arm64: this host (linux/amd64) cannot run "
                                    "arm64 programs: the binfmt_misc entry 'qemu-aarch64' is disabled. On the host "
                                    "that runs podman (the AWX execution node), install qemu-user-static")
    assert "\n" not in result["msg"]
    bad, output = run_ee_build(dict(args, platforms=["linux/aarch64"]), module="eeforge.builder.ee_builder_preflight")
    assert bad.get("failed") is True and "unknown architecture 'aarch64'" in bad["msg"], output
