# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the process running ee_builder_preflight was given, read from /proc, /dev and the store
(pure parsers of that text, and two small live checks: a user namespace and /dev/fuse)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import os
import re

CLONE_NEWUSER = 0x10000000


def read_text(path, default=None):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return default


def store_paths_from_conf(text):
    """(graphroot, runroot) set in containers-storage.conf(5) text, or None when either is missing."""
    graph = re.search(r'^\s*graphroot\s*=\s*"([^"]+)"', text or "", re.M)
    run = re.search(r'^\s*runroot\s*=\s*"([^"]+)"', text or "", re.M)
    if graph and run:
        return graph.group(1), run.group(1)
    return None


def existing_driver(graphroot):
    """The driver whose layers the store at ``graphroot`` already holds ('overlay', 'vfs') or None."""
    for driver in ("overlay", "vfs"):
        layers = read_text(os.path.join(graphroot, "%s-layers" % driver, "layers.json"))
        if layers and layers.strip() not in ("", "[]"):
            return driver
    return None


def filesystem_type(path, mountinfo_text):
    """Type of the filesystem ``path`` is on, from /proc/self/mountinfo text (longest mount point wins)."""
    best, fstype = "", None
    path = os.path.abspath(path)
    for line in (mountinfo_text or "").splitlines():
        fields = line.split(" - ", 1)
        head = fields[0].split()
        if len(fields) != 2 or len(head) < 5:
            continue
        point = head[4].replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fstype = point, fields[1].split()[0]
    return fstype


def mount_points_below(path, mountinfo_text):
    """Mount points at or below ``path`` in /proc/self/mountinfo text."""
    path = os.path.abspath(path).rstrip("/")
    points = []
    for line in (mountinfo_text or "").splitlines():
        head = line.split(" - ", 1)[0].split()
        if len(head) >= 5:
            point = head[4].replace("\\040", " ")
            if point == path or point.startswith(path + "/"):
                points.append(point)
    return points


def existing_store_dir(path):
    """``path`` or its nearest existing parent (the store may not exist yet)."""
    while path and not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path or "/"


def proc_status_field(status_text, field):
    """Value of ``field`` in /proc/self/status text, or None."""
    for line in (status_text or "").splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


def try_user_namespace():
    """Really create a user namespace (in a forked child); return (True, '') or (False, reason)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        unshare = libc.unshare
    except (OSError, AttributeError) as exc:
        return True, "cannot load libc to check (%s)" % exc
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only reports through its exit status
        code = 0
        try:
            if unshare(CLONE_NEWUSER) != 0:
                code = ctypes.get_errno() or 255
        finally:
            os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 255
    if code == 0:
        return True, ""
    return False, "unshare(CLONE_NEWUSER) failed: %s" % (os.strerror(code) if code != 255 else "killed")


def uses_mount_program(graphroot):
    """True when containers-storage chose a mount program (fuse-overlayfs) for the overlay store at ``graphroot``."""
    return (read_text(os.path.join(graphroot, "overlay", ".has-mount-program"), "") or "").strip() == "true"


def has_capability(status_text, bit):
    value = proc_status_field(status_text, "CapEff")
    if value is None:
        return False
    return bool(int(value, 16) & (1 << bit))


def parse_id_map(text):
    """/proc/self/uid_map text -> list of (inside, outside, count)."""
    ranges = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and all(part.isdigit() for part in parts):
            ranges.append(tuple(int(part) for part in parts))
    return ranges


def mapped_ids(id_map):
    return sum(count for _inside, _outside, count in id_map)


def in_container():
    """True inside a podman/docker/Kubernetes container (how AWX runs jobs)."""
    if os.path.exists("/run/.containerenv") or os.path.exists("/.dockerenv"):
        return True
    if os.environ.get("container") or os.environ.get("KUBERNETES_SERVICE_HOST"):
        return True
    return False


def dev_fuse_state(path="/dev/fuse"):
    """('usable'|'missing'|'denied', detail) for the FUSE device."""
    if not os.path.exists(path):
        return "missing", "%s does not exist" % path
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError as exc:
        return "denied", "%s cannot be opened: %s" % (path, exc.strerror)
    os.close(fd)
    return "usable", "%s can be opened" % path
