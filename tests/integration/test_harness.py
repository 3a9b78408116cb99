# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The harness itself: a real base image, real registries, real podman."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.harness.podman_env import podman


def test_containers_conf_is_the_test_one(podman_conf):
    text = open(podman_conf["CONTAINERS_CONF"], encoding="utf-8").read()
    assert 'runtime = "runc"' in text
    assert "MKNOD" not in text and "NET_RAW" not in text and "AUDIT_WRITE" not in text
    # podman really reads it: a container gets exactly these 11 capabilities, not 14.
    out = podman(["info", "--format", "{{.Host.OCIRuntime.Name}}"]).stdout.strip()
    assert out == "runc"


def test_base_image_round_trip_through_registry(base_image, registry):
    """Push the local base image to the local registry, pull it back and run python3 in it."""
    dest = "%s/eeforge/test-base:harness" % registry.location
    podman(["push", base_image, dest])
    assert "harness" in registry.tags("eeforge/test-base")
    podman(["rmi", dest], check=False)
    podman(["pull", dest])
    try:
        res = podman(["run", "--rm", dest, "python3", "-V"])
        assert res.stdout.startswith("Python 3.11")
        caps = podman(["run", "--rm", dest, "grep", "CapBnd", "/proc/self/status"]).stdout.split()[1]
        # 11 capabilities: bits of CHOWN..SYS_CHROOT, no MKNOD (27), NET_RAW (13), AUDIT_WRITE (29)
        mask = int(caps, 16)
        assert not mask & (1 << 27) and not mask & (1 << 13) and not mask & (1 << 29)
        assert bin(mask).count("1") == 11
    finally:
        podman(["rmi", dest], check=False)


def test_auth_registry_refuses_anonymous_push(base_image, auth_registry):
    dest = "%s/eeforge/test-base:denied" % auth_registry.location
    res = podman(["push", base_image, dest], check=False)
    assert res.returncode != 0
    assert "unauthorized" in res.stderr.lower() or "authentication required" in res.stderr.lower()


def test_auth_registry_accepts_its_user(base_image, auth_registry, tmp_path):
    authfile = str(tmp_path / "auth.json")
    podman(
        ["login", "--authfile", authfile, "--username", auth_registry.username, "--password-stdin",
         auth_registry.location],
        input_data=auth_registry.password,
    )
    dest = "%s/eeforge/test-base:allowed" % auth_registry.location
    podman(["push", "--authfile", authfile, base_image, dest])
    assert auth_registry.manifest_digest("eeforge/test-base", "allowed").startswith("sha256:")
    os.remove(authfile)


@pytest.mark.parametrize("name", ["containers.podman", "awx.awx", "eeforge.builder"])
def test_collection_tarballs_install(collection_tarballs, tmp_path, name):
    res = subprocess.run(
        ["ansible-galaxy", "collection", "install", "--no-deps", "--force", "-p", str(tmp_path), collection_tarballs[name]],
        capture_output=True, text=True, check=False,
    )
    assert res.returncode == 0, res.stderr
    namespace, coll = name.split(".")
    assert os.path.exists(tmp_path / "ansible_collections" / namespace / coll / "MANIFEST.json")
