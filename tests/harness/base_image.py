# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local Debian base image for EE builds, since quay.io and registry.redhat.io are out of reach.

debootstrap (minbase, python3, pip, venv) -> host CA bundle copied in -> PEP 668 marker
removed -> ``podman import``.  The rootfs tarball is cached under the cache directory and
the image is re-imported only when missing; both are rebuilt only when the recipe changes.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

from .podman_env import podman

SUITE = "bookworm"
MIRROR = os.environ.get("EEFORGE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("python3", "python3-pip", "python3-venv")
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
IMAGE_NAME = "localhost/eeforge-test-base"
RECIPE_LABEL = "io.eeforge.test.recipe"
# Bump when the steps below change in a way the recipe text does not show.
RECIPE_VERSION = "3"


def cache_dir():
    path = os.environ.get("EEFORGE_CACHE", "/var/cache/eeforge-tests")
    os.makedirs(path, exist_ok=True)
    return path


def recipe_digest():
    recipe = {
        "version": RECIPE_VERSION,
        "suite": SUITE,
        "mirror": MIRROR,
        "packages": list(PACKAGES),
    }
    if os.path.exists(HOST_CA_BUNDLE):
        with open(HOST_CA_BUNDLE, "rb") as handle:
            recipe["ca"] = hashlib.sha256(handle.read()).hexdigest()
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def image_ref():
    return "%s:%s-%s" % (IMAGE_NAME, SUITE, recipe_digest())


def _image_recipe(ref, env):
    res = podman(["image", "inspect", "--format", "{{json .Labels}}", ref], env=env, check=False)
    if res.returncode != 0:
        return None
    labels = json.loads(res.stdout.strip() or "{}") or {}
    return labels.get(RECIPE_LABEL)


def _debootstrap(rootfs):
    subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), SUITE, rootfs, MIRROR],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    # Trust what the host trusts (pip and apt in containers go through a TLS proxy here);
    # kept in /usr/local/share/ca-certificates so that update-ca-certificates keeps it too.
    local_ca = os.path.join(rootfs, "usr/local/share/ca-certificates")
    os.makedirs(local_ca, exist_ok=True)
    shutil.copyfile(HOST_CA_BUNDLE, os.path.join(local_ca, "eeforge-host-bundle.crt"))
    shutil.copyfile(HOST_CA_BUNDLE, os.path.join(rootfs, "etc/ssl/certs/ca-certificates.crt"))
    for marker in glob.glob(os.path.join(rootfs, "usr/lib/python3*/EXTERNALLY-MANAGED")):
        os.remove(marker)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        path = os.path.join(rootfs, junk)
        for entry in glob.glob(os.path.join(path, "*")):
            if os.path.isfile(entry):
                os.remove(entry)


def ensure_base_image(env=None, log=print):
    """Return the reference of the local base image, building or importing it when needed."""
    ref = image_ref()
    digest = recipe_digest()
    if _image_recipe(ref, env) == digest:
        return ref
    tarball = os.path.join(cache_dir(), "base-%s-%s.tar" % (SUITE, digest))
    if not os.path.exists(tarball):
        log("building the local base image with debootstrap (cached in %s)" % tarball)
        workdir = tempfile.mkdtemp(prefix="eeforge-debootstrap-", dir=cache_dir())
        try:
            rootfs = os.path.join(workdir, "rootfs")
            _debootstrap(rootfs)
            partial = tarball + ".partial"
            subprocess.run(["tar", "-C", rootfs, "--numeric-owner", "-cf", partial, "."], check=True)
            os.rename(partial, tarball)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    log("importing %s" % ref)
    podman(
        [
            "import",
            "--change", "CMD [\"/bin/bash\"]",
            "--change", "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
            "--change", "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            "--change", "LABEL %s=%s" % (RECIPE_LABEL, digest),
            tarball,
            ref,
        ],
        env=env,
    )
    return ref
