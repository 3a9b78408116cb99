# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A podman that verifies sigstore signatures, for the tests: Debian 13's podman in a container.

Debian 12's podman 4.3.1 and skopeo 1.9.3 are built with sigstore disabled ("Debian-local change:
sigstore disabled"), for signing and verifying. Debian 13 (trixie) builds podman 5.4 and skopeo 1.18
with it (its containers/image depends on the sigstore, fulcio and rekor libraries). So the harness
debootstraps a trixie minbase with podman and skopeo from deb.debian.org (one of the package
registries these machines reach), caches the rootfs tarball under the cache directory, imports it,
and runs ``podman pull`` in a container of it: what an execution node with a sigstore-enabled podman
does when it pulls an EE under a ``sigstoreSigned`` policy.

The container runs as root with ``--privileged`` (the inner podman needs to mount its vfs storage; a
test tool, not the product) and ``--network host`` (the harness registry is on loopback). The policy,
key and registries.d come in read-only at their own paths; the inner storage is thrown away with the
container.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile

from .base_image import MIRROR, cache_dir
from .podman_env import podman

SUITE = "trixie"
PACKAGES = ("podman", "skopeo")
IMAGE_NAME = "localhost/eeforge-test-sigstore-verifier"
RECIPE_LABEL = "io.eeforge.test.recipe"
RECIPE_VERSION = "1"


def recipe_digest():
    recipe = {"version": RECIPE_VERSION, "suite": SUITE, "mirror": MIRROR, "packages": list(PACKAGES)}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def image_ref():
    return "%s:%s-%s" % (IMAGE_NAME, SUITE, recipe_digest())


def ensure_verifier_image(log=print):
    """The reference of the verifier image, debootstrapped (about a minute) and imported when missing."""
    ref, digest = image_ref(), recipe_digest()
    res = podman(["image", "inspect", "--format", "{{json .Labels}}", ref], check=False)
    if res.returncode == 0 and (json.loads(res.stdout.strip() or "{}") or {}).get(RECIPE_LABEL) == digest:
        return ref
    tarball = os.path.join(cache_dir(), "sigstore-verifier-%s-%s.tar" % (SUITE, digest))
    if not os.path.exists(tarball):
        log("building the sigstore verifier (Debian %s podman) with debootstrap (cached in %s)" % (SUITE, tarball))
        workdir = tempfile.mkdtemp(prefix="eeforge-debootstrap-", dir=cache_dir())
        try:
            rootfs = os.path.join(workdir, "rootfs")
            subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
                            "--exclude=systemd,systemd-sysv", SUITE, rootfs, MIRROR],
                           check=True, capture_output=True, text=True, timeout=1800)
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for entry in os.listdir(os.path.join(rootfs, junk)):
                    path = os.path.join(rootfs, junk, entry)
                    if os.path.isfile(path):
                        os.remove(path)
            partial = tarball + ".partial"
            subprocess.run(["tar", "-C", rootfs, "--numeric-owner", "-cf", partial, "."], check=True)
            os.rename(partial, tarball)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    podman(["import", "--change", "LABEL %s=%s" % (RECIPE_LABEL, digest), tarball, ref])
    return ref


def verifier_version(ref):
    return podman(["run", "--rm", "--network", "none", ref, "podman", "--version"]).stdout.strip()


def sigstore_pull(ref, image, policy, home, mounts=(), tls_verify=False, timeout=300):
    """``podman pull image`` in the verifier under ``policy`` (a containers-policy.json(5) file), with
    ``home``'s ``.config/containers/registries.d`` (``use-sigstore-attachments``). ``mounts``: more
    host paths the policy names (its keyPath), mounted read-only at the same path.

    Returns the CompletedProcess (rc 0: the policy accepted the image).
    """
    argv = ["run", "--rm", "--privileged", "--network", "host", "--env", "HOME=" + home,
            "--env", "PODMAN_IGNORE_CGROUPSV1_WARNING=1"]
    for path in {os.path.dirname(os.path.abspath(policy)), home} | set(mounts):
        argv += ["--volume", "%s:%s:ro" % (path, path)]
    argv += [ref, "podman", "--storage-driver", "vfs", "pull", "--tls-verify=%s" % str(tls_verify).lower(),
             "--signature-policy", policy, image]
    return podman(argv, check=False, timeout=timeout)
