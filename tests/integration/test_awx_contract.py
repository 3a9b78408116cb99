# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stand-in AWX (tests/awx_standin) against the recorded AWX 24.6.1 contract, its test hooks,
and awxkit's own client talking to it."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
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
    status, body = _raw(awx_standin, "GET", "/api/v2/me/", headers=_basic("admin", awx_standin.password))[:2]
    assert status == 200 and body["results"][0]["username"] == "admin"
    status, body = _raw(awx_standin, "GET", "/api/v2/me/", headers={"Authorization": "Bearer " + awx_standin.token})[:2]
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
    answers = [_raw(awx_standin, "GET", "/api/v2/execution_environments/", headers=auth)[0] for dummy in range(3)]
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


# ---------------------------------------------------------------------------------------------
# Replay of the recorded AWX 24.6.1 exchanges (the repository's copy in tests/awx_contract, kept
# identical to ../shared/awx-contract when that exists)
# ---------------------------------------------------------------------------------------------
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTRACT_DIR = os.path.join(REPO_ROOT, "tests", "awx_contract")
SHARED_CONTRACT_DIR = os.path.join(REPO_ROOT, "..", "shared", "awx-contract")
# The shared README is kept as RECORDING.md next to the repository's own README.md.
RENAMED = {"README.md": "RECORDING.md"}
REPLAY_PASSWORD = "replay-" + "contract-user-pw"
TYPE_RES = {
    "user": "users", "organization": "organizations", "credential_type": "credential_types",
    "credential": "credentials", "execution_environment": "execution_environments", "inventory": "inventories",
    "host": "hosts", "project": "projects", "job_template": "job_templates",
    "workflow_job_template": "workflow_job_templates", "workflow_job_template_node": "workflow_job_template_nodes",
    "instance_group": "instance_groups", "o_auth2_access_token": "tokens", "job": "jobs",
    "ad_hoc_command": "ad_hoc_commands", "inventory_source": "inventory_sources",
    "workflow_job": "workflow_jobs", "workflow_job_node": "workflow_job_nodes",
}
# Keys whose integer value (or nested object's id) refers to an object of that resource.
KEY_RES = {
    "organization": "organizations", "organization_id": "organizations", "credential_type": "credential_types",
    "credential_type_id": "credential_types", "credential": "credentials", "webhook_credential": "credentials",
    "execution_environment": "execution_environments", "default_environment": "execution_environments",
    "resolved_environment": "execution_environments", "DEFAULT_EXECUTION_ENVIRONMENT": "execution_environments",
    "inventory": "inventories", "project": "projects", "job_template": "job_templates",
    "workflow_job_template": "workflow_job_templates", "unified_job_template": "unified_job_templates",
    "created_by": "users", "modified_by": "users", "user": "users", "job": "jobs",
    "success_nodes": "workflow_job_template_nodes", "failure_nodes": "workflow_job_template_nodes",
    "always_nodes": "workflow_job_template_nodes", "source_project": "projects", "workflow_job": "workflow_jobs",
    "hosts": "hosts",
}
UJT = ("projects", "job_templates", "workflow_job_templates")
URL_RE = re.compile(r"/api/v2/([a-z_]+)/(\d+)/")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
# Recorded bodies that show part of the answer only (GET config after a mkdir, PATCH of one jobs setting):
# the stand-in must answer every recorded key, with the recorded value, and may answer more.
PARTIAL_BODIES = ("51-", "74-")


