# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An arm64 twin of the harness base image, and a two-platform base manifest list.

arm64: ``debootstrap --arch=arm64 --variant=minbase --foreign`` (same suite, mirror and
packages as :mod:`tests.harness.base_image`), then the second stage emulated
(``chroot ROOTFS /debootstrap/debootstrap --second-stage``, through binfmt_misc with the
F flag, see :mod:`tests.harness.binfmt`), the same CA bundle and PEP 668 changes,
``podman import --arch arm64``.  The tarball is cached beside the amd64 one.

:func:`push_base_manifest` pushes ``amd64 = ensure_base_image()`` and ``arm64 =
ensure_arm64_base_image()`` as one manifest list to a harness registry.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import tempfile
import time

from . import base_image
from .binfmt import ENTRIES, check as check_binfmt
from .podman_env import podman

ARCH = "arm64"
IMAGE_NAME = "localhost/eeforge-test-base-arm64"
MANIFEST_NAME = "localhost/eeforge-test-base-multiarch"
# Bump when the steps below change in a way the recipe text does not show.
RECIPE_VERSION = "1"


def recipe_digest():
    return "%s-%s-%s" % (ARCH, RECIPE_VERSION, base_image.recipe_digest())


def image_ref():
    return "%s:%s-%s" % (IMAGE_NAME, base_image.SUITE, recipe_digest())


def tarball_path():
    return os.path.join(base_image.cache_dir(), "base-%s-%s.tar" % (base_image.SUITE, recipe_digest()))


def _finish_rootfs(rootfs):
    # As base_image._debootstrap: trust what the host trusts, no PEP 668 marker, no apt caches.
    local_ca = os.path.join(rootfs, "usr/local/share/ca-certificates")
    os.makedirs(local_ca, exist_ok=True)
    shutil.copyfile(base_image.HOST_CA_BUNDLE, os.path.join(local_ca, "eeforge-host-bundle.crt"))
    shutil.copyfile(base_image.HOST_CA_BUNDLE, os.path.join(rootfs, "etc/ssl/certs/ca-certificates.crt"))
    for marker in glob.glob(os.path.join(rootfs, "usr/lib/python3*/EXTERNALLY-MANAGED")):
        os.remove(marker)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in glob.glob(os.path.join(rootfs, junk, "*")):
            if os.path.isfile(entry):
                os.remove(entry)


def _run(argv, timeout=3600):
    res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    if res.returncode != 0:
        tail = (res.stdout + res.stderr).strip().splitlines()[-5:]
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(argv[:3]), res.returncode, " | ".join(tail)))
    return res


def debootstrap_arm64(rootfs, log=print):
    """Build an arm64 rootfs: foreign first stage natively, second stage emulated.

    Returns ``{"first_stage_s": ..., "second_stage_s": ...}``.
    """
    check_binfmt(ENTRIES[ARCH])
    started = time.monotonic()
    _run(
        [
            "debootstrap", "--arch=" + ARCH, "--variant=minbase", "--foreign",
            "--include=" + ",".join(base_image.PACKAGES), base_image.SUITE, rootfs, base_image.MIRROR,
        ]
    )
    first = time.monotonic() - started
    log("arm64 debootstrap first stage: %.0f s; second stage runs emulated" % first)
    # No qemu-aarch64-static copied into the rootfs: the F flag keeps the host's open.
    _run(["chroot", rootfs, "/debootstrap/debootstrap", "--second-stage"])
    second = time.monotonic() - started - first
    _finish_rootfs(rootfs)
    return {"first_stage_s": round(first, 1), "second_stage_s": round(second, 1)}


def _image_recipe(ref, env):
    res = podman(["image", "inspect", "--format", "{{json .Labels}}", ref], env=env, check=False)
    if res.returncode != 0:
        return None
    return (json.loads(res.stdout.strip() or "{}") or {}).get(base_image.RECIPE_LABEL)


def ensure_arm64_base_image(env=None, log=print):
    """Return the reference of the local arm64 base image, building or importing it when needed."""
    ref = image_ref()
    digest = recipe_digest()
    if _image_recipe(ref, env) == digest:
        return ref
    tarball = tarball_path()
    if not os.path.exists(tarball):
        log("building the arm64 base image with debootstrap --foreign (cached in %s)" % tarball)
        workdir = tempfile.mkdtemp(prefix="eeforge-debootstrap-arm64-", dir=base_image.cache_dir())
        try:
            rootfs = os.path.join(workdir, "rootfs")
            times = debootstrap_arm64(rootfs, log=log)
            log("arm64 rootfs built: %s" % times)
            partial = tarball + ".partial"
            _run(["tar", "-C", rootfs, "--numeric-owner", "-cf", partial, "."])
            os.rename(partial, tarball)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    log("importing %s" % ref)
    podman(
        [
            "import",
            "--arch", ARCH,
            "--os", "linux",
            "--change", "CMD [\"/bin/bash\"]",
            "--change", "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
            "--change", "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            "--change", "LABEL %s=%s" % (base_image.RECIPE_LABEL, digest),
            tarball,
            ref,
        ],
        env=env,
    )
    return ref


def image_platform(ref, env=None):
    out = podman(["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", ref], env=env).stdout
    return out.strip()


def push_base_manifest(registry_location, repository="eeforge/base", tag=None, env=None, log=print):
    """Push a manifest list (linux/amd64 + linux/arm64 harness bases) to a registry; return its reference.

    The local manifest list is removed again; the two images stay (they are the cache).
    """
    amd64 = base_image.ensure_base_image(env=env, log=log)
    arm64 = ensure_arm64_base_image(env=env, log=log)
    tag = tag or "%s-multiarch-%s" % (base_image.SUITE, base_image.recipe_digest())
    dest = "%s/%s:%s" % (registry_location, repository, tag)
    local = "%s:%s" % (MANIFEST_NAME, tag)
    podman(["manifest", "rm", local], env=env, check=False)
    podman(["manifest", "create", local], env=env)
    try:
        for ref in (amd64, arm64):
            podman(["manifest", "add", local, "containers-storage:" + ref], env=env)
        podman(["manifest", "push", "--all", "--tls-verify=false", local, "docker://" + dest], env=env)
    finally:
        podman(["manifest", "rm", local], env=env, check=False)
    return dest
