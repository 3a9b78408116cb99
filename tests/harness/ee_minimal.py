# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in for an "ee-minimal" base image (registry.redhat.io/ansible-automation-platform-24/ee-minimal-rhel9).

What infra.ee_utilities' examples and the builder-EE blog playbook build on is a minimal EE: an OS, Python,
ansible-core and ansible-runner, nothing else. Those registries cannot be reached here, so the harness makes the
same kind of image from its debootstrap base (tests/harness/base_image.py) and caches it in local storage,
re-built only when this recipe changes. The tests push it to the harness registry under the path the material
names, with only the registry host swapped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

from .podman_env import podman

IMAGE_NAME = "localhost/eeforge-test-ee-minimal"
RECIPE_LABEL = "io.eeforge.test.recipe"
PACKAGES = ("ansible-core==2.19.14", "ansible-runner==2.4.3")
CONTAINERFILE = """\
FROM {base}
RUN /usr/bin/python3 -m pip install --no-cache-dir {packages} \\
 && mkdir -p /runner && chmod 0775 /runner
WORKDIR /runner
LABEL {label}={recipe}
"""


def recipe_digest(base_ref):
    recipe = {"base": base_ref, "packages": list(PACKAGES), "containerfile": CONTAINERFILE}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def ensure_ee_minimal_image(base_ref, env=None, log=print):
    """Return the reference of the local ee-minimal image built on ``base_ref``, building it when needed."""
    digest = recipe_digest(base_ref)
    ref = "%s:%s" % (IMAGE_NAME, digest)
    res = podman(["image", "inspect", "--format", "{{json .Labels}}", ref], env=env, check=False)
    if res.returncode == 0 and (json.loads(res.stdout.strip() or "{}") or {}).get(RECIPE_LABEL) == digest:
        return ref
    log("building %s (ansible-core and ansible-runner on the harness base)" % ref)
    context = tempfile.mkdtemp(prefix="eeforge-ee-minimal-")
    try:
        with open(os.path.join(context, "Containerfile"), "w", encoding="utf-8") as handle:
            handle.write(CONTAINERFILE.format(base=base_ref, packages=" ".join(PACKAGES), label=RECIPE_LABEL,
                                              recipe=digest))
        podman(["build", "--pull=never", "--layers=false", "-t", ref, context], env=env, timeout=1800)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return ref
