# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stand-in AWX (tests/awx_standin) against the recorded AWX 24.6.1 contract, its test hooks,
and awxkit's own client talking to it."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time

import pytest


def _raw(standin, method, path, body=None, headers=None, timeout=10):
    """One request with http.client (logged by the stand-in, unlike its own helpers)."""
    conn = http.client.HTTPConnection(standin.host, standin.port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        ctype = resp.getheader("Content-Type") or ""
        return resp.status, (json.loads(raw) if raw and "json" in ctype else raw), resp
    finally:
        conn.close()


def _basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


def test_auth_basic_bearer_and_401(awx_standin):
    status, body, _ = _raw(awx_standin, "GET", "/api/v2/me/", headers=_basic("admin", awx_standin.password))
    assert status == 200 and body["results"][0]["username"] == "admin"
    status, body, _ = _raw(awx_standin, "GET", "/api/v2/me/", headers={"Authorization": "Bearer " + awx_standin.token})
    assert status == 200 and body["results"][0]["id"] == 1
    wrong = _raw(awx_standin, "GET", "/api/v2/me/", headers=_basic("admin", "nope"))
    missing = _raw(awx_standin, "GET", "/api/v2/me/")
    bad_token = _raw(awx_standin, "GET", "/api/v2/me/", headers={"Authorization": "Bearer nope"})
    assert wrong[0] == missing[0] == bad_token[0] == 401
    assert wrong[1] == missing[1] == bad_token[1]
    assert missing[2].getheader("WWW-Authenticate").startswith("Bearer realm=api")
    assert _raw(awx_standin, "GET", "/api/v2/ping/")[0] == 200


def test_request_log_counts_and_reset(awx_standin):
    auth = _basic("admin", awx_standin.password)
    _raw(awx_standin, "GET", "/api/v2/organizations/?name=Default", headers=auth)
    _raw(awx_standin, "POST", "/api/v2/organizations/", {"name": "org-a"}, headers=auth)
    _raw(awx_standin, "PATCH", "/api/v2/organizations/2/", {"description": "d"}, headers=auth)
    awx_standin.get("/api/v2/organizations/2/")  # the fixture's own calls are not logged
    assert awx_standin.count() == 3
    assert awx_standin.count("GET") == 1
    assert awx_standin.count(path_prefix="/api/v2/organizations/2/") == 1
    assert [(r.method, r.status) for r in awx_standin.writes()] == [("POST", 201), ("PATCH", 200)]
    assert awx_standin.requests[0].path == "/api/v2/organizations/?name=Default"
    awx_standin.reset()
    assert awx_standin.count() == 0
    assert awx_standin.find("organizations", name="org-a") is None
    assert awx_standin.post("/api/v2/organizations/", {"name": "org-b"})["id"] == 2


def test_inject_503_twice_then_normal(awx_standin):
    auth = _basic("admin", awx_standin.password)
    awx_standin.inject("/api/v2/execution_environments/", [503, 503])
    answers = [_raw(awx_standin, "GET", "/api/v2/execution_environments/", headers=auth)[0] for _ in range(3)]
    assert answers == [503, 503, 200]
    assert [r.status for r in awx_standin.requests] == [503, 503, 200]
    assert awx_standin.requests[0].fault == "status"


def test_inject_timeout_and_reset(awx_standin):
    auth = _basic("admin", awx_standin.password)
    awx_standin.inject("/api/v2/ping/", ["timeout"], delay=3)
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        _raw(awx_standin, "GET", "/api/v2/ping/", headers=auth, timeout=1)
    assert time.monotonic() - started < 2.5
    awx_standin.inject("/api/v2/ping/", ["reset"], method="GET")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected, ConnectionAbortedError)):
        _raw(awx_standin, "GET", "/api/v2/ping/")
    assert _raw(awx_standin, "GET", "/api/v2/ping/")[0] == 200
    assert [r.fault for r in awx_standin.requests] == ["timeout", "reset", None]


def test_standalone_process(awx_standin_process):
    info = awx_standin_process
    req = http.client.HTTPConnection(info["url"].split("//")[1], timeout=10)
    req.request("GET", "/api/v2/me/", headers={"Authorization": "Bearer " + info["token"]})
    resp = req.getresponse()
    assert resp.status == 200 and json.loads(resp.read())["results"][0]["username"] == "admin"
    req.close()
    assert [entry[:3] for entry in info["control"]("GET", "/_standin/requests/")] == [["GET", "/api/v2/me/", 200]]
    info["control"]("POST", "/_standin/reset/")
    assert info["control"]("GET", "/_standin/requests/") == []
