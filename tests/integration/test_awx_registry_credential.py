# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""awx_registry_credential (and the shared AWX connection) against the stand-in AWX, through ansible-playbook."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from tests.integration.awx_tasks import run_playbook, run_task, run_tasks
from tests.integration.secret_grep import files_containing, leftovers, scratch_env

MODULE = "eeforge.builder.awx_registry_credential"
PLANTED = "planted-Pw-7f3a9c1e"  # a password that must never appear in any output


def cred_args(**extra):
    args = dict(name="t5-registry", organization="Default", host="registry.example.com", username="bot",
                password=PLANTED)
    args.update(extra)
    return args


def stored(awx, cred_id):
    """The raw credential in the stand-in's store (secrets decrypted, as AWX keeps them)."""
    return awx.store.objects["credentials"][cred_id]


def create(awx, tmp_path, **extra):
    result = run_task(awx, tmp_path, MODULE, cred_args(**extra))
    assert result["changed"] is True and not result.get("failed"), result
    awx.clear_requests()
    return result


def test_create_then_rerun_is_unchanged_with_one_get(awx_standin, tmp_path):
    awx = awx_standin
    result = run_task(awx, tmp_path, MODULE, cred_args(verify_ssl=False))
    assert result["changed"] is True, result
    assert result["id"] > 2
    assert result["url"] == "%s/api/v2/credentials/%d/" % (awx.url, result["id"])
    assert result["credential_type"] == 18
    assert result["changed_inputs"] == ["host", "username", "verify_ssl"]
    assert result["password_updated"] is True
    raw = stored(awx, result["id"])
    assert raw["inputs"] == {"host": "registry.example.com", "username": "bot", "password": PLANTED,
                             "verify_ssl": False}
    assert raw["organization"] == 1 and raw["credential_type"] == 18
    # The type was looked up by namespace; nothing asked for a fixed id.
    assert awx.count("GET", "/api/v2/credential_types/?namespace=registry") == 1
    assert awx.count("GET", "/api/v2/credential_types/18/") == 0

    awx.clear_requests()
    again = run_task(awx, tmp_path, MODULE, cred_args(verify_ssl=False))
    assert again["changed"] is False, again
    assert again["password_updated"] is False and again["changed_inputs"] == []
    assert (again["id"], again["url"]) == (result["id"], result["url"])
    assert [(req.method, req.path) for req in awx.requests] == [("GET", "/api/v2/credentials/?name=t5-registry")]


def test_type_is_found_by_namespace_whatever_its_id(awx_standin, tmp_path):
    awx = awx_standin
    with awx.store.lock:
        types = awx.store.objects["credential_types"]
        registry = types.pop(18)
        registry["id"] = 42
        types[42] = registry
    result = run_task(awx, tmp_path, MODULE, cred_args())
    assert result["changed"] is True, result
    assert result["credential_type"] == 42
    assert stored(awx, result["id"])["credential_type"] == 42


def test_update_host_keeps_username_and_password(awx_standin, tmp_path):
    awx = awx_standin
    cred_id = create(awx, tmp_path, verify_ssl=True)["id"]
    result = run_task(awx, tmp_path, MODULE, dict(name="t5-registry", organization="Default",
                                                  host="registry2.example.com"), diff=True)
    assert result["changed"] is True, result
    assert result["changed_inputs"] == ["host"] and result["password_updated"] is False
    assert result["diff"]["before"]["inputs"] == {"host": "registry.example.com", "username": "bot",
                                                  "password": "$encrypted$", "verify_ssl": True}
    assert result["diff"]["after"]["inputs"] == {"host": "registry2.example.com", "username": "bot",
                                                 "password": "$encrypted$", "verify_ssl": True}
    # The stored secret survived (read back from the stand-in's store, decrypted).
    assert stored(awx, cred_id)["inputs"] == {"host": "registry2.example.com", "username": "bot",
                                              "password": PLANTED, "verify_ssl": True}
    assert [(req.method, req.path) for req in awx.writes()] == [("PATCH", "/api/v2/credentials/%d/" % cred_id)]


def test_update_one_field_sends_only_that_field(awx_standin, tmp_path):
    awx = awx_standin
    cred_id = create(awx, tmp_path)["id"]
    result = run_task(awx, tmp_path, MODULE, cred_args(description="pulls EEs"))
    assert result["changed"] is True and result["changed_inputs"] == [], result
    raw = stored(awx, cred_id)
    assert raw["description"] == "pulls EEs"
    assert raw["inputs"]["password"] == PLANTED
    assert len(awx.writes()) == 1


