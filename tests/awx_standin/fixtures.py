# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest fixtures for the stand-in AWX (exposed to tests/integration by its conftest.py).

``awx_standin`` (function scope) yields the one session-wide ``StandIn`` server, reset to a fresh
AWX 24.6.1 install before each test (in memory: about a millisecond). Its API:

- ``.url``                ``http://127.0.0.1:PORT`` (controller_host); ``.host``, ``.port``
- ``.username`` / ``.password``   ``admin`` / ``password`` (a superuser; basic auth)
- ``.token``              a valid OAuth2 bearer token of admin (``Authorization: Bearer ...``)
- ``.projects_root``      PROJECTS_ROOT (manual projects' ``local_path`` dirs live here);
  ``.add_project_dir(name, {relpath: text})`` makes one
- ``.requests``           list of ``Request(method, path, status, fault, body)`` the clients sent (path
  with query string; status None for an injected timeout/reset; body = the parsed JSON request body, or
  None); the fixture's own helpers are not logged
- ``.count(method=None, path_prefix=None, status=None)``   how many logged requests match
- ``.writes(path_prefix=None)``   logged POST/PUT/PATCH/DELETE requests
- ``.clear_requests()``   empty the log (e.g. after a first, changing run)
- ``.inject(path_prefix, actions, method=None, delay=30.0)``   the next matching requests get
  ``actions`` in order, then normal answers: an HTTP status (``[503, 503]``: an HTML error page),
  ``"timeout"`` (no answer for ``delay`` s, then the connection closes) or ``"reset"`` (TCP RST)
- ``.reset()``            fresh objects, empty log, no faults, new ``.token``, empty projects root
- ``.get(path, **params)`` / ``.post(path, body)`` / ``.patch(path, body)`` / ``.put`` / ``.delete(path)``
  unlogged admin calls returning the parsed JSON (AssertionError on a 4xx/5xx answer);
  ``.request(method, path, body=None, token=None, auth=True)`` returns ``(status, body)`` instead;
  ``.find(resource, **filters)`` returns the one matching object or None
- ``.store``              the in-memory store (``.store.objects[resource][id]`` holds raw objects,
  including secrets: ``.store.objects["credentials"][3]["inputs"]["password"]``)

Seed objects have the ids of a fresh install: organization 1 "Default", credential types 1-30
(Container Registry 18, Machine 1, Kubernetes bearer token 17), credentials 1 "Demo Credential"
and 2 "Ansible Galaxy", EEs 1 "AWX EE (latest)" and 2 "Control Plane Execution Environment"
(managed), inventory 1 "Demo Inventory", project 6 "Demo Project", job template 7 "Demo Job
Template", instance groups 1 "controlplane" and 2 "default". New objects continue from there.

``awx_standin_process`` (function scope) runs ``python -m tests.awx_standin`` as a separate process
for tests that need a server outside pytest (ansible-runner in a container); it yields a dict with
``url``, ``username``, ``password``, ``token``, ``projects_root`` and ``control`` (a function
``control(method, path, body=None)`` for the /_standin/ endpoints), and stops the process after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from .server import StandIn

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def awx_standin_server():
    """The session's stand-in server (prefer ``awx_standin``, which resets it for each test)."""
    standin = StandIn().start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def awx_standin(awx_standin_server):  # pylint: disable=redefined-outer-name
    """The stand-in AWX, fresh for this test (see the module docstring for its API)."""
    awx_standin_server.reset()
    yield awx_standin_server
    awx_standin_server.reset()


@pytest.fixture
def awx_standin_process():
    """A stand-in AWX in its own process (``python -m tests.awx_standin``), stopped after the test."""
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "tests.awx_standin", "--port", "0"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("stand-in AWX did not start: %s" % proc.stderr.read())
        info = json.loads(line)

        def control(method, path, body=None):
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(info["url"] + path, data=data, method=method)
            req.add_header("Content-Type", "application/json")
            with urllib.request.urlopen(req, timeout=30) as resp:  # nosec - loopback test server
                return json.loads(resp.read() or b"null")

        info["control"] = control
        info["pid"] = proc.pid
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()
