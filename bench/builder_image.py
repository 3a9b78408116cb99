# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The builder EE's layer count above the base image, its size, and its size against a straightforward build.

One run, both on the harness's Debian base image:
  - the builder EE from execution-environment.yaml, built by playbooks/build_builder_ee.yml
    (eeforge.builder.ee_build, squash: new); reused when it is up to date (the tests' tag);
  - a straightforward builder Containerfile with the same content, one RUN per step, as people
    write it by hand (apt-get install with recommends, pip with its cache, setcap in their own steps).
Prints layers above the base, size (total and above the base), build time, and the size ratio
ours / straightforward (target: <= 0.7; layers above the base: <= 2).

With --cold it also builds the builder EE once more under another tag without podman's layer cache
(``builder_ee_no_cache``) and prints that time: the cold build time of a first mover.

Usage: bench/builder_image [--keep] [--cold]   (runs this file with the .venv Python; --keep keeps the
straightforward image, tagged localhost/eeforge-bench-straight-builder:1)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.demo import BUILDER_LOCAL_TAG, build_builder_image, image_facts, stable_tarball  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.base_image import ensure_base_image  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.collections import (  # noqa: E402  pylint: disable=wrong-import-position
    build_this_collection,
    pack_installed_collection,
)
from tests.harness.podman_env import write_podman_config  # noqa: E402  pylint: disable=wrong-import-position

STRAIGHT_TAG = "localhost/eeforge-bench-straight-builder:1"
COLD_TAG = "localhost/eeforge-bench-builder:cold"

# The same packages, Python distributions, collections and set-up as execution-environment.yaml.
STRAIGHTFORWARD = """\
FROM {base}
RUN apt-get update
RUN apt-get install -y podman buildah fuse-overlayfs skopeo uidmap libcap2-bin
RUN pip3 install ansible-core ansible-runner
RUN pip3 install ansible-builder awxkit
COPY collections /tmp/collections
RUN ansible-galaxy collection install -p /usr/share/ansible/collections /tmp/collections/*.tar.gz
RUN chmod u-s /usr/bin/newuidmap /usr/bin/newgidmap
RUN setcap cap_setuid+ep /usr/bin/newuidmap
RUN setcap cap_setgid+ep /usr/bin/newgidmap
COPY storage.conf /etc/containers/storage.conf
ENV BUILDAH_ISOLATION=chroot CONTAINERS_STORAGE_CONF=/etc/containers/storage.conf
VOLUME /var/lib/containers
"""


def mb(size):
    return "%.0f MB" % (size / 1e6)


def build_straightforward(base, tarballs, workdir):
    context = os.path.join(workdir, "straight")
    os.makedirs(os.path.join(context, "collections"))
    for path in tarballs.values():
        shutil.copy(path, os.path.join(context, "collections"))
    shutil.copy(os.path.join(REPO, "builder", "storage.conf"), context)
    with open(os.path.join(context, "Containerfile"), "w", encoding="utf-8") as handle:
        handle.write(STRAIGHTFORWARD.format(base=base))
    started = time.time()
    res = subprocess.run(["podman", "build", "--layers", "-t", STRAIGHT_TAG, context],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError("straightforward build failed:\n%s\n%s" % (res.stdout[-3000:], res.stderr[-3000:]))
    return time.time() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the straightforward image")
    parser.add_argument("--cold", action="store_true", help="also time a build without the layer cache")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="eeforge-bench-builder-")
    try:
        os.environ.update(write_podman_config(os.path.join(workdir, "podman")))
        os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".cache", "collections"))
        base = ensure_base_image(log=lambda msg: print("  " + msg))
        raw = os.path.join(workdir, "raw")
        tarballs = {
            "eeforge.builder": stable_tarball(build_this_collection(raw), os.path.join(workdir, "collections")),
            "containers.podman": stable_tarball(pack_installed_collection("containers", "podman", raw),
                                                os.path.join(workdir, "collections")),
        }
        ours = build_builder_image(BUILDER_LOCAL_TAG, base, tarballs, workdir)
        seconds = build_straightforward(base, tarballs, workdir)
        straight = image_facts(STRAIGHT_TAG, base)
        base_size = ours["size"] - ours["size_above_base"]
        print("base image                 %s: %s" % (base, mb(base_size)))
        print("builder EE (ours)          %s: %s layers above the base, %s (%s above the base), %s"
              % (ours["ref"], ours["layers_above_base"], mb(ours["size"]), mb(ours["size_above_base"]),
                 "built in %.0fs" % ours["seconds"] if ours["built"] else "up to date, not rebuilt"))
        print("straightforward build      %s: %s layers above the base, %s (%s above the base), built in %.0fs"
              % (STRAIGHT_TAG, straight["layers_above_base"], mb(straight["size"]), mb(straight["size_above_base"]),
                 seconds))
        print("size ratio ours/straightforward: %.2f (target <= 0.70); above the base only: %.2f"
              % (ours["size"] / straight["size"], ours["size_above_base"] / straight["size_above_base"]))
        print("layers above the base: %s (target <= 2)" % ours["layers_above_base"])
        if args.cold:
            cold = build_builder_image(COLD_TAG, base, tarballs, workdir, no_cache=True)
            print("cold build (no layer cache) %s: %.0fs (podman build %.0fs), %s layers above the base, %s"
                  % (COLD_TAG, cold["seconds"], cold["build_duration"] or 0, cold["layers_above_base"],
                     mb(cold["size"])))
        return 0
    finally:
        if not args.keep:
            subprocess.run(["podman", "rmi", "--force", STRAIGHT_TAG], capture_output=True, check=False)
        subprocess.run(["podman", "rmi", "--force", COLD_TAG], capture_output=True, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