def test_update_password_always_replaces_it_and_reports_a_change(awx_standin, tmp_path):
    awx = awx_standin
    cred_id = create(awx, tmp_path)["id"]
    for attempt in range(2):
        result = run_task(awx, tmp_path, MODULE, cred_args(password="rotated-%d" % attempt, update_password="always"),
                          diff=True)
        assert result["changed"] is True and result["password_updated"] is True, result
        assert result["diff"]["after"]["inputs"]["password"] == "********"
        assert stored(awx, cred_id)["inputs"]["password"] == "rotated-%d" % attempt
        assert stored(awx, cred_id)["inputs"]["username"] == "bot"


def test_lost_password_is_set_again_with_on_create(awx_standin, tmp_path):
    awx = awx_standin
    cred_id = create(awx, tmp_path)["id"]
    # What awx.awx or the UI does (awx#13169): a PATCH of inputs with only host wipes the rest.
    awx.patch("/api/v2/credentials/%d/" % cred_id, {"inputs": {"host": "registry.example.com"}})
    assert stored(awx, cred_id)["inputs"] == {"host": "registry.example.com"}
    result = run_task(awx, tmp_path, MODULE, cred_args())
    assert result["changed"] is True and result["password_updated"] is True, result
    assert result["changed_inputs"] == ["username"]
    assert stored(awx, cred_id)["inputs"] == {"host": "registry.example.com", "username": "bot", "password": PLANTED}


def test_check_mode_writes_nothing(awx_standin, tmp_path):
    awx = awx_standin
    before = set(awx.store.objects["credentials"])
    result = run_task(awx, tmp_path, MODULE, cred_args(), check=True, diff=True)
    assert result["changed"] is True and result["id"] is None, result
    assert result["diff"]["after"]["inputs"]["password"] == "********"
    assert awx.writes() == [] and set(awx.store.objects["credentials"]) == before

    cred_id = create(awx, tmp_path)["id"]
    result = run_task(awx, tmp_path, MODULE, cred_args(host="registry3.example.com"), check=True, diff=True)
    assert result["changed"] is True and result["id"] == cred_id, result
    assert result["diff"]["after"]["inputs"]["host"] == "registry3.example.com"
    assert awx.writes() == []
    assert stored(awx, cred_id)["inputs"]["host"] == "registry.example.com"

    result = run_task(awx, tmp_path, MODULE, cred_args(state="absent"), check=True)
    assert result["changed"] is True and awx.writes() == [] and cred_id in awx.store.objects["credentials"]


def test_delete_and_delete_again(awx_standin, tmp_path):
    awx = awx_standin
    cred_id = create(awx, tmp_path)["id"]
    results = run_tasks(awx, tmp_path, [{"name": "delete", MODULE: cred_args(state="absent")},
                                        {"name": "delete again", MODULE: cred_args(state="absent")}])
    assert results[0]["changed"] is True and results[0]["id"] == cred_id, results
    assert results[1]["changed"] is False and results[1]["id"] is None, results
    assert cred_id not in awx.store.objects["credentials"]
    assert [(req.method, req.path) for req in awx.writes()] == [("DELETE", "/api/v2/credentials/%d/" % cred_id)]


def test_host_is_required_before_anything_is_written(awx_standin, tmp_path):
    awx = awx_standin
    result = run_task(awx, tmp_path, MODULE, dict(name="t5-nohost", organization="Default", username="bot", password=PLANTED))
    assert result["failed"] is True
    assert result["msg"] == ("Failed to create registry credential 't5-nohost': input host is not set. Set host "
                             "(AWX would accept the credential but every job using it would fail).")
    assert awx.writes() == []


def test_missing_organization_is_a_clear_error(awx_standin, tmp_path):
    awx = awx_standin
    result = run_task(awx, tmp_path, MODULE, cred_args(organization="no-such-org"))
    assert result["failed"] is True
    assert result["msg"] == ("Failed to create registry credential 't5-registry': organization 'no-such-org' does not "
                             "exist (or user 'admin' cannot see it). Check the name or id, or create the organization "
                             "first.")
    assert awx.writes() == []


