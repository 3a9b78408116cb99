# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The multi-arch harness: binfmt_misc emulation, the arm64 base, the two-platform base manifest list."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from tests.harness import binfmt
from tests.harness.multiarch import ensure_arm64_base_image, image_platform, push_base_manifest
from tests.harness.podman_env import podman

# The first run on a machine builds the arm64 base (minutes, emulated); later runs use the cache.
pytestmark = [pytest.mark.slow]

BUILT = "localhost/eeforge-t15-harness-build:1"


@pytest.fixture(scope="module")
def emulation():
    try:
        return binfmt.ensure(binfmt.ENTRIES["arm64"])
    except (binfmt.BinfmtError, OSError) as exc:
        pytest.fail("arm64 emulation is not available (make setup installs it): %s" % exc)


@pytest.fixture(scope="module")
def base_manifest(emulation, registry, base_image, podman_conf):  # pylint: disable=unused-argument
    ref = push_base_manifest(registry.location, repository="eeforge-t15/base", tag="harness")
    yield ref
    # `podman run --platform` below pulls the tag into local storage: untag it (the image
    # itself is the cached base, which stays).
    podman(["rmi", ref], check=False)


def test_binfmt_entry_has_fix_binary_flag(emulation):
    assert emulation["enabled"]
    assert "F" in emulation["flags"]
    assert os.path.basename(emulation["interpreter"]).startswith("aarch64-binfmt") or "qemu-aarch64" in emulation[
        "interpreter"]


def test_arm64_base_image_is_arm64(emulation, podman_conf):  # pylint: disable=unused-argument
    ref = ensure_arm64_base_image()
    assert image_platform(ref) == "linux/arm64"
    res = podman(["run", "--rm", "--pull=never", ref, "python3", "-c", "import platform; print(platform.machine())"])
    assert res.stdout.strip() == "aarch64"


def test_pushed_base_is_a_two_platform_manifest_list(base_manifest):
    res = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + base_manifest],
                         capture_output=True, text=True, check=True)
    index = json.loads(res.stdout)
    assert index["mediaType"] in ("application/vnd.docker.distribution.manifest.list.v2+json",
                                  "application/vnd.oci.image.index.v1+json")
    platforms = sorted("%s/%s" % (m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"])
    assert platforms == ["linux/amd64", "linux/arm64"]


@pytest.mark.parametrize("platform,machine", [("linux/arm64", "aarch64"), ("linux/amd64", "x86_64")])
def test_run_each_platform_of_the_manifest_list(base_manifest, platform, machine):
    res = podman(["run", "--rm", "--pull=always", "--tls-verify=false", "--platform", platform, base_manifest,
                  "uname", "-m"])
    assert res.stdout.strip() == machine


def test_build_for_arm64_from_the_manifest_list(base_manifest):
    context = tempfile.mkdtemp(prefix="eeforge-t15-context-")
    try:
        with open(os.path.join(context, "Containerfile"), "w", encoding="utf-8") as handle:
            handle.write("FROM %s\nRUN test \"$(uname -m)\" = aarch64 && uname -m > /built-on\n" % base_manifest)
        podman(["build", "--platform", "linux/arm64", "--layers=false", "--pull=always", "--tls-verify=false",
                "-t", BUILT, context])
        assert image_platform(BUILT) == "linux/arm64"
        res = podman(["run", "--rm", "--pull=never", BUILT, "cat", "/built-on"])
        assert res.stdout.strip() == "aarch64"
    finally:
        shutil.rmtree(context, ignore_errors=True)
        podman(["rmi", BUILT], check=False)


def test_disabled_entry_means_no_emulation_and_is_restored(emulation, podman_conf):  # pylint: disable=unused-argument
    entry = binfmt.ENTRIES["arm64"]
    ref = ensure_arm64_base_image()
    assert binfmt.can_execute("arm64") is None
    with binfmt.disabled(entry):
        assert not binfmt.entry_state(entry)["enabled"]
        assert binfmt.can_execute("arm64") == "no enabled binfmt_misc entry runs arm64 binaries (exec format error)"
        with pytest.raises(binfmt.BinfmtError, match="is disabled: echo 1 > /proc/sys/fs/binfmt_misc/qemu-aarch64"):
            binfmt.check(entry)
        res = podman(["run", "--rm", "--pull=never", ref, "uname", "-m"], check=False)
        assert res.returncode != 0
        assert "exec format error" in res.stderr.lower()
    assert binfmt.entry_state(entry)["enabled"]
    assert binfmt.can_execute("arm64") is None


def test_probe_runs_in_a_container_without_binfmt_misc(emulation, base_image, podman_conf):  # pylint: disable=unused-argument
    """In a container /proc/sys/fs/binfmt_misc is not mounted; the probe binary still runs (F flag)."""
    context = tempfile.mkdtemp(prefix="eeforge-t15-probe-")
    try:
        path = os.path.join(context, "probe")
        with open(path, "wb") as handle:
            handle.write(binfmt.probe_elf("arm64"))
        os.chmod(path, 0o755)
        res = podman(["run", "--rm", "--pull=never", "--user=root", "-v", "%s:/probe:ro,Z" % context, base_image,
                      "sh", "-c", "ls /proc/sys/fs/binfmt_misc | wc -l; /probe/probe; echo rc=$?"])
        assert res.stdout.split() == ["0", "rc=%d" % binfmt.PROBE_EXIT]
    finally:
        shutil.rmtree(context, ignore_errors=True)
