# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection tarballs for EE builds, since Galaxy is out of reach.

- this collection: ``ansible-galaxy collection build`` of the repository;
- containers.podman and awx.awx: packed from the copies the ``ansible`` PyPI package installs
  (an installed collection carries MANIFEST.json and FILES.json, which is all a tarball holds).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

GALAXY_KEYS = (
    "namespace", "name", "version", "readme", "authors", "description", "license", "license_file",
    "tags", "dependencies", "repository", "documentation", "homepage", "issues",
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bundled_collection_path(namespace, name):
    """Where the ``ansible`` package installed namespace.name, or None."""
    try:
        import ansible_collections  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    for base in list(ansible_collections.__path__):
        path = os.path.join(base, namespace, name)
        if os.path.exists(os.path.join(path, "MANIFEST.json")):
            return path
    return None


def pack_installed_collection(namespace, name, dest_dir):
    """Rebuild an installed collection into a tarball in ``dest_dir``; return its path.

    The ``ansible`` package strips tests/ and more from its copies while FILES.json still lists
    them, so the tree is rebuilt with a galaxy.yml made from MANIFEST.json's collection_info.
    """
    src = bundled_collection_path(namespace, name)
    if src is None:
        raise RuntimeError(
            "%s.%s is not installed: install the 'ansible' package (test-requirements.txt)" % (namespace, name)
        )
    with open(os.path.join(src, "MANIFEST.json"), encoding="utf-8") as handle:
        info = json.load(handle)["collection_info"]
    os.makedirs(dest_dir, exist_ok=True)
    tarball = os.path.join(dest_dir, "%s-%s-%s.tar.gz" % (namespace, name, info["version"]))
    if os.path.exists(tarball):
        return tarball
    work = tempfile.mkdtemp(prefix="eeforge-pack-")
    try:
        tree = os.path.join(work, namespace, name)
        shutil.copytree(src, tree, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "MANIFEST.json", "FILES.json"))
        galaxy = {key: info[key] for key in GALAXY_KEYS if info.get(key) not in (None, "", [])}
        galaxy.setdefault("readme", "README.md")
        galaxy.setdefault("authors", ["unknown"])
        if not galaxy.get("license") and not galaxy.get("license_file"):
            galaxy["license"] = ["GPL-3.0-or-later"]
        if not os.path.exists(os.path.join(tree, galaxy["readme"])):
            with open(os.path.join(tree, galaxy["readme"]), "w", encoding="utf-8") as handle:
                handle.write("# %s.%s\n" % (namespace, name))
        with open(os.path.join(tree, "galaxy.yml"), "w", encoding="utf-8") as handle:
            json.dump(galaxy, handle)  # JSON is YAML
        subprocess.run(
            ["ansible-galaxy", "collection", "build", "--force", "--output-path", dest_dir, tree],
            check=True, capture_output=True, text=True,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tarball


def build_this_collection(dest_dir):
    """``ansible-galaxy collection build`` of this repository; return the tarball path."""
    os.makedirs(dest_dir, exist_ok=True)
    res = subprocess.run(
        ["ansible-galaxy", "collection", "build", "--force", "--output-path", dest_dir, REPO_ROOT],
        check=True,
        capture_output=True,
        text=True,
    )
    for line in res.stdout.splitlines():
        if line.strip().endswith(".tar.gz"):
            return line.split()[-1]
    raise RuntimeError("ansible-galaxy collection build printed no tarball: %s" % res.stdout)