def test_wrong_password_and_no_credentials_get_different_401_messages(awx_standin, tmp_path):
    awx = awx_standin
    wrong = run_task(awx, tmp_path, MODULE, cred_args(controller_password="not-the-password"))
    assert wrong["failed"] is True and wrong["status"] == 401
    assert wrong["msg"] == ("Failed to look up registry credential 't5-registry': AWX answered 401: it rejected the "
                            "password of user 'admin'. Check controller_username and controller_password (basic "
                            "authentication must be enabled in AWX).")
    anonymous = run_task(awx, tmp_path, MODULE, cred_args(controller_username=None, controller_password=None))
    assert anonymous["failed"] is True and anonymous["status"] == 401
    assert anonymous["msg"].startswith("Failed to look up registry credential 't5-registry': AWX answered 401: no "
                                       "credentials were given. Set controller_username and controller_password, or "
                                       "controller_oauthtoken")
    assert awx.writes() == []


def test_oauth_token(awx_standin, tmp_path):
    awx = awx_standin
    result = run_task(awx, tmp_path, MODULE, cred_args(controller_username=None, controller_password=None,
                                                       controller_oauthtoken=awx.token))
    assert result["changed"] is True, result
    assert stored(awx, result["id"])["_created_by"] == 1
    bad = run_task(awx, tmp_path, MODULE, cred_args(controller_oauthtoken="not-a-token"))
    assert bad["failed"] is True
    assert "AWX answered 401: it rejected the OAuth token" in bad["msg"]


def test_503_twice_then_success(awx_standin, tmp_path):
    awx = awx_standin
    awx.inject("/api/v2/credentials/?name=", [503, 503], method="GET")
    result = run_task(awx, tmp_path, MODULE, cred_args())
    assert result["changed"] is True, result
    assert [(req.method, req.status) for req in awx.requests if req.path.startswith("/api/v2/credentials/?name=")] \
        == [("GET", 503), ("GET", 503), ("GET", 200)]


def test_reset_and_timeout_are_retried(awx_standin, tmp_path):
    awx = awx_standin
    awx.inject("/api/v2/credentials/?name=", ["reset", "timeout"], method="GET", delay=3.0)
    result = run_task(awx, tmp_path, MODULE, cred_args(request_timeout=1))
    assert result["changed"] is True, result
    assert [req.fault for req in awx.requests if req.path.startswith("/api/v2/credentials/?name=")][:2] == \
        ["reset", "timeout"]
    assert awx.count("GET", "/api/v2/credentials/?name=") == 3


