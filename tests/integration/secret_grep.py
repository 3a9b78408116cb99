# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prove a secret was left in no file: run a module with every temp dir it (and ansible) may use
pointed into one directory, then read every file below it.

``scratch_env(root)`` gives the environment for the ansible run: ``TMPDIR`` (Python's tempfile,
podman, skopeo), ``ANSIBLE_LOCAL_TEMP`` and ``ANSIBLE_REMOTE_TEMP`` (where AnsiballZ writes the
module and its arguments, passwords included, for the run) all below ``root``.
``files_containing(secret, *roots)`` lists the files below ``roots`` whose bytes contain ``secret``
(plain, or base64 as in an auth.json); ``leftovers(root)`` lists what is still there afterwards.
"""

from __future__ import annotations

import base64
import os


def scratch_env(root):
    """Environment variables that put every temp file of an ansible run below ``root``."""
    for name in ("tmp", "ansible-local", "ansible-remote"):
        os.makedirs(os.path.join(str(root), name), exist_ok=True)
    return {"TMPDIR": os.path.join(str(root), "tmp"),
            "ANSIBLE_LOCAL_TEMP": os.path.join(str(root), "ansible-local"),
            "ANSIBLE_REMOTE_TEMP": os.path.join(str(root), "ansible-remote")}


def _needles(secret, username=None):
    needles = [secret.encode()]
    if username is not None:  # how auth.json / config.json store it
        needles.append(base64.b64encode(("%s:%s" % (username, secret)).encode()))
    return needles


def files_containing(secret, *roots, username=None):
    """Paths of the regular files below ``roots`` whose content holds ``secret``; also returns the
    number of files read, so a caller can tell an empty search from a clean one."""
    hits, read = [], 0
    for root in roots:
        for dirpath, _dirs, files in os.walk(str(root)):
            for name in files:
                path = os.path.join(dirpath, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                with open(path, "rb") as handle:
                    data = handle.read()
                read += 1
                if any(needle in data for needle in _needles(secret, username)):
                    hits.append(path)
    return hits, read


def leftovers(root):
    """Files and directories still below ``root`` (relative paths), after a run that should have
    removed everything it made there."""
    found = []
    for dirpath, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(dirpath, name), str(root)))
    return sorted(found)
