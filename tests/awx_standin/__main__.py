# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m tests.awx_standin [--host H] [--port N] [--password P] [--projects-root DIR]``.

Prints one JSON line (url, username, password, token, projects_root) once it listens, then
serves until SIGTERM/SIGINT. Control endpoints (no auth, not logged): GET /_standin/requests/,
POST /_standin/reset/, POST /_standin/inject/ {"path_prefix", "actions", "method", "delay"}.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .server import StandIn


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.awx_standin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="password")
    parser.add_argument("--projects-root", default=None)
    args = parser.parse_args(argv)
    standin = StandIn(host=args.host, port=args.port, username=args.username, password=args.password,
                      projects_root=args.projects_root)
    standin.start()

    done = threading.Event()

    def _stop(signum, frame):  # pylint: disable=unused-argument
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(json.dumps({"url": standin.url, "username": standin.username, "password": standin.password,
                      "token": standin.token, "projects_root": standin.projects_root}), flush=True)
    try:
        done.wait()
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