def test_connection_from_controller_and_tower_environment_variables(awx_standin, tmp_path):
    awx = awx_standin
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"name": "no connection options", MODULE: cred_args()}]}]
    path = str(tmp_path / "env.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(play, handle)
    # CONTROLLER_* wins over TOWER_*: a wrong TOWER_HOST must not be used.
    env = {"CONTROLLER_HOST": awx.url, "TOWER_HOST": "http://127.0.0.1:9", "TOWER_USERNAME": awx.username,
           "TOWER_PASSWORD": awx.password, "CONTROLLER_VERIFY_SSL": "false"}
    doc, rc, output = run_playbook(path, env=env)
    result = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert rc == 0 and result["changed"] is True, output
    assert result["url"].startswith(awx.url)


def test_planted_password_never_in_verbose_output(awx_standin, tmp_path):
    awx = awx_standin
    tasks = [{"name": "create", MODULE: cred_args(), "register": "created"},
             {"name": "rotate", MODULE: cred_args(update_password="always", host="registry9.example.com")},
             {"name": "show", "ansible.builtin.debug": {"var": "created"}}]
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/eeforge.builder.awx": {"controller_host": awx.url,
                                                               "controller_username": awx.username,
                                                               "controller_password": awx.password}},
             "tasks": tasks}]
    path = str(tmp_path / "verbose.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(play, handle)
    scratch = tmp_path / "scratch"
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
               **scratch_env(scratch))
    proc = subprocess.run(["ansible-playbook", "-vvv", "--diff", "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, path],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "changed=2" in output  # both tasks ran and wrote
    assert PLANTED not in output
    # ansible's AnsiballZ dirs (they carry the module arguments during the run) are gone, and no
    # temp file of the run holds the password
    assert leftovers(scratch / "ansible-remote") == [] and leftovers(scratch / "tmp") == []
    assert files_containing(PLANTED, scratch)[0] == []
    cred = awx.find("credentials", name="t5-registry")
    assert stored(awx, cred["id"])["inputs"]["password"] == PLANTED  # it did reach AWX


# -- bulk form: items -------------------------------------------------------------------------------

def bulk_creds(count):
    return [dict(name="t16-registry-%d" % number, organization="Default" if number % 2 else "t16-org",
                 host="registry%d.example.com" % number, username="bot%d" % number,
                 password="%s-%d" % (PLANTED, number)) for number in range(count)]


def test_bulk_create_then_unchanged_rerun_is_three_requests(awx_standin, tmp_path):
    awx = awx_standin
    org_id = awx.post("/api/v2/organizations/", {"name": "t16-org"})["id"]
    items = bulk_creds(5)
    awx.clear_requests()
    created = run_task(awx, tmp_path, MODULE, dict(items=items), diff=True)
    assert created["changed"] is True, created
    assert [(res["name"], res["action"], res["password_updated"]) for res in created["results"]] == \
        [(item["name"], "create", True) for item in items]
    for item, res in zip(items, created["results"]):
        raw = stored(awx, res["id"])
        assert raw["inputs"] == {"host": item["host"], "username": item["username"], "password": item["password"]}
        assert raw["organization"] == (1 if item["organization"] == "Default" else org_id)
    assert [diff["after"]["inputs"]["password"] for diff in created["diff"]] == ["********"] * 5
    assert PLANTED not in json.dumps(created)
    assert [(req.method, req.path.split("?")[0]) for req in awx.requests if req.method == "GET"] == [
        ("GET", "/api/v2/credentials/"), ("GET", "/api/v2/organizations/"), ("GET", "/api/v2/credential_types/")]

    awx.clear_requests()
    again = run_task(awx, tmp_path, MODULE, dict(items=items))
    assert again["changed"] is False and [res["action"] for res in again["results"]] == ["none"] * 5, again
    log = [(req.method, req.path.split("?")[0]) for req in awx.requests]
    token_id = int(log[-1][1].rstrip("/").rsplit("/", 1)[1])
    assert log == [("POST", "/api/v2/tokens/"), ("GET", "/api/v2/credentials/"),
                   ("DELETE", "/api/v2/tokens/%d/" % token_id)]
    assert token_id not in awx.store.objects["tokens"]
    assert "name__in=" in awx.requests[1].path and "page_size=200" in awx.requests[1].path


def test_bulk_update_keeps_secrets_and_writes_only_changes(awx_standin, tmp_path):
    awx = awx_standin
    awx.post("/api/v2/organizations/", {"name": "t16-org"})
    items = bulk_creds(4)
    created = run_task(awx, tmp_path, MODULE, dict(items=items))
    items[1]["host"] = "moved.example.com"
    items[3] = dict(name=items[3]["name"], organization=items[3]["organization"], state="absent")
    awx.clear_requests()
    updated = run_task(awx, tmp_path, MODULE, dict(items=items), diff=True)
    assert [res["action"] for res in updated["results"]] == ["none", "update", "none", "delete"], updated
    assert updated["results"][1]["changed_inputs"] == ["host"] and updated["results"][1]["password_updated"] is False
    writes = [(req.method, req.path) for req in awx.writes() if "/tokens/" not in req.path]
    assert writes == [("PATCH", "/api/v2/credentials/%d/" % created["results"][1]["id"]),
                      ("DELETE", "/api/v2/credentials/%d/" % created["results"][3]["id"])]
    assert stored(awx, created["results"][1]["id"])["inputs"] == {
        "host": "moved.example.com", "username": "bot1", "password": "%s-1" % PLANTED}
    assert created["results"][3]["id"] not in awx.store.objects["credentials"]
    assert [diff["before_header"] for diff in updated["diff"]] == [
        "registry credential 't16-registry-1' (organization Default)",
        "registry credential 't16-registry-3' (organization Default)"]


def test_bulk_check_mode_writes_nothing(awx_standin, tmp_path):
    awx = awx_standin
    awx.post("/api/v2/organizations/", {"name": "t16-org"})
    before = set(awx.store.objects["credentials"])
    awx.clear_requests()
    predicted = run_task(awx, tmp_path, MODULE, dict(items=bulk_creds(3)), check=True, diff=True)
    assert predicted["changed"] is True and [res["action"] for res in predicted["results"]] == ["create"] * 3
    assert awx.writes() == [] and set(awx.store.objects["credentials"]) == before
    no_host = dict(name="t16-nohost", organization="Default")
    missing_host = run_task(awx, tmp_path, MODULE, dict(items=bulk_creds(2) + [no_host]))
    assert missing_host["failed"] is True and missing_host["msg"].startswith(
        "Failed to create registry credential 't16-nohost': input host is not set."), missing_host
    assert [req for req in awx.writes() if "/tokens/" not in req.path] == []
