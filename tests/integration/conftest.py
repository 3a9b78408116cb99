# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Session fixtures shared by the integration and end-to-end tests (see tests/harness)."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

# The collection under test is found as ansible_collections/eeforge/builder (see Makefile).
COLLECTIONS_ROOT = os.path.join(REPO_ROOT, ".cache", "collections")
_link = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "eeforge", "builder")
if not os.path.exists(_link):
    os.makedirs(os.path.dirname(_link), exist_ok=True)
    os.symlink(REPO_ROOT, _link)
os.environ["ANSIBLE_COLLECTIONS_PATH"] = COLLECTIONS_ROOT + os.pathsep + os.environ.get(
    "ANSIBLE_COLLECTIONS_PATH", ""
)

from tests.harness.base_image import ensure_base_image  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.collections import (  # noqa: E402  pylint: disable=wrong-import-position
    build_this_collection,
    pack_installed_collection,
)
from tests.harness.images import remove_session_images, snapshot as image_snapshot  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.podman_env import environment, write_podman_config  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.registry import Registry  # noqa: E402  pylint: disable=wrong-import-position

REGISTRY_USER = "eeforge"


@pytest.fixture(scope="session")
def registries():
    """Two real registries on 127.0.0.1: ``open`` (no auth) and ``auth`` (htpasswd, bcrypt)."""
    password = "pw-" + secrets.token_hex(12)
    started = []
    try:
        started.append(Registry().start())
        started.append(Registry(username=REGISTRY_USER, password=password).start())
        yield {"open": started[0], "auth": started[1]}
    finally:
        for reg in started:
            reg.stop()


@pytest.fixture(scope="session")
def registry(registries):
    return registries["open"]


@pytest.fixture(scope="session")
def auth_registry(registries):
    return registries["auth"]


@pytest.fixture(scope="session", autouse=True)
def podman_conf(registries):
    """containers.conf and registries.conf for these VMs, given to podman through the environment.

    The registries are marked insecure (plain HTTP on loopback), as 127.0.0.1:PORT and as
    10.0.2.2:PORT (how a slirp4netns container with allow_host_loopback reaches them).
    """
    confdir = tempfile.mkdtemp(prefix="eeforge-podman-conf-")
    locations = []
    for reg in registries.values():
        locations += [reg.location, "10.0.2.2:%d" % reg.port]
    try:
        with environment(write_podman_config(confdir, locations)) as env:
            yield env
    finally:
        shutil.rmtree(confdir, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def session_images(registries):
    """Removes, at the end, the images this session tagged for its registries (and, under
    ``make integration``, the test images and untagged images it made: tests/harness/images.py)."""
    before = image_snapshot()
    yield
    locations = []
    for reg in registries.values():
        locations += [reg.location, "10.0.2.2:%d" % reg.port]
    remove_session_images(before, locations, log=lambda msg: sys.stderr.write(msg + "\n"))


@pytest.fixture(scope="session")
def base_image(podman_conf):  # pylint: disable=unused-argument
    """Reference of the local Debian base image (debootstrap + podman import, cached)."""
    return ensure_base_image()


@pytest.fixture(scope="session")
def collection_tarballs(tmp_path_factory):
    """Tarballs of eeforge.builder, containers.podman and awx.awx for EE builds."""
    dest = str(tmp_path_factory.mktemp("collections"))
    return {
        "eeforge.builder": build_this_collection(dest),
        "containers.podman": pack_installed_collection("containers", "podman", dest),
        "awx.awx": pack_installed_collection("awx", "awx", dest),
    }


from tests.awx_standin.fixtures import awx_standin, awx_standin_process, awx_standin_server  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
from tests.integration.builder_fixtures import builder_image  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
