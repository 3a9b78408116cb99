# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a test run may not leave behind: containers, registry processes, temp dirs, held tag
locks, and images: untagged (dangling) ones and test images (see ``images``)."""

from __future__ import annotations

import errno
import fcntl
import glob
import os
import re
import subprocess
import tempfile
import time

from .podman_env import list_containers, podman

TEMP_PATTERNS = ("eeforge-*", "ansible-builder-*", "ee-build-*", "awx-standin-*")
# The directory of eeforge.builder's tag locks (plugins/module_utils/_lock.py): it stays, by design;
# what is in it is checked by held_locks().
LOCK_DIR_PATTERN = "eeforge-locks-*"

# Images the suite keeps between runs on purpose (caches): the debootstrap base image(s)
# (tests/harness/base_image.py), the builder EE (tests/integration/builder_fixtures.py) and the
# harness ee-minimal image (tests/integration/test_ee_utilities_material.py), the sigstore verifier
# (tests/harness/sigstore_verifier.py).
KEPT_IMAGES = (
    re.compile(r"^localhost/eeforge-test-base(-[a-z0-9]+)?:"),
    re.compile(r"^localhost/eeforge-builder-ee:test$"),
    re.compile(r"^localhost/eeforge-test-ee-minimal:"),
    re.compile(r"^localhost/eeforge-test-sigstore-verifier:"),
)
# Test images: local eeforge-* tags, and anything tagged for a harness registry (loopback, any
# port, or 10.0.2.2 as containers in slirp4netns reach them).
TEST_IMAGES = (
    re.compile(r"^localhost/eeforge-"),
    re.compile(r"^(127\.0\.0\.1|localhost|10\.0\.2\.2):[0-9]+/"),
)


def registry_processes():
    res = subprocess.run(["pgrep", "-a", "-f", "docker-registry serve"], capture_output=True, text=True, check=False)
    return [line for line in res.stdout.splitlines() if line.strip()]


def standin_processes():
    res = subprocess.run(["pgrep", "-a", "-f", "tests.awx_standin"], capture_output=True, text=True, check=False)
    return [line for line in res.stdout.splitlines() if line.strip() and "pgrep" not in line]


def temp_dirs():
    found = []
    for pattern in TEMP_PATTERNS:
        found += [path for path in glob.glob(os.path.join(tempfile.gettempdir(), pattern))
                  if not glob.fnmatch.fnmatch(os.path.basename(path), LOCK_DIR_PATTERN)]
    return sorted(found)


def lock_dirs():
    """eeforge.builder's tag lock directories for this user (tempdir and XDG_RUNTIME_DIR)."""
    found = glob.glob(os.path.join(tempfile.gettempdir(), LOCK_DIR_PATTERN))
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        found += glob.glob(os.path.join(runtime, "eeforge-locks"))
    return sorted(found)


def held_locks(directories=None):
    """Lock files some process holds right now (``path (pid N)``), and stale ones nobody holds.

    ee_build removes its lock file on release, so a file there is either held (a build is
    running, or one did not release) or left by a process that was killed with SIGKILL.
    """
    found = []
    for directory in lock_dirs() if directories is None else directories:
        for path in sorted(glob.glob(os.path.join(directory, "*.lock"))):
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                state = "stale"
            except OSError as exc:
                state = "held" if exc.errno in (errno.EAGAIN, errno.EACCES) else "unreadable"
            finally:
                os.close(fd)
            with open(path, encoding="utf-8", errors="replace") as handle:
                pid = handle.readline().strip()
            found.append("%s %s (pid %s)" % (state, path, pid or "unknown"))
    return found


def _image_rows(attempts=5):
    """(id, dangling, [names]) for every image; retried, since podman 4.3 fails a listing when
    another user of the storage removes an image meanwhile."""
    for attempt in range(attempts):
        proc = podman(["images", "-a", "--no-trunc", "--format", "{{.ID}} {{.Dangling}} {{.Repository}}:{{.Tag}}"],
                      check=False)
        if proc.returncode == 0:
            rows = {}
            for line in proc.stdout.splitlines():
                parts = line.split()
                if len(parts) != 3:
                    continue
                image_id, dangling, name = parts
                entry = rows.setdefault(image_id, [dangling == "true", []])
                if name != "<none>:<none>":
                    entry[1].append(name)
            return [(image_id, dangling, names) for image_id, (dangling, names) in rows.items()]
        time.sleep(1 + attempt)
    raise RuntimeError("podman images failed %d times: %s" % (attempts, proc.stderr.strip()))


def is_test_image(name):
    return any(p.match(name) for p in TEST_IMAGES) and not any(p.match(name) for p in KEPT_IMAGES)


def images():
    """``dangling <id>`` for untagged images nothing builds on, ``test image <name>`` for test tags."""
    found = []
    for image_id, dangling, names in _image_rows():
        if dangling and not names:
            found.append("dangling %s" % image_id)
        found += ["test image %s" % name for name in names if is_test_image(name)]
    return sorted(found)


def image_counts():
    """How many images (all, tagged, dangling) the storage holds: for the notes and the CI log."""
    rows = _image_rows()
    return {"all": len(rows), "tagged": sum(1 for r in rows if r[2]), "dangling": sum(1 for r in rows if r[1])}


def leftovers():
    """Return a dict of what is left behind (empty when clean)."""
    found = {
        "containers": list_containers(),
        "registry processes": registry_processes(),
        "stand-in AWX processes": standin_processes(),
        "temp dirs": temp_dirs(),
        "held or stale tag locks": held_locks(),
        "images": images(),
    }
    return {key: value for key, value in found.items() if value}
