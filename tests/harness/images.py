# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remove the images a test session made: tags for the session's registries, and (in a CI run,
``EEFORGE_REMOVE_TEST_IMAGES=1``, which ``make integration`` sets) new test tags and new untagged images.

Tags are removed by name (``podman rmi NAME`` drops that name only), so an image that also carries a
kept tag (the cached base image, the builder EE: ``leftovers.KEPT_IMAGES``) stays. Untagged images
are removed by id without ``--force``, so one a container still uses stays. What was there before
the session is never touched: on a shared machine other runs may own it.
"""

from __future__ import annotations

import os

from .leftovers import _image_rows, is_test_image
from .podman_env import podman


def snapshot():
    """Ids and names of the images there now."""
    rows = _image_rows()
    return {"ids": {row[0] for row in rows}, "names": {name for row in rows for name in row[2]}}


def session_images(before, registry_locations, everything=None):
    """(names, ids) to remove: see the module docstring."""
    if everything is None:
        everything = os.environ.get("EEFORGE_REMOVE_TEST_IMAGES") == "1"
    prefixes = tuple("%s/" % loc for loc in registry_locations)
    names, ids = [], []
    for image_id, dangling, tags in _image_rows():
        for name in tags:
            if name.startswith(prefixes) or (everything and name not in before["names"] and is_test_image(name)):
                names.append(name)
        if everything and dangling and not tags and image_id not in before["ids"]:
            ids.append(image_id)
    return sorted(names), sorted(ids)


def remove_session_images(before, registry_locations, everything=None, log=None):
    """Remove what ``session_images`` names; then the untagged images that removal left. Returns the count."""
    names, ids = session_images(before, registry_locations, everything)
    untagged = 0
    removed = sum(podman(["rmi", name], check=False).returncode == 0 for name in names)
    if everything:
        # Untagging can leave images untagged (the previous build of a tag): those are the session's too.
        ids = sorted(set(ids) | set(session_images(before, (), True)[1]))
    untagged = sum(podman(["rmi", image_id], check=False).returncode == 0 for image_id in ids)
    if log and (names or ids):
        log("session images: removed %d of %d test tags and %d of %d untagged images the session made"
            % (removed, len(names), untagged, len(ids)))
    return removed + untagged