class Replay:
    """Sends recorded requests to the stand-in, translating recorded ids to the ids it assigned."""

    def __init__(self, standin):
        self.standin = standin
        self.ids = {}
        self.token = None

    def mapped(self, res, value):
        if res == "unified_job_templates":
            for name in UJT:
                if (name, value) in self.ids:
                    return self.ids[(name, value)]
            return value
        return self.ids.get((res, value), value)

    def translate(self, value, key=None):
        """Recorded value -> the value expected from the stand-in (ids, URLs)."""
        if isinstance(value, dict):
            res = TYPE_RES.get(value.get("type")) if "id" in value and isinstance(value.get("type"), str) else None
            res = res or KEY_RES.get(key)
            return {k: (self.mapped(res, v) if k == "id" and res and isinstance(v, int) and not isinstance(v, bool)
                        else self.translate(v, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.translate(item, key) for item in value]
        if isinstance(value, int) and not isinstance(value, bool) and key in KEY_RES:
            return self.mapped(KEY_RES[key], value)
        if isinstance(value, str) and key in ("next", "previous"):
            return self.translate_path(value)
        if isinstance(value, str):
            return URL_RE.sub(lambda m: "/api/v2/%s/%d/" % (m.group(1), self.mapped(m.group(1), int(m.group(2)))),
                              value)
        return value

    def translate_path(self, path):
        """A recorded path with its query string: ids in the URL and in id filters (``?inventory=11``,
        ``?execution_environment=187``, ``?id__in=160,161``) become the stand-in's."""
        base, sep, query = self.translate(path).partition("?")
        if not sep:
            return base
        res_of_path = URL_RE.match(base + "0/")
        pairs = []
        for item in query.split("&"):
            key, eq, value = item.partition("=")
            res = KEY_RES.get(key)
            if key in ("id", "id__in") and res_of_path:
                res = res_of_path.group(1)
            if res and eq and all(part.isdigit() for part in value.split(",")):
                value = ",".join(str(self.mapped(res, int(part))) for part in value.split(","))
            pairs.append(key + eq + value)
        return base + "?" + "&".join(pairs)

    def learn(self, recorded, actual):
        """Remember the id the stand-in gave to an object the recording created."""
        if isinstance(recorded, dict) and isinstance(actual, dict) and recorded.get("type") in TYPE_RES \
                and "id" in recorded and "id" in actual:
            self.ids[(TYPE_RES[recorded["type"]], recorded["id"])] = actual["id"]

    def send(self, method, path, body, auth, extra_headers=None):
        headers = dict(extra_headers or {})
        if auth == "basic-admin":
            headers.update(_basic("admin", self.standin.password))
        elif auth == "wrong-password":
            headers.update(_basic("admin", "not-the-password"))
        elif auth == "contract-user":
            headers.update(_basic("contract-user", REPLAY_PASSWORD))
        elif auth == "bearer":
            headers["Authorization"] = "Bearer " + self.token
        elif auth == "bad-bearer":
            headers["Authorization"] = "Bearer notarealtoken0000000000000000"
        return _raw(self.standin, method, path, body, headers)


def _normalize(value, key=None, in_roles=False):
    """Drop what differs between two runs of the same AWX: timestamps, UUIDs, role ids, secrets, paths."""
    if isinstance(value, dict):
        return {k: _normalize(v, k, in_roles or k == "object_roles") for k, v in value.items()
                if not (in_roles and k == "id")}
    if isinstance(value, list):
        return [_normalize(item, key, in_roles) for item in value]
    if isinstance(value, str):
        if key == "token":
            return "<token>" if value != "************" else value
        if key in ("project_base_dir", "AWX_ISOLATION_BASE_PATH"):
            return "<path>"
        if TS_RE.match(value):
            return "<timestamp>"
        return UUID_RE.sub("<uuid>", value)
    return value


def _diff(expected, actual, where, partial, out):
    if isinstance(expected, dict) and isinstance(actual, dict):
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        if missing:
            out.append("%s: missing keys %s" % (where, missing))
        if extra and not partial:
            out.append("%s: unexpected keys %s" % (where, extra))
        for key in expected:
            if key in actual:
                _diff(expected[key], actual[key], "%s.%s" % (where, key), partial, out)
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            out.append("%s: %d items, expected %d" % (where, len(actual), len(expected)))
        for index, (exp, act) in enumerate(zip(expected, actual)):
            _diff(exp, act, "%s[%d]" % (where, index), partial, out)
    elif expected != actual or type(expected) is not type(actual):
        out.append("%s: %r, expected %r" % (where, actual, expected))


def _setup_before(name, replay, recorded):
    """The steps the recording made between exchanges without recording them (their 'why' says so)."""
    standin = replay.standin
    if name.startswith("22-"):
        # "after the full inputs were set again"
        inputs = recorded["17-credential-create.json"]["request_body"]["inputs"]
        standin.patch("/api/v2/credentials/%d/" % replay.mapped("credentials", 3), {"inputs": inputs})
    elif name.startswith("51-"):
        standin.add_project_dir("contract_playbooks", {"hello.yml": "- hosts: all\n  tasks:\n    - ansible.builtin.ping:\n"})
    elif name.startswith("88-"):
        standin.patch("/api/v2/settings/system/",
                      {"DEFAULT_EXECUTION_ENVIRONMENT": replay.mapped("execution_environments", 6)})
    elif name.startswith("95-"):
        # contract-jt-no-ask: a JT using contract-ee-global that does not prompt for an EE
        created = standin.post("/api/v2/job_templates/", {
            "name": "contract-jt-no-ask", "inventory": replay.mapped("inventories", 2),
            "project": replay.mapped("projects", 8), "playbook": "hello.yml",
            "execution_environment": replay.mapped("execution_environments", 3)})
        replay.ids[("job_templates", 12)] = created["id"]


def _auth_of(name, exchange):
    why = exchange["why"]
    if name.startswith(("01-", "06-")):
        return None
    if name.startswith("05-"):
        return "wrong-password"
    if "As contract-user" in why:
        return "contract-user"
    if name.startswith("80-"):
        return "bad-bearer"
    if "Bearer" in why:
        return "bearer"
    return "basic-admin"


def _load_contract(subdir=""):
    directory = os.path.join(CONTRACT_DIR, subdir)
    if not os.path.isdir(directory):
        pytest.fail("recorded AWX contract not found at %s" % directory)
    names = sorted(name for name in os.listdir(directory) if name.endswith(".json"))
    recorded = {}
    for name in names:
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            recorded[name] = json.load(handle)
    return names, recorded


def _contract_files(top):
    """Relative paths of the files under ``top`` (recursive)."""
    found = set()
    for dirpath, _dirnames, filenames in os.walk(top):
        for filename in filenames:
            found.add(os.path.relpath(os.path.join(dirpath, filename), top))
    return found


@pytest.mark.skipif(not os.path.isdir(SHARED_CONTRACT_DIR), reason="no ../shared/awx-contract next to this clone")
def test_repository_copy_matches_shared_contract():
    """tests/awx_contract is a byte-for-byte copy of ../shared/awx-contract (README.md kept as RECORDING.md)."""
    shared = {RENAMED.get(path, path): path for path in _contract_files(SHARED_CONTRACT_DIR)}
    ours = _contract_files(CONTRACT_DIR) - {"README.md"}
    problems = ["only in ../shared/awx-contract: %s" % shared[path] for path in sorted(set(shared) - ours)]
    problems += ["only in tests/awx_contract: %s" % path for path in sorted(ours - set(shared))]
    for path in sorted(ours & set(shared)):
        with open(os.path.join(SHARED_CONTRACT_DIR, shared[path]), "rb") as handle:
            theirs = handle.read()
        with open(os.path.join(CONTRACT_DIR, path), "rb") as handle:
            if handle.read() != theirs:
                problems.append("differs from ../shared/awx-contract/%s: %s" % (shared[path], path))
    assert not problems, "tests/awx_contract is out of date (see its README to refresh it):\n" + "\n".join(problems)


def _replay_exchange(replay, name, exchange, partial=False, headers=None, learn=None):
    """Send one recorded request (ids translated); the differences of the stand-in's answer, as text lines.

    ``learn(name, exchange, actual)`` records ids of the answer before it is compared."""
    body = exchange["request_body"]
    if isinstance(body, dict) and body.get("password") == "<redacted>":
        body = dict(body, password=REPLAY_PASSWORD)
    path = replay.translate_path(exchange["path"])
    body = replay.translate(body) if body is not None else None
    if re.search(r"/(success|failure|always)_nodes/$", path) and isinstance(body, dict) and "id" in body:
        body = dict(body, id=replay.mapped("workflow_job_template_nodes", body["id"]))  # an edge to this node
    status, actual, resp = replay.send(exchange["method"], path, body, _auth_of(name, exchange), headers)
    if exchange["method"] == "POST" and status == exchange["status"] and status in (201, 202):
        replay.learn(exchange["response_body"], actual)
    if learn is not None and status == exchange["status"]:
        learn(name, replay, exchange, actual)
    problems = []
    if status != exchange["status"]:
        problems.append("status %d, expected %d (%s)" % (status, exchange["status"], str(actual)[:2000]))
    else:
        for header, value in exchange["response_headers"].items():
            if resp.getheader(header) != value:
                problems.append("header %s: %r, expected %r" % (header, resp.getheader(header), value))
        expected = exchange["response_body"]
        if expected is None:
            if actual not in (None, b""):
                problems.append("body %r, expected none" % (actual,))
        elif partial == "shape":
            problems += _page_shape(replay, expected, actual)
        else:
            _diff(_normalize(replay.translate(expected)), _normalize(actual), "body", partial, problems)
    return ["%s %s %s: %s" % (name, exchange["method"], path, problem) for problem in problems], actual


def test_replay_recorded_contract(awx_standin):
    """Every recorded exchange, in file order, against a fresh stand-in: same status, headers and body
    (ids translated to the stand-in's, timestamps/UUIDs/role ids/secrets aside)."""
    names, recorded = _load_contract()
    assert len(names) >= 99
    replay = Replay(awx_standin)
    failures = []
    for name in names:
        exchange = recorded[name]
        _setup_before(name, replay, recorded)
        problems, actual = _replay_exchange(replay, name, exchange, name.startswith(PARTIAL_BODIES))
        if name.startswith("78-") and not problems:
            replay.token = actual["token"]
        failures += problems
    assert not failures, "\n".join(failures)
    # The seed mirrors a fresh install, so objects get the recorded ids (the fixture's own token takes id 1).
    assert {key: value for key, value in replay.ids.items() if key[1] != value and key[0] != "tokens"} == {}


# ---------------------------------------------------------------------------------------------
# Replay of fleet/ (files 100-154): recorded later, on another instance whose set-up the README describes
# ---------------------------------------------------------------------------------------------
EE_LIST = "/api/v2/execution_environments/"
PLAYBOOK = "- hosts: all\n  tasks:\n    - ansible.builtin.ping:\n"
# 153 is an unfiltered list on a server other sessions used too (count 69): its page is checked for shape only.
SHAPE_ONLY = ("153-",)


def _fleet_world(replay):
    """The contract2 objects the fleet exchanges start from (README "How the data was set up"), each mapped
    from its recorded id to the stand-in's."""
    sa = replay.standin

    def made(res, recorded_id, obj):
        replay.ids[(res, recorded_id)] = obj["id"]
        return obj

    # That instance's Default organization has no description.
    sa.patch("/api/v2/organizations/1/", {"description": ""})
    made("organizations", 10, sa.post("/api/v2/organizations/", {"name": "contract2-org",
                                                                 "description": "contract2 organization"}))
    cred = made("credentials", 16, sa.post("/api/v2/credentials/", {
        "name": "contract2-registry", "description": "contract2 registry credential", "organization": 1,
        "credential_type": 18, "inputs": {"host": "registry.example.com", "username": "u", "password": "p"}}))
    for number in range(30):
        body = {"name": "contract2-ee-%02d" % number, "description": "contract2 listing EE %02d" % number,
                "image": "registry.example.com/contract2/ee-%02d:1.0" % number,
                "pull": ("missing", "always", "never", "")[number % 4]}
        if 10 <= number <= 24:
            body["organization"] = 1
        if number >= 20:
            body["credential"] = cred["id"]
        made("execution_environments", 157 + number, sa.post(EE_LIST, body))
    ref_ee = made("execution_environments", 187, sa.post(EE_LIST, {
        "name": "contract2-ref-ee", "description": "contract2 EE referenced by every kind",
        "image": "quay.io/ansible/awx-ee:24.6.1", "pull": "missing"}))["id"]
    org = replay.mapped("organizations", 10)
    inventory = made("inventories", 10, sa.post("/api/v2/inventories/", {"name": "contract2-inventory",
                                                                         "organization": org}))["id"]
    sa.post("/api/v2/hosts/", {"name": "localhost", "inventory": inventory, "variables": "ansible_connection: local"})
    # AWX updates an inventory's computed fields lazily (54 shows total_hosts 0 after a host was added); on that
    # instance they had been updated: total_hosts 1 (110, 117).
    sa.store.objects["inventories"][inventory]["total_hosts"] = 1
    made("inventories", 11, sa.post("/api/v2/inventories/", {"name": "contract2-bulk-hosts", "organization": org}))
    sa.add_project_dir("contract2_playbooks", {"hello.yml": PLAYBOOK})
    project = made("projects", 42, sa.post("/api/v2/projects/", {
        "name": "contract2-project", "organization": org, "scm_type": "", "local_path": "contract2_playbooks",
        "default_environment": ref_ee}))["id"]
    sa.patch("/api/v2/organizations/%d/" % org, {"default_environment": ref_ee})
    jt = made("job_templates", 43, sa.post("/api/v2/job_templates/", {
        "name": "contract2-ref-jt", "inventory": inventory, "project": project, "playbook": "hello.yml",
        "execution_environment": ref_ee, "ask_execution_environment_on_launch": True}))["id"]
    wfjt = made("workflow_job_templates", 44, sa.post("/api/v2/workflow_job_templates/", {
        "name": "contract2-ref-wfjt", "organization": org}))["id"]
    made("workflow_job_template_nodes", 15, sa.post("/api/v2/workflow_job_templates/%d/workflow_nodes/" % wfjt, {
        "unified_job_template": jt, "execution_environment": ref_ee}))


def _fleet_setup_before(name, replay):
    """Steps between fleet exchanges that were not recorded (README)."""
    sa = replay.standin
    if name.startswith("108-"):
        # 201 hosts were posted as 100 + 100 + 1; 107 is the first call.
        inventory = replay.mapped("inventories", 11)
        for first, count in ((100, 100), (200, 1)):
            made = sa.post("/api/v2/bulk/host_create/", {"inventory": inventory, "hosts": [
                {"name": "contract2-host-%03d" % number} for number in range(first, first + count)]})
            for offset, host in enumerate(made["hosts"]):
                replay.ids[("hosts", 406 + first + offset)] = host["id"]  # 107 made 406-505
    elif name.startswith("117-"):
        # The ad hoc command's POST is the same exchange as 96 (not recorded again).
        made = sa.post("/api/v2/ad_hoc_commands/", {
            "inventory": replay.mapped("inventories", 10), "credential": 1, "module_name": "ping",
            "execution_environment": replay.mapped("execution_environments", 187)})
        replay.ids[("ad_hoc_commands", 27)] = made["id"]
    elif name.startswith("131-"):
        made = sa.post("/api/v2/job_templates/", {
            "name": "contract2-noask-jt", "inventory": replay.mapped("inventories", 10),
            "project": replay.mapped("projects", 42), "playbook": "hello.yml"})
        replay.ids[("job_templates", 47)] = made["id"]
    elif name.startswith("145-"):
        sa.add_project_dir("contract2_doomed_playbooks", {"hello.yml": PLAYBOOK})


def _fleet_learn(name, replay, exchange, actual):
    """Ids the generic ``learn`` cannot see: the hosts of a bulk create, the nodes of a bulk job."""
    if name.startswith("107-") and isinstance(actual, dict):
        for recorded, made in zip(exchange["response_body"]["hosts"], actual.get("hosts", [])):
            replay.ids[("hosts", recorded["id"])] = made["id"]
    if name.startswith("138-") and isinstance(actual, dict):
        for recorded, made in zip(exchange["response_body"]["results"], actual.get("results", [])):
            replay.ids[("workflow_job_nodes", recorded["id"])] = made["id"]


def _page_shape(replay, expected, actual):
    """An unfiltered list page: default page size, newest first, AWX's next link; ids and count are the server's."""
    problems = []
    if not isinstance(actual, dict) or set(actual) != set(expected):
        return ["keys %s, expected %s" % (sorted(actual) if isinstance(actual, dict) else actual, sorted(expected))]
    size = len(expected["results"])
    if actual["count"] <= size or len(actual["results"]) != size:
        problems.append("count %d with %d results, expected more than %d with %d"
                        % (actual["count"], len(actual["results"]), size, size))
    if (actual["next"], actual["previous"]) != (expected["next"], expected["previous"]):
        problems.append("next/previous %r/%r, expected %r/%r" % (actual["next"], actual["previous"],
                                                                 expected["next"], expected["previous"]))
    created = [item["created"] for item in actual["results"]]
    if created != sorted(created, reverse=True):
        problems.append("not newest first")
    first = _normalize(replay.translate(expected["results"][0]))
    _diff(first, _normalize(actual["results"][0]), "body.results[0]", False, problems)
    return problems


def test_replay_fleet_contract(awx_standin):
    """fleet/100-154 in file order, after the set-up their README describes: same status, headers and body."""
    names, recorded = _load_contract("fleet")
    assert [name[:3] for name in names] == [str(number) for number in range(100, 155)]
    replay = Replay(awx_standin)
    _fleet_world(replay)
    failures = []
    for name in names:
        exchange = recorded[name]
        _fleet_setup_before(name, replay)
        # Files 100+ were sent by python requests (Accept: */*) unless their 'why' says otherwise.
        accept = "application/json" if '"Accept: application/json"' in exchange["why"] else "*/*"
        partial = "shape" if name.startswith(SHAPE_ONLY) else False
        problems, _actual = _replay_exchange(replay, name, exchange, partial, headers={"Accept": accept},
                                             learn=_fleet_learn)
        failures += problems
    assert not failures, "\n".join(failures)


def test_contract_secrets_kept_and_dropped(awx_standin):
    """What the recording could only show through decryption: the stored password after input PATCHes."""
    awx_standin.post("/api/v2/organizations/", {"name": "contract-org"})
    cred = awx_standin.post("/api/v2/credentials/", {
        "name": "reg", "organization": 2, "credential_type": 18,
        "inputs": {"host": "registry.example.com", "username": "bot", "password": "s3cret", "verify_ssl": True}})
    stored = awx_standin.store.objects["credentials"][cred["id"]]["inputs"]
    assert stored["password"] == "s3cret"
    awx_standin.patch(cred["url"], {"inputs": {"host": "h2", "username": "bot", "password": "$encrypted$"}})
    assert awx_standin.store.objects["credentials"][cred["id"]]["inputs"] == {
        "host": "h2", "username": "bot", "password": "s3cret"}
    awx_standin.patch(cred["url"], {"inputs": {"host": "h3"}})
    assert awx_standin.store.objects["credentials"][cred["id"]]["inputs"] == {"host": "h3"}
    # Credential.save reads inputs_before[field]: $encrypted$ with nothing stored is a server error in AWX.
    status = awx_standin.request("PATCH", cred["url"], {"inputs": {"host": "h3", "password": "$encrypted$"}})[0]
    assert status == 500


# ---------------------------------------------------------------------------------------------
# awxkit's own client against the stand-in
# ---------------------------------------------------------------------------------------------
def test_awxkit_client(awx_standin):
    client = pytest.importorskip("awxkit.api.client")
    pages = pytest.importorskip("awxkit.api.pages")
    exceptions = pytest.importorskip("awxkit.exceptions")
    conn = client.Connection(awx_standin.url)
    conn.login(awx_standin.username, awx_standin.password)
    v2 = pages.Api(conn, endpoint="/api/").get().current_version.get()
    assert isinstance(v2, pages.ApiV2)

    registry = v2.credential_types.get(namespace="registry").results
    assert [(ct.id, ct.name, ct.kind) for ct in registry] == [(18, "Container Registry", "registry")]
    everything = v2.credential_types.get(page_size=7, all_pages=True)
    assert len(everything.results) == everything.count == 30
    assert awx_standin.count("GET", "/api/v2/credential_types/?page=5&page_size=7") == 1

    org = v2.organizations.post({"name": "kit-org"})
    assert isinstance(org, pages.Organization) and org.id == 2
    cred = v2.credentials.post({"name": "kit-registry", "organization": org.id, "credential_type": 18,
                                "inputs": {"host": "registry.example.com", "username": "bot", "password": "pw"}})
    assert cred.inputs == {"host": "registry.example.com", "password": "$encrypted$", "username": "bot"}
    ee = v2.execution_environments.post({"name": "kit-ee", "image": "registry.example.com/kit/ee:1",
                                         "organization": org.id, "credential": cred.id, "pull": "missing"})
    assert ee.related.credential.get().name == "kit-registry"
    patched = ee.patch(pull="always")
    assert patched.pull == "always" and ee.get().pull == "always"
    found = v2.execution_environments.get(name="kit-ee", organization=org.id)
    assert found.count == 1 and found.results[0].id == ee.id
    with pytest.raises(exceptions.Duplicate) as err:  # awxkit maps "already exists" 400s to Duplicate
        v2.execution_environments.post({"name": "kit-ee", "image": "quay.io/x/y:1"})
    assert err.value.msg == {"name": ["Execution environment with this Name already exists."]}
    ee.delete()
    with pytest.raises(exceptions.NotFound):
        ee.get()
    assert v2.execution_environments.get(name="kit-ee").count == 0

    conn.login(token=awx_standin.token)
    assert v2.me.get().results[0].username == "admin"
    conn.login("admin", "wrong")
    with pytest.raises(exceptions.Unauthorized):
        v2.me.get()


# ---------------------------------------------------------------------------------------------
# Behaviour the modules rely on beyond single recorded exchanges
# ---------------------------------------------------------------------------------------------
def test_pagination_and_filters(awx_standin):
    for index in range(5):
        awx_standin.post("/api/v2/execution_environments/", {"name": "ee-%d" % index, "image": "quay.io/a/b:%d" % index})
    page = awx_standin.get("/api/v2/execution_environments/", page_size=2, name__startswith="ee-", order_by="name")
    assert page["count"] == 5
    assert [ee["name"] for ee in page["results"]] == ["ee-0", "ee-1"]
    assert page["next"] == "/api/v2/execution_environments/?name__startswith=ee-&order_by=name&page=2&page_size=2"
    last = awx_standin.get(page["next"].replace("page=2", "page=3"))
    assert [ee["name"] for ee in last["results"]] == ["ee-4"] and last["next"] is None
    assert last["previous"] == "/api/v2/execution_environments/?name__startswith=ee-&order_by=name&page=2&page_size=2"
    assert awx_standin.request("GET", "/api/v2/execution_environments/?page=9")[0] == 404
    by_id_or_name = awx_standin.get("/api/v2/execution_environments/", or__id="3", or__name="3")
    assert [ee["name"] for ee in by_id_or_name["results"]] == ["ee-0"]
    assert awx_standin.get("/api/v2/execution_environments/", id__in="3,4")["count"] == 2
    assert awx_standin.get("/api/v2/execution_environments/", organization__isnull="true")["count"] == 7
    assert awx_standin.get("/api/v2/execution_environments/", managed="true")["results"][0]["id"] == 2
    assert awx_standin.get("/api/v2/credentials/", credential_type__kind="ssh")["results"][0]["name"] == "Demo Credential"
    assert awx_standin.get("/api/v2/organizations/", name="default")["count"] == 0  # exact, case-sensitive
    assert awx_standin.request("GET", "/api/v2/organizations/?bogus=1")[0] == 400


def test_ee_delete_nulls_every_reference(awx_standin):
    sa = awx_standin
    sa.add_project_dir("pb", {"site.yml": "- hosts: all\n"})
    ee = sa.post("/api/v2/execution_environments/", {"name": "doomed", "image": "quay.io/a/b:1"})
    project = sa.post("/api/v2/projects/", {"name": "p", "organization": 1, "scm_type": "", "local_path": "pb",
                                            "default_environment": ee["id"]})
    jt = sa.post("/api/v2/job_templates/", {"name": "jt", "inventory": 1, "project": project["id"],
                                            "playbook": "site.yml", "execution_environment": ee["id"],
                                            "ask_execution_environment_on_launch": True})
    wf = sa.post("/api/v2/workflow_job_templates/", {"name": "wf", "organization": 1})
    node = sa.post("/api/v2/workflow_job_templates/%d/workflow_nodes/" % wf["id"],
                   {"unified_job_template": jt["id"], "execution_environment": ee["id"], "identifier": "build"})
    sa.patch("/api/v2/organizations/1/", {"default_environment": ee["id"]})
    sa.patch("/api/v2/settings/system/", {"DEFAULT_EXECUTION_ENVIRONMENT": ee["id"]})
    users = sa.get("/api/v2/execution_environments/%d/unified_job_templates/" % ee["id"])
    assert [item["name"] for item in users["results"]] == ["jt"]
    sa.delete("/api/v2/execution_environments/%d/" % ee["id"])
    assert sa.get(jt["url"])["execution_environment"] is None
    assert sa.get(project["url"])["default_environment"] is None
    assert sa.get("/api/v2/organizations/1/")["default_environment"] is None
    assert sa.get(node["url"])["execution_environment"] is None
    assert sa.get("/api/v2/settings/system/")["DEFAULT_EXECUTION_ENVIRONMENT"] is None
    # managed EEs: pull only, and never deleted
    assert sa.request("PATCH", "/api/v2/execution_environments/2/", {"pull": "always"})[0] == 200
    assert sa.request("PATCH", "/api/v2/execution_environments/2/", {"pull": "never",
                                                                     "name": "Control Plane Execution Environment"})[0] == 200
    assert sa.request("DELETE", "/api/v2/execution_environments/2/")[0] == 403
    # Only links to the deleted object change: deleting EE 1 leaves everything else whose id is 1 alone.
    launched = sa.post("/api/v2/job_templates/7/launch/", {})
    sa.delete("/api/v2/execution_environments/1/")
    status = _raw(sa, "GET", "/api/v2/me/", headers={"Authorization": "Bearer " + sa.token})[0]
    assert status == 200
    assert sa.get("/api/v2/job_templates/7/")["inventory"] == 1
    assert sa.get("/api/v2/organizations/1/")["name"] == "Default"
    assert sa.get(launched["url"])["inventory"] == 1
    sa.delete("/api/v2/job_templates/7/")
    assert sa.get(launched["url"])["job_template"] is None


def test_workflow_node_patch_and_lookup(awx_standin):
    sa = awx_standin
    wf = sa.post("/api/v2/workflow_job_templates/", {"name": "wf", "organization": 1})
    node = sa.post("/api/v2/workflow_job_templates/%d/workflow_nodes/" % wf["id"],
                   {"unified_job_template": 7, "identifier": "demo"})
    status, body = sa.request("PATCH", node["url"], {"execution_environment": 1})
    assert (status, body) == (400, {"execution_environment": ["Field is not configured to prompt on launch."]})
    sa.patch("/api/v2/job_templates/7/", {"ask_execution_environment_on_launch": True})
    assert sa.patch(node["url"], {"execution_environment": 1})["summary_fields"]["execution_environment"]["id"] == 1
    templates = sa.get("/api/v2/unified_job_templates/", name="Demo Job Template")
    assert [(t["id"], t["type"]) for t in templates["results"]] == [(7, "job_template")]
    assert sa.get("/api/v2/unified_job_templates/", page_size=1)["next"] == "/api/v2/unified_job_templates/?page=2&page_size=1"
    found = sa.get("/api/v2/workflow_job_template_nodes/", workflow_job_template=wf["id"], identifier="demo")
    assert found["count"] == 1 and found["results"][0]["id"] == node["id"]
    status, body = sa.request("POST", "/api/v2/workflow_job_templates/%d/workflow_nodes/" % wf["id"],
                              {"unified_job_template": 7, "identifier": "demo"})
    assert status == 400 and "__all__" in body


def test_settings_lists_replaced_and_categories(awx_standin):
    sa = awx_standin
    jobs = sa.get("/api/v2/settings/jobs/")
    assert jobs["DEFAULT_CONTAINER_RUN_OPTIONS"] == ["--network", "slirp4netns:enable_ipv6=true"]
    answer = sa.patch("/api/v2/settings/jobs/", {"DEFAULT_CONTAINER_RUN_OPTIONS": ["--device", "/dev/fuse"]})
    assert answer["DEFAULT_CONTAINER_RUN_OPTIONS"] == ["--device", "/dev/fuse"]
    assert set(answer) == set(jobs)
    assert sa.get("/api/v2/settings/all/")["DEFAULT_CONTAINER_RUN_OPTIONS"] == ["--device", "/dev/fuse"]
    status, body = sa.request("PATCH", "/api/v2/settings/jobs/", {"AWX_ISOLATION_SHOW_PATHS": "/srv"})
    assert status == 400 and "AWX_ISOLATION_SHOW_PATHS" in body
    sa.patch("/api/v2/settings/all/", {"DEFAULT_EXECUTION_ENVIRONMENT": 1})
    assert sa.get("/api/v2/settings/system/")["DEFAULT_EXECUTION_ENVIRONMENT"] == 1
    user = sa.post("/api/v2/users/", {"username": "viewer", "password": "pw"})
    assert user["is_superuser"] is False
    status = sa.request("GET", "/api/v2/settings/jobs/", headers=_basic("viewer", "pw"), auth=False)[0]
    assert status == 403


def test_launch_and_resolution_inputs(awx_standin):
    sa = awx_standin
    sa.add_project_dir("pb", {"site.yml": "- hosts: all\n"})
    project = sa.post("/api/v2/projects/", {"name": "p", "organization": 1, "local_path": "pb"})
    assert sa.get(project["related"]["playbooks"]) == ["site.yml"]
    assert sa.get("/api/v2/config/")["project_local_paths"] == []
    jt = sa.post("/api/v2/job_templates/", {"name": "jt", "inventory": 1, "project": project["id"],
                                            "playbook": "site.yml"})
    status, body = sa.request("POST", "/api/v2/job_templates/", {"name": "jt2", "inventory": 1,
                                                                 "project": project["id"], "playbook": "nope.yml"})
    assert (status, body) == (400, {"playbook": ["Playbook not found for project."]})
    assert sa.get(jt["url"])["summary_fields"]["resolved_environment"]["name"] == "AWX EE (latest)"
    launched = sa.post(jt["related"]["launch"], {"execution_environment": 1})
    assert launched["ignored_fields"] == {"execution_environment": 1}
    assert launched["execution_environment"] is None and launched["status"] == "pending"
    job = sa.get(launched["url"])
    assert job["unified_job_template"] == jt["id"] and "playbook_counts" in job
    assert sa.get(jt["url"])["summary_fields"]["recent_jobs"][0]["id"] == job["id"]
    adhoc = sa.post("/api/v2/ad_hoc_commands/", {"inventory": 1, "credential": 1, "module_name": "ping"})
    assert adhoc["status"] == "new" and "organization" not in adhoc
    status, body = sa.request("POST", "/api/v2/inventories/1/inventory_sources/", {
        "name": "src", "source": "scm", "source_project": project["id"]})
    assert (status, body) == (400, {"source_project": ["Cannot use manual project for SCM-based inventory."]})
    src = sa.post("/api/v2/inventories/1/inventory_sources/", {"name": "src", "source": "file",
                                                               "execution_environment": 1})
    assert sa.get(src["url"])["summary_fields"]["resolved_environment"]["id"] == 1
    assert sa.get("/api/v2/inventory_sources/", inventory=1)["results"][0]["id"] == src["id"]
    sa.post(jt["related"]["credentials"], {"id": 1})
    assert [c["id"] for c in sa.get(jt["related"]["credentials"])["results"]] == [1]
    sa.post(jt["related"]["survey_spec"], {"name": "", "description": "", "spec": [
        {"variable": "ee_list", "type": "textarea", "required": True, "question_name": "EEs", "default": ""}]})
    assert sa.get(jt["related"]["survey_spec"])["spec"][0]["variable"] == "ee_list"


def test_fleet_behaviours_beyond_single_exchanges(awx_standin):
    """Bulk root by Accept header, page_size edge cases, bulk limits, unified_job_templates of an EE."""
    sa = awx_standin
    auth = _basic("admin", sa.password)
    status, body, resp = _raw(sa, "GET", "/api/v2/bulk/", headers=dict(auth, Accept="*/*"))
    assert status == 200 and resp.getheader("Content-Type").startswith("text/html")
    as_json = sa.get("/api/v2/bulk/", format="json")
    assert as_json["job_launch"] == "/api/v2/bulk/job_launch/?format=json"
    for index in range(30):
        sa.post("/api/v2/execution_environments/", {"name": "f-%02d" % index, "image": "quay.io/f/ee:%d" % index})
    page = sa.get("/api/v2/execution_environments/", page_size=201, name__startswith="f-")
    assert page["count"] == 30 and page["next"] is None
    two = sa.get("/api/v2/execution_environments/", page_size=0)
    assert len(two["results"]) == 25 and two["next"] == "/api/v2/execution_environments/?page=2&page_size=0"
    assert sa.request("GET", "/api/v2/execution_environments/?page_size=abc")[0] == 500
    assert sa.request("GET", "/api/v2/execution_environments/?page_size=abc&name=f-01")[0] == 200
    inventory = sa.post("/api/v2/inventories/", {"name": "bulk", "organization": 1})["id"]
    status, body = sa.request("POST", "/api/v2/bulk/host_create/", {"inventory": inventory, "hosts": [
        {"name": "h%d" % index} for index in range(101)]})
    assert status == 400 and "BULK_HOST_MAX_CREATE" in body["hosts"][0]
    status, body = sa.request("POST", "/api/v2/bulk/host_create/", {"inventory": inventory, "hosts": [
        {"name": "dup"}, {"name": "dup"}]})
    assert status == 400 and sa.get("/api/v2/hosts/", inventory=inventory)["count"] == 0  # every host or none
    ee = sa.find("execution_environments", name="f-00")["id"]
    src = sa.post("/api/v2/inventory_sources/", {"name": "a-src", "inventory": inventory, "source": "file",
                                                 "execution_environment": ee})
    sa.patch("/api/v2/job_templates/7/", {"execution_environment": ee})
    listed = sa.get("/api/v2/execution_environments/%d/unified_job_templates/" % ee)["results"]
    # By name, as AWX orders unified job templates ("Demo Job Template" < "a-src").
    assert [(item["type"], item["id"]) for item in listed] == [("job_template", 7), ("inventory_source", src["id"])]
    assert all("resolved_environment" in item["summary_fields"] for item in listed)


def test_stop_leaves_nothing_behind():
    """stop() ends every thread (even one holding an injected timeout or an idle keep-alive
    connection), closes the port and removes the awx-standin-* temp dir."""
    server_mod = pytest.importorskip("tests.awx_standin.server")
    # a temp dir left by a run that was killed before its teardown is swept by the next start
    stale = tempfile.mkdtemp(prefix="awx-standin-")
    with open(os.path.join(stale, server_mod.OWNER_FILE), "w", encoding="ascii") as handle:
        handle.write(str(_dead_pid()))
    before = set(threading.enumerate())
    standin = server_mod.StandIn().start()
    assert not os.path.exists(stale)
    tmpdir = standin.tmpdir
    assert os.path.basename(tmpdir).startswith("awx-standin-") and os.path.isdir(tmpdir)
    idle = http.client.HTTPConnection(standin.host, standin.port, timeout=10)
    idle.request("GET", "/api/v2/ping/")
    assert idle.getresponse().read()
    standin.inject("/api/v2/ping/", ["timeout"], delay=60)
    hanging = threading.Thread(target=lambda: _swallow(_raw, standin, "GET", "/api/v2/ping/", timeout=30))
    hanging.start()
    deadline = time.monotonic() + 5
    while standin.count(path_prefix="/api/v2/ping/") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    standin.stop()
    assert time.monotonic() - started < 5
    hanging.join(10)
    idle.close()
    assert not hanging.is_alive()
    assert set(threading.enumerate()) - before == set()
    assert not os.path.exists(tmpdir)
    with pytest.raises(OSError):
        socket.create_connection((standin.host, standin.port), timeout=2).close()
    standin.stop()


def _dead_pid():
    proc = subprocess.Popen(["true"])  # pylint: disable=consider-using-with
    proc.wait()
    return proc.pid


def _swallow(func, *args, **kwargs):
    try:
        func(*args, **kwargs)
    except (OSError, http.client.HTTPException):
        pass
