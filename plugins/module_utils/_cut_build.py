# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a ``podman build`` cut short leaves, and its removal (used by ``Engine.build``).

podman 4.3 does not clean up a build stopped by SIGTERM/SIGINT (an AWX cancel reaches every
process of the job's group) or by the timeout: the working containers (``buildah`` containers,
state ``storage``) stay with their overlay mounts, and ``buildahNNNN`` stays in its TMPDIR.
``Engine.build`` gives the build a private TMPDIR below ``podman_tmp_parent()`` and, when the
build is cut, calls ``remove_cut_build``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError


def podman_tmp_parent():
    """Where podman puts its temp files when not told (TMPDIR, else /var/tmp): same file system."""
    for path in (os.environ.get("TMPDIR"), "/var/tmp", tempfile.gettempdir()):
        if path and os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK):
            return path
    return None


def running_builds():
    """The argv (text) of every ``podman build`` / ``buildah bud|build`` running on this host."""
    found = []
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                argv = [to_text(arg, errors="surrogate_or_replace") for arg in handle.read().split(b"\0") if arg]
        except (IOError, OSError):
            continue
        if len(argv) > 1 and os.path.basename(argv[0]) in ("podman", "buildah") and \
                any(arg in ("build", "bud") for arg in argv[1:3]):
            found.append(argv)
    return found


def remove_cut_build(engine, options, since):
    """Remove the working containers a cut build of ``options`` left; return the ids left in place.

    Only builds make storage-only containers, so while no other ``podman build`` (or buildah)
    runs, every one created since ``since`` is this build's: its stages' first containers, and
    one per step taken from the layer cache, whose image carries the labels of the build that
    first made it. While another build runs, only those whose image carries all of this build's
    labels are taken (none, when that build has the same labels); the others are left, and named.
    """
    containers = _working_containers(engine, since)
    if not containers:
        return []
    others = running_builds()
    wanted = ["%s=%s" % item for item in sorted(options.labels.items())]
    same_labels_elsewhere = bool(wanted) and any(all(w in argv for w in wanted) for argv in others)
    labels_of = {}
    remove, leave = [], []
    for cid, image_id in containers:
        if not others:
            remove.append(cid)
            continue
        if image_id not in labels_of:
            info = engine.inspect(image_id) if image_id else None
            labels_of[image_id] = (info or {}).get("labels") or {}
        labels = labels_of[image_id]
        owned = bool(wanted) and all(labels.get(k) == v for k, v in options.labels.items())
        (remove if owned and not same_labels_elsewhere else leave).append(cid)
    if remove:
        engine.run(["rm", "--force"] + remove, check=False, timeout=120)
        still = set(cid for cid, _image in _working_containers(engine, since))
        leave += [cid for cid in remove if cid in still]
    return [cid[:12] for cid in leave]


def _working_containers(engine, since):
    """``(id, image id)`` of the build (``storage``-only) containers created since ``since``."""
    try:
        rc, out, _err = engine.run(["ps", "--all", "--external", "--format", "json"], check=False, timeout=60)
        entries = json.loads(out) if rc == 0 and out.strip() else []
    except (CommandError, ValueError):
        return []
    found = []
    for entry in entries if isinstance(entries, list) else []:
        created = entry.get("Created") if isinstance(entry, dict) else None
        state = "%s %s" % (entry.get("State") or "", entry.get("Status") or "") if isinstance(entry, dict) else ""
        if isinstance(created, (int, float)) and created >= int(since) - 1 and "storage" in state.lower():
            found.append((entry.get("Id") or "", (entry.get("ImageID") or "").replace("sha256:", "")))
    return [item for item in found if item[0]]
