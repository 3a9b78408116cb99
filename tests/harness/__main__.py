# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Harness commands for the Makefile: ``python -m tests.harness {base-image,podman-conf DIR,check-clean}``."""

from __future__ import annotations

import json
import os
import sys

from .base_image import ensure_base_image
from .leftovers import image_counts, leftovers
from .podman_env import write_podman_config


def main(argv):
    if not argv:
        sys.stderr.write("usage: python -m tests.harness {base-image|podman-conf DIR|snapshot FILE|check-clean [FILE]}\n")
        return 2
    cmd = argv[0]
    if cmd == "base-image":
        print(ensure_base_image(log=lambda msg: sys.stderr.write(msg + "\n")))
        return 0
    if cmd == "podman-conf":
        for key, value in write_podman_config(argv[1], argv[2:]).items():
            print("export %s=%s" % (key, value))
        return 0
    if cmd == "snapshot":
        # What exists before the tests run is not theirs to clean (another job on the machine).
        with open(argv[1], "w", encoding="utf-8") as handle:
            json.dump(leftovers(), handle)
        print("images before the tests: %s" % json.dumps(image_counts(), sort_keys=True))
        return 0
    if cmd == "check-clean":
        left = leftovers()
        if len(argv) > 1 and os.path.exists(argv[1]):
            with open(argv[1], encoding="utf-8") as handle:
                before = json.load(handle)
            left = {key: [v for v in value if v not in before.get(key, [])] for key, value in left.items()}
            left = {key: value for key, value in left.items() if value}
        print("images after the tests: %s" % json.dumps(image_counts(), sort_keys=True))
        if left:
            for key, value in left.items():
                sys.stderr.write("left behind: %s: %s\n" % (key, ", ".join(value)))
            return 1
        print("check-clean: no containers, registry processes, stand-in servers, temp dirs, tag locks, untagged or "
              "test images left behind")
        return 0
    sys.stderr.write("unknown command %r\n" % cmd)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
