# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a test run may not leave behind: containers, registry processes, temp dirs."""

from __future__ import annotations

import glob
import os
import subprocess
import tempfile

from .podman_env import list_containers

TEMP_PATTERNS = ("eeforge-*", "ansible-builder-*", "ee-build-*", "awx-standin-*")


def registry_processes():
    res = subprocess.run(["pgrep", "-a", "-f", "docker-registry serve"], capture_output=True, text=True, check=False)
    return [line for line in res.stdout.splitlines() if line.strip()]


def standin_processes():
    res = subprocess.run(["pgrep", "-a", "-f", "tests.awx_standin"], capture_output=True, text=True, check=False)
    return [line for line in res.stdout.splitlines() if line.strip() and "pgrep" not in line]


def temp_dirs():
    found = []
    for pattern in TEMP_PATTERNS:
        found += glob.glob(os.path.join(tempfile.gettempdir(), pattern))
    return sorted(found)


def leftovers():
    """Return a dict of what is left behind (empty when clean)."""
    found = {
        "containers": list_containers(),
        "registry processes": registry_processes(),
        "stand-in AWX processes": standin_processes(),
        "temp dirs": temp_dirs(),
    }
    return {key: value for key, value in found.items() if value}
