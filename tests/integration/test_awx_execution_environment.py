# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""awx_execution_environment against the stand-in AWX, through ansible-playbook; pin_digest against the
harness registry with the base image pushed there."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.parse

import pytest

from tests.harness.podman_env import podman
from tests.integration.secret_grep import files_containing, leftovers, scratch_env
from tests.integration.awx_tasks import run_task, run_tasks

MODULE = "eeforge.builder.awx_execution_environment"
IMAGE = "registry.example.com/t5/ee:1.0"
EE = "/api/v2/execution_environments/"


def ee_args(**extra):
    args = dict(name="t5-ee", image=IMAGE)
    args.update(extra)
    return args


def raw_ee(awx, ee_id):
    return awx.store.objects["execution_environments"].get(ee_id)


def registry_credential(awx, name="t5-registry", org=1):
    return awx.post("/api/v2/credentials/", {"name": name, "organization": org, "credential_type": 18,
                                             "inputs": {"host": "registry.example.com", "username": "bot",
                                                        "password": "secret-t5"}})["id"]


def requests_of(awx):
    return [(req.method, req.path) for req in awx.requests]


def test_create_then_rerun_is_unchanged_with_one_get(awx_standin, tmp_path):
    awx = awx_standin
    cred_id = registry_credential(awx)
    org_id = awx.post("/api/v2/organizations/", {"name": "t5-org"})["id"]
    args = ee_args(organization="t5-org", credential="t5-registry", pull="missing", description="AWS EE")
    result = run_task(awx, tmp_path, MODULE, args, diff=True)
    assert result["changed"] is True, result
    assert result["url"] == "%s%s%d/" % (awx.url, EE, result["id"])
    assert (result["image"], result["previous_image"]) == (IMAGE, None)
    assert result["diff"] == {"before": {}, "after": {
        "name": "t5-ee", "image": IMAGE, "pull": "missing", "description": "AWS EE", "organization": "t5-org",
        "credential": "t5-registry"}}
    raw = raw_ee(awx, result["id"])
    assert (raw["organization"], raw["credential"], raw["pull"], raw["image"]) == (org_id, cred_id, "missing", IMAGE)

    awx.clear_requests()
    again = run_task(awx, tmp_path, MODULE, args)
    assert again["changed"] is False, again
    assert (again["id"], again["url"], again["previous_image"]) == (result["id"], result["url"], IMAGE)
    assert requests_of(awx) == [("GET", EE + "?name=t5-ee")]


def test_unchanged_rerun_of_several_objects_needs_at_most_two_gets_each(awx_standin, tmp_path):
    awx = awx_standin
    registry_credential(awx)
    org_id = awx.post("/api/v2/organizations/", {"name": "t5-org"})["id"]
    tasks = [{"name": "ee %d" % number,
              MODULE: ee_args(name="t5-ee-%d" % number, organization=str(org_id) if number % 2 else "t5-org",
                              credential="t5-registry", pull="always")} for number in range(4)]
    first = run_tasks(awx, tmp_path, tasks)
    assert all(result["changed"] for result in first), first
    awx.clear_requests()
    second = run_tasks(awx, tmp_path, tasks)
    assert not any(result["changed"] for result in second), second
    assert awx.writes() == []
    assert awx.count("GET") <= 2 * len(tasks)
    assert awx.count("GET") == len(tasks)  # one ?name= GET each: names of org and credential match the summary


def test_update_one_field(awx_standin, tmp_path):
    awx = awx_standin
    ee_id = awx.post(EE, {"name": "t5-ee", "image": IMAGE, "pull": "missing"})["id"]
    awx.clear_requests()
    result = run_task(awx, tmp_path, MODULE, ee_args(pull="always"), diff=True)
    assert result["changed"] is True and result["id"] == ee_id, result
    assert result["diff"]["before"]["pull"] == "missing" and result["diff"]["after"]["pull"] == "always"
    assert {key for key in result["diff"]["before"] if result["diff"]["before"][key] != result["diff"]["after"][key]} \
        == {"pull"}
    assert requests_of(awx) == [("GET", EE + "?name=t5-ee"), ("PATCH", EE + "%d/" % ee_id)]
    assert raw_ee(awx, ee_id)["pull"] == "always"


def test_rename(awx_standin, tmp_path):
    awx = awx_standin
    ee_id = awx.post(EE, {"name": "t5-old", "image": IMAGE})["id"]
    args = ee_args(name="t5-old", new_name="t5-new")
    results = run_tasks(awx, tmp_path, [{"name": "rename", MODULE: args, "diff": True},
                                        {"name": "rename again", MODULE: args}])
    assert results[0]["changed"] is True and results[0]["id"] == ee_id, results
    assert results[0]["diff"]["before"]["name"] == "t5-old" and results[0]["diff"]["after"]["name"] == "t5-new"
    assert results[1]["changed"] is False and results[1]["id"] == ee_id, results
    assert raw_ee(awx, ee_id)["name"] == "t5-new"
    # The re-run found nothing under the old name, then the EE under the new one: two GETs.
    assert requests_of(awx)[-2:] == [("GET", EE + "?name=t5-old"), ("GET", EE + "?name=t5-new")]


def test_move_to_another_organization_instead_of_duplicate_name_error(awx_standin, tmp_path):
    awx = awx_standin
    org_a = awx.post("/api/v2/organizations/", {"name": "t5-org-a"})["id"]
    org_b = awx.post("/api/v2/organizations/", {"name": "t5-org-b"})["id"]
    ee_id = awx.post(EE, {"name": "t5-ee", "image": IMAGE, "organization": org_a})["id"]
    results = run_tasks(awx, tmp_path, [
        {"name": "move to b", MODULE: ee_args(organization="t5-org-b"), "diff": True},
        {"name": "make global", MODULE: ee_args(), "diff": True},
        {"name": "global again", MODULE: ee_args()},
    ])
    assert results[0]["changed"] is True and results[0]["id"] == ee_id, results
    assert (results[0]["diff"]["before"]["organization"], results[0]["diff"]["after"]["organization"]) == \
        ("t5-org-a", "t5-org-b")
    assert (results[1]["diff"]["before"]["organization"], results[1]["diff"]["after"]["organization"]) == \
        ("t5-org-b", None)
    assert results[2]["changed"] is False
    assert raw_ee(awx, ee_id)["organization"] is None
    assert awx.count("POST") == 0 and org_b


def test_check_mode_writes_nothing(awx_standin, tmp_path):
    awx = awx_standin
    before = set(awx.store.objects["execution_environments"])
    created = run_task(awx, tmp_path, MODULE, ee_args(organization="Default", pull="never"), check=True, diff=True)
    assert created["changed"] is True and created["id"] is None and created["url"] is None, created
    assert created["diff"]["after"]["organization"] == "Default"
    assert set(awx.store.objects["execution_environments"]) == before

    ee_id = awx.post(EE, {"name": "t5-ee", "image": IMAGE})["id"]
    updated = run_task(awx, tmp_path, MODULE, ee_args(image="registry.example.com/t5/ee:2.0"), check=True, diff=True)
    assert updated["changed"] is True and updated["id"] == ee_id, updated
    assert (updated["image"], updated["previous_image"]) == ("registry.example.com/t5/ee:2.0", IMAGE)
    deleted = run_task(awx, tmp_path, MODULE, ee_args(state="absent"), check=True)
    assert deleted["changed"] is True and deleted["id"] == ee_id, deleted
    assert awx.writes() == []
    assert raw_ee(awx, ee_id)["image"] == IMAGE


def test_delete_unused_then_again(awx_standin, tmp_path):
    awx = awx_standin
    ee_id = awx.post(EE, {"name": "t5-ee", "image": IMAGE})["id"]
    results = run_tasks(awx, tmp_path, [{"name": "delete", MODULE: ee_args(state="absent")},
                                        {"name": "delete again", MODULE: ee_args(state="absent")}])
    assert results[0]["changed"] is True and results[0]["id"] == ee_id and results[0]["references"] == [], results
    assert results[1]["changed"] is False and results[1]["id"] is None, results
    assert raw_ee(awx, ee_id) is None
    assert [(req.method, req.path) for req in awx.writes()] == [("DELETE", EE + "%d/" % ee_id)]


def test_delete_in_use_is_refused_then_forced(awx_standin, tmp_path):
    awx = awx_standin
    ee_id = awx.post(EE, {"name": "t5-ee", "image": IMAGE})["id"]
    awx.patch("/api/v2/job_templates/7/", {"execution_environment": ee_id, "ask_execution_environment_on_launch": True})
    awx.patch("/api/v2/projects/6/", {"default_environment": ee_id})
    awx.patch("/api/v2/organizations/1/", {"default_environment": ee_id})
    wfjt = awx.post("/api/v2/workflow_job_templates/", {"name": "t5-workflow", "organization": 1})["id"]
    node = awx.post("/api/v2/workflow_job_templates/%d/workflow_nodes/" % wfjt,
                    {"unified_job_template": 7, "identifier": "t5-node", "execution_environment": ee_id})["id"]
    awx.patch("/api/v2/settings/system/", {"DEFAULT_EXECUTION_ENVIRONMENT": ee_id})
    awx.clear_requests()
    expected = [
        {"type": "job_template", "id": 7, "name": "Demo Job Template", "field": "execution_environment"},
        {"type": "workflow_job_template_node", "id": node, "name": "t5-node", "field": "execution_environment"},
        {"type": "organization", "id": 1, "name": "Default", "field": "default_environment"},
        {"type": "project", "id": 6, "name": "Demo Project", "field": "default_environment"},
        {"type": "setting", "id": None, "name": "DEFAULT_EXECUTION_ENVIRONMENT", "field": "value"},
    ]

    refused = run_task(awx, tmp_path, MODULE, ee_args(state="absent"))
    assert refused["failed"] is True, refused
    assert refused["references"] == expected
    assert refused["msg"] == (
        "Failed to delete execution environment 't5-ee': it is used by job_template 'Demo Job Template' "
        "(execution_environment), workflow_job_template_node 't5-node' (execution_environment), organization "
        "'Default' (default_environment), project 'Demo Project' (default_environment), setting "
        "'DEFAULT_EXECUTION_ENVIRONMENT' (value), which AWX would silently set to null. Point them at another "
        "execution environment first, or set force: true.")
    assert awx.writes() == [] and raw_ee(awx, ee_id) is not None

    forced = run_task(awx, tmp_path, MODULE, ee_args(state="absent", force=True))
    assert forced["changed"] is True and forced["references"] == expected, forced
    assert raw_ee(awx, ee_id) is None
    assert awx.get("/api/v2/job_templates/7/")["execution_environment"] is None


def test_managed_ee_only_pull_may_change(awx_standin, tmp_path):
    awx = awx_standin
    name = "Control Plane Execution Environment"
    refused = run_task(awx, tmp_path, MODULE, dict(name=name, image="quay.io/ansible/awx-ee:24.6.1"))
    assert refused["failed"] is True
    assert refused["msg"] == ("Failed to update execution environment 'Control Plane Execution Environment': it is "
                              "managed by AWX, which only lets 'pull' change (not image). Change only pull, or "
                              "register the image as another execution environment.")
    pulled = run_task(awx, tmp_path, MODULE, dict(name=name, pull="always"))
    assert pulled["changed"] is True, pulled
    assert raw_ee(awx, 2)["pull"] == "always"
    assert [(req.method, req.path) for req in awx.writes()] == [("PATCH", EE + "2/")]
    deleted = run_task(awx, tmp_path, MODULE, dict(name=name, state="absent", force=True))
    assert deleted["failed"] is True and "it is managed by AWX" in deleted["msg"]


def test_403_from_awx_names_the_user(awx_standin, tmp_path):
    """A user without roles may not create a global EE: AWX answers 403, the message says who and what."""
    awx = awx_standin
    awx.post("/api/v2/users/", {"username": "t5-user", "password": "t5-user-pw", "is_superuser": False})
    result = run_task(awx, tmp_path, MODULE, ee_args(controller_username="t5-user", controller_password="t5-user-pw"))
    assert result["failed"] is True and result["status"] == 403, result
    assert result["msg"] == ("Failed to create execution environment 't5-ee': AWX answered 403 (user 't5-user' may not "
                             "POST /api/v2/execution_environments/). Use an account with the admin role on this "
                             "object (or a superuser).")
    assert awx.count("POST", EE, status=403) == 1


@pytest.mark.parametrize("image, cause", [
    ("registry.example.com/t5/my ee:1.0", "it contains whitespace"),
    ("registry.example.com/T5/EE:1.0", "repository path 'T5/EE' must be lower case"),
    ("registry.example.com/t5/ee", "it has no tag"),
])
def test_image_is_validated_before_awx_is_called(awx_standin, tmp_path, image, cause):
    awx = awx_standin
    result = run_task(awx, tmp_path, MODULE, ee_args(image=image))
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to register execution environment 't5-ee': Invalid image reference '%s': %s."
                                    % (image, cause)), result["msg"]
    assert awx.requests == []


def test_digest_reference_is_accepted(awx_standin, tmp_path):
    awx = awx_standin
    image = "registry.example.com/t5/ee@sha256:" + "ab" * 32
    result = run_task(awx, tmp_path, MODULE, ee_args(image=image))
    assert result["changed"] is True and raw_ee(awx, result["id"])["image"] == image, result


def test_missing_organization_and_wrong_credential_kind(awx_standin, tmp_path):
    awx = awx_standin
    results = run_tasks(awx, tmp_path, [
        {"name": "missing org", MODULE: ee_args(organization="no-such-org"), "ignore_errors": True},
        {"name": "machine credential", MODULE: ee_args(credential="Demo Credential"), "ignore_errors": True},
    ])
    assert results[0]["msg"] == ("Failed to create execution environment 't5-ee': organization 'no-such-org' does not "
                                 "exist (or user 'admin' cannot see it). Check the name or id, or create the "
                                 "organization first.")
    assert results[1]["msg"] == ("Failed to create execution environment 't5-ee': Container Registry credential "
                                 "'Demo Credential' does not exist (or user 'admin' cannot see it). Check the name or "
                                 "id, or create the Container Registry credential first.")
    assert awx.writes() == []


def test_400_from_awx_is_shown_field_by_field(awx_standin, tmp_path):
    """A rename onto a name another EE has: AWX's 400 on ``name``, as AWX worded it."""
    awx = awx_standin
    awx.post(EE, {"name": "t5-a", "image": IMAGE})
    awx.post(EE, {"name": "t5-b", "image": IMAGE})
    result = run_task(awx, tmp_path, MODULE, dict(name="t5-a", new_name="t5-b"))
    assert result["failed"] is True and result["status"] == 400
    assert result["msg"] == ("Failed to update execution environment 't5-a': AWX rejected the request (400): name: "
                             "Execution environment with this Name already exists. Fix the values named above.")


def test_503_twice_then_success_and_token_auth(awx_standin, tmp_path):
    awx = awx_standin
    awx.inject(EE, [503, 503], method="POST")
    result = run_task(awx, tmp_path, MODULE, ee_args(controller_username=None, controller_password=None,
                                                     controller_oauthtoken=awx.token))
    assert result["changed"] is True, result
    assert [req.status for req in awx.requests if req.method == "POST"] == [503, 503, 201]
    assert len(awx.store.objects["execution_environments"]) == 3


# -- pin_digest against the harness registry ------------------------------------------------------

def _push(base_image, registry, dest, fmt, tmp_path):
    auth = tmp_path / "push-auth.json"
    token = base64.b64encode(("%s:%s" % (registry.username, registry.password)).encode()).decode()
    auth.write_text(json.dumps({"auths": {registry.location: {"auth": token}}}))
    os.chmod(str(auth), 0o600)
    podman(["push", "--quiet", "--tls-verify=false", "--authfile", str(auth), "--format", fmt, base_image,
            "docker://%s/%s" % (registry.location, dest)])


@pytest.mark.slow
def test_pin_digest(awx_standin, auth_registry, base_image, tmp_path):
    awx = awx_standin
    _push(base_image, auth_registry, "t5/pinned:1", "v2s2", tmp_path)
    first_digest = auth_registry.manifest_digest("t5/pinned", "1")
    image = "%s/t5/pinned:1" % auth_registry.location
    args = ee_args(image=image, pin_digest=True, pull="missing", registry_username=auth_registry.username,
                   registry_password=auth_registry.password)
    pinned = "%s/t5/pinned@%s" % (auth_registry.location, first_digest)

    results = run_tasks(awx, tmp_path, [{"name": "pin", MODULE: args}, {"name": "pin again", MODULE: args}])
    assert results[0]["changed"] is True, results
    assert (results[0]["image"], results[0]["digest"], results[0]["previous_image"]) == (pinned, first_digest, None)
    assert raw_ee(awx, results[0]["id"])["image"] == pinned
    assert results[1]["changed"] is False and results[1]["previous_image"] == pinned, results
    assert auth_registry.password not in json.dumps(results)

    # The tag is pushed again with other content: the next run registers the new digest.
    _push(base_image, auth_registry, "t5/pinned:1", "oci", tmp_path)
    second_digest = auth_registry.manifest_digest("t5/pinned", "1")
    assert second_digest != first_digest
    moved = run_task(awx, tmp_path, MODULE, args, diff=True)
    assert moved["changed"] is True, moved
    assert (moved["digest"], moved["previous_image"]) == (second_digest, pinned)
    assert moved["image"] == "%s/t5/pinned@%s" % (auth_registry.location, second_digest)
    assert moved["diff"]["before"]["image"] == pinned

    # Without the registry password the registry refuses: a one-line error, nothing written in AWX.
    awx.clear_requests()
    denied = run_task(awx, tmp_path, MODULE, ee_args(image=image, pin_digest=True))
    assert denied["failed"] is True
    assert denied["msg"].startswith("Failed to pin execution environment 't5-ee': could not "), denied["msg"]
    assert awx.requests == []

    # -vvv --diff, connection by OAuth token: neither the registry password nor the token is in the
    # output, and no temp file of the run (ansible's AnsiballZ dirs, skopeo's auth dir) is left with them.
    scratch = tmp_path / "scratch"
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"name": "pin verbosely", MODULE: dict(
        args, description="pinned verbosely", controller_host=awx.url, controller_oauthtoken=awx.token)}]}]
    path = tmp_path / "verbose.yml"
    path.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", **scratch_env(scratch))
    for key in [key for key in env if key.startswith(("CONTROLLER_", "TOWER_"))]:
        del env[key]
    proc = subprocess.run(["ansible-playbook", "-vvv", "--diff", "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, str(path)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "changed=1" in output, output
    assert raw_ee(awx, results[0]["id"])["description"] == "pinned verbosely"
    for secret in (auth_registry.password, awx.token):
        assert secret not in output
        assert files_containing(secret, scratch, username=auth_registry.username)[0] == [], secret
    assert leftovers(scratch / "tmp") == [] and leftovers(scratch / "ansible-remote") == []


# -- bulk form: items, prune ----------------------------------------------------------------------

def bulk_items(count, prefix="t16-ee-", **extra):
    items = []
    for number in range(count):
        item = dict(name="%s%02d" % (prefix, number), image="registry.example.com/t16/ee-%02d:1.0" % number,
                    pull=["missing", "always", "never", ""][number % 4])
        if number % 3 == 0:
            item.update(organization="t16-org", credential="t16-registry")
        item.update(extra)
        items.append(item)
    return items


def fleet_setup(awx):
    org_id = awx.post("/api/v2/organizations/", {"name": "t16-org"})["id"]
    cred_id = registry_credential(awx, name="t16-registry", org=org_id)
    return org_id, cred_id


def tokens(awx):
    return sorted(token["description"] for token in awx.store.objects["tokens"].values())


def split(path):
    parsed = urllib.parse.urlsplit(path)
    return parsed.path, dict(urllib.parse.parse_qsl(parsed.query))


def test_bulk_create_then_unchanged_rerun_is_three_requests(awx_standin, tmp_path):
    awx = awx_standin
    org_id, cred_id = fleet_setup(awx)
    items = bulk_items(30)
    before_tokens = tokens(awx)
    awx.clear_requests()
    created = run_task(awx, tmp_path, MODULE, dict(items=items), diff=True)
    assert created["changed"] is True, created
    assert [(res["name"], res["action"], res["changed"]) for res in created["results"]] == \
        [(item["name"], "create", True) for item in items]
    assert [diff["after_header"] for diff in created["diff"]] == ["execution environment '%s'" % item["name"]
                                                                  for item in items]
    assert created["diff"][0] == {"before_header": "execution environment 't16-ee-00'",
                                  "after_header": "execution environment 't16-ee-00'", "before": {}, "after": {
                                      "name": "t16-ee-00", "image": "registry.example.com/t16/ee-00:1.0",
                                      "pull": "missing", "description": "", "organization": "t16-org",
                                      "credential": "t16-registry"}}
    for item, res in zip(items, created["results"]):
        raw = raw_ee(awx, res["id"])
        assert (raw["name"], raw["image"], raw["pull"]) == (item["name"], item["image"], item["pull"])
        assert (raw["organization"], raw["credential"]) == ((org_id, cred_id) if "organization" in item else (None, None))
    # One list request per kind: the EEs, the organizations, the credentials; then one POST per EE.
    gets = [split(req.path) for req in awx.requests if req.method == "GET"]
    assert [(path, sorted(query)) for path, query in gets] == [
        (EE, ["name__in", "page_size"]), ("/api/v2/organizations/", ["name__in", "page_size"]),
        ("/api/v2/credentials/", ["name__in", "page_size"])]
    assert gets[0][1]["page_size"] == "200" and gets[0][1]["name__in"].split(",") == sorted(i["name"] for i in items)
    assert awx.count("POST", EE) == 30
    assert tokens(awx) == before_tokens  # the temporary token is gone

    awx.clear_requests()
    again = run_task(awx, tmp_path, MODULE, dict(items=items))
    assert again["changed"] is False, again
    assert [(res["action"], res["id"]) for res in again["results"]] == [("none", res["id"]) for res in created["results"]]
    log = [(req.method, split(req.path)[0]) for req in awx.requests]
    token_id = int(log[-1][1].rstrip("/").rsplit("/", 1)[1])
    assert log == [("POST", "/api/v2/tokens/"), ("GET", EE), ("DELETE", "/api/v2/tokens/%d/" % token_id)]
    # The token authenticated the list request; the password went only to create and delete it.
    assert tokens(awx) == before_tokens


def test_bulk_update_writes_only_the_changed_items(awx_standin, tmp_path):
    awx = awx_standin
    fleet_setup(awx)
    items = bulk_items(8)
    created = run_task(awx, tmp_path, MODULE, dict(items=items))
    ids = [res["id"] for res in created["results"]]
    items[2]["image"] = "registry.example.com/t16/ee-02:2.0"
    items[5].update(organization="t16-org", credential="t16-registry")
    items[7]["pull"] = "always"
    awx.clear_requests()
    updated = run_task(awx, tmp_path, MODULE, dict(items=items), diff=True)
    assert updated["changed"] is True
    assert [res["action"] for res in updated["results"]] == ["none", "none", "update", "none", "none", "update",
                                                             "none", "update"]
    assert updated["results"][2]["previous_image"] == "registry.example.com/t16/ee-02:1.0"
    assert updated["results"][2]["image"] == "registry.example.com/t16/ee-02:2.0"
    assert [(req.method, req.path, req.body) for req in awx.writes(EE)] == [
        ("PATCH", EE + "%d/" % ids[2], {"image": "registry.example.com/t16/ee-02:2.0"}),
        ("PATCH", EE + "%d/" % ids[5], {"organization": awx.find("organizations", name="t16-org")["id"],
                                        "credential": awx.find("credentials", name="t16-registry")["id"]}),
        ("PATCH", EE + "%d/" % ids[7], {"pull": "always"})]
    assert [(diff["after_header"], diff["before"]["organization"], diff["after"]["organization"])
            for diff in updated["diff"]] == [("execution environment 't16-ee-02'", None, None),
                                             ("execution environment 't16-ee-05'", None, "t16-org"),
                                             ("execution environment 't16-ee-07'", None, None)]
    assert raw_ee(awx, ids[7])["pull"] == "always"


def test_bulk_check_mode_predicts_and_writes_nothing(awx_standin, tmp_path):
    awx = awx_standin
    fleet_setup(awx)
    items = bulk_items(4)
    before = set(awx.store.objects["execution_environments"])
    awx.clear_requests()
    predicted = run_task(awx, tmp_path, MODULE, dict(items=items), check=True, diff=True)
    assert predicted["changed"] is True and [res["action"] for res in predicted["results"]] == ["create"] * 4
    assert [res["id"] for res in predicted["results"]] == [None] * 4
    assert len(predicted["diff"]) == 4
    assert awx.writes() == [] and set(awx.store.objects["execution_environments"]) == before  # not even a token

    created = run_task(awx, tmp_path, MODULE, dict(items=items))
    awx.post(EE, {"name": "t16-ee-99", "image": IMAGE})
    items[1]["image"] = "registry.example.com/t16/ee-01:2.0"
    awx.clear_requests()
    predicted = run_task(awx, tmp_path, MODULE, dict(items=items[:3] + [dict(items[3], state="absent")], prune=True,
                                                     prune_prefix="t16-ee-"), check=True, diff=True)
    assert [res["action"] for res in predicted["results"]] == ["none", "update", "none", "delete"]
    assert [res["name"] for res in predicted["pruned"]] == ["t16-ee-99"]
    assert [diff["after_header"] for diff in predicted["diff"]] == [
        "execution environment 't16-ee-01'", "execution environment 't16-ee-03'", "execution environment 't16-ee-99'"]
    assert awx.writes() == []
    assert raw_ee(awx, created["results"][1]["id"])["image"] == "registry.example.com/t16/ee-01:1.0"


def test_bulk_prune_refuses_referenced_ees_unless_forced(awx_standin, tmp_path):
    awx = awx_standin
    org_id, _cred = fleet_setup(awx)
    items = bulk_items(6)
    run_task(awx, tmp_path, MODULE, dict(items=items))
    other = awx.post(EE, {"name": "t16-other", "image": IMAGE})["id"]  # outside the prefix: never pruned
    used = awx.find("execution_environments", name="t16-ee-04")["id"]
    unused = awx.find("execution_environments", name="t16-ee-05")["id"]
    awx.patch("/api/v2/job_templates/7/", {"execution_environment": used})
    awx.patch("/api/v2/organizations/%d/" % org_id, {"default_environment": used})
    before_tokens = tokens(awx)
    awx.clear_requests()

    refused = run_task(awx, tmp_path, MODULE, dict(items=items[:4], prune=True, prune_prefix="t16-ee-"))
    assert refused["failed"] is True, refused
    assert refused["msg"] == (
        "Failed to prune execution environment 't16-ee-04': it is used by job_template 'Demo Job Template' "
        "(execution_environment), organization 't16-org' (default_environment), which AWX would silently set to "
        "null. Point them at another execution environment first, or set force: true.")
    assert refused["references"] == {"t16-ee-04": [
        {"type": "job_template", "id": 7, "name": "Demo Job Template", "field": "execution_environment"},
        {"type": "organization", "id": org_id, "name": "t16-org", "field": "default_environment"}]}
    # Nothing was deleted, not even the unused one; the token was deleted although the task failed.
    assert [(req.method, split(req.path)[0]) for req in awx.writes() if "/tokens/" not in req.path] == []
    assert raw_ee(awx, used) and raw_ee(awx, unused) and tokens(awx) == before_tokens
    # One request per kind of reference for all the EEs to prune (contract fleet/111-115) and the settings.
    assert sorted(split(req.path)[0] for req in awx.requests if req.method == "GET") == sorted([
        EE, "/api/v2/job_templates/", "/api/v2/inventory_sources/", "/api/v2/projects/", "/api/v2/organizations/",
        "/api/v2/workflow_job_template_nodes/", "/api/v2/settings/system/"])
    # Two of them: both named, each with its users.
    awx.patch("/api/v2/projects/6/", {"default_environment": unused})
    two = run_task(awx, tmp_path, MODULE, dict(items=items[:4], prune=True, prune_prefix="t16-ee-"))
    assert two["msg"] == (
        "Failed to prune execution environments 't16-ee-04, t16-ee-05': 't16-ee-04' is used by job_template "
        "'Demo Job Template' (execution_environment), organization 't16-org' (default_environment); 't16-ee-05' is "
        "used by project 'Demo Project' (default_environment), which AWX would silently set to null. Point them at "
        "another execution environment first, or set force: true."), two
    awx.patch("/api/v2/projects/6/", {"default_environment": None})

    forced = run_task(awx, tmp_path, MODULE, dict(items=items[:4], prune=True, prune_prefix="t16-ee-", force=True),
                      diff=True)
    assert forced["changed"] is True, forced
    assert [(res["name"], res["id"], len(res["references"])) for res in forced["pruned"]] == [
        ("t16-ee-04", used, 2), ("t16-ee-05", unused, 0)]  # by name
    assert [res["action"] for res in forced["results"]] == ["none"] * 4
    assert raw_ee(awx, used) is None and raw_ee(awx, unused) is None and raw_ee(awx, other) is not None
    assert awx.get("/api/v2/job_templates/7/")["execution_environment"] is None
    assert {diff["after_header"]: diff["after"] for diff in forced["diff"]} == {
        "execution environment 't16-ee-04'": {}, "execution environment 't16-ee-05'": {}}


def test_bulk_prune_by_organization_and_absent_items(awx_standin, tmp_path):
    awx = awx_standin
    org_id, _cred = fleet_setup(awx)
    in_org = awx.post(EE, {"name": "t16-stray", "image": IMAGE, "organization": org_id})["id"]
    global_ee = awx.post(EE, {"name": "t16-global", "image": IMAGE})["id"]
    gone = awx.post(EE, {"name": "t16-gone", "image": IMAGE})["id"]
    items = [dict(name="t16-kept", image=IMAGE, organization="t16-org"), dict(name="t16-gone", state="absent"),
             dict(name="t16-never-was", state="absent")]
    result = run_task(awx, tmp_path, MODULE, dict(items=items, prune=True, prune_organization="t16-org"))
    assert result["changed"] is True, result
    assert [(res["name"], res["action"]) for res in result["results"]] == [
        ("t16-kept", "create"), ("t16-gone", "delete"), ("t16-never-was", "none")]
    assert result["results"][1]["references"] == []
    assert [res["name"] for res in result["pruned"]] == ["t16-stray"]
    assert raw_ee(awx, in_org) is None and raw_ee(awx, gone) is None and raw_ee(awx, global_ee) is not None


def test_bulk_bad_item_fails_before_anything_is_written(awx_standin, tmp_path):
    awx = awx_standin
    fleet_setup(awx)
    items = bulk_items(3) + [dict(name="t16-bad", image="registry.example.com/t16/Bad:1.0")]
    result = run_task(awx, tmp_path, MODULE, dict(items=items))
    assert result["failed"] is True and result["msg"].startswith(
        "Failed to register execution environment 't16-bad': Invalid image reference"), result
    assert awx.requests == []
    items[3] = dict(name="t16-bad", image=IMAGE, organization="t16-no-such-org")
    result = run_task(awx, tmp_path, MODULE, dict(items=items))
    assert result["msg"] == ("Failed to create execution environment 't16-bad': organization 't16-no-such-org' does "
                             "not exist (or user 'admin' cannot see it). Check the name or id, or create the "
                             "organization first."), result
    assert [req.path for req in awx.writes() if "/tokens/" not in req.path] == []
    both = run_task(awx, tmp_path, MODULE, dict(items=items, name="t16-x"))
    assert both["failed"] is True and "mutually exclusive" in both["msg"], both


def test_bulk_with_a_token_uses_it(awx_standin, tmp_path):
    awx = awx_standin
    items = bulk_items(3, organization=None, credential=None)
    result = run_task(awx, tmp_path, MODULE, dict(items=items, controller_username=None, controller_password=None,
                                                  controller_oauthtoken=awx.token))
    assert result["changed"] is True, result
    assert awx.count("POST", "/api/v2/tokens/") == 0 and awx.count("DELETE", "/api/v2/tokens/") == 0


def test_bulk_write_refused_half_way_names_what_was_done(awx_standin, tmp_path):
    awx = awx_standin
    existing = awx.post(EE, {"name": "t16-ee-00", "image": IMAGE})["id"]
    before_tokens = tokens(awx)
    awx.inject(EE, [500], method="POST")  # the update goes first, then the create fails
    items = [dict(name="t16-ee-00", image="registry.example.com/t16/ee-00:2.0"), dict(name="t16-ee-01", image=IMAGE)]
    result = run_task(awx, tmp_path, MODULE, dict(items=items))
    assert result["failed"] is True and result["changed"] is True, result
    assert result["msg"].startswith("Failed to create execution environment 't16-ee-01': AWX answered 500"), result
    assert result["msg"].endswith("Already done before this failure: updated execution environment 't16-ee-00'; "
                                  "run the task again for the rest."), result
    assert result["applied"] == ["updated execution environment 't16-ee-00'"]
    assert raw_ee(awx, existing)["image"] == "registry.example.com/t16/ee-00:2.0"
    assert tokens(awx) == before_tokens
    again = run_task(awx, tmp_path, MODULE, dict(items=items))
    assert [res["action"] for res in again["results"]] == ["none", "create"], again


def test_bulk_goes_on_with_the_password_when_tokens_are_refused(awx_standin, tmp_path):
    awx = awx_standin
    awx.inject("/api/v2/tokens/", [404], method="POST")
    result = run_task(awx, tmp_path, MODULE, dict(items=bulk_items(2, organization=None, credential=None)))
    assert result["changed"] is True, result
    assert any("Could not create a temporary OAuth2 token (AWX answered 404" in str(warning)
               for warning in result.get("warnings", [])), result
    assert [(req.method, split(req.path)[0]) for req in awx.requests] == [
        ("POST", "/api/v2/tokens/"), ("GET", EE), ("POST", EE), ("POST", EE)]
    wrong = run_task(awx, tmp_path, MODULE, dict(items=bulk_items(2), controller_password="wrong"))
    assert wrong["msg"] == ("Failed to authenticate to AWX '%s': AWX answered 401: it rejected the password of user "
                            "'admin'. Check controller_username and controller_password (basic authentication must "
                            "be enabled in AWX)." % awx.url), wrong


@pytest.mark.slow
def test_pin_digest_of_a_multi_platform_tag_is_the_manifest_list_digest(awx_standin, registry, base_image, tmp_path):  # pylint: disable=unused-argument
    """An EE built with ee_build's ``platforms`` is registered by its list's digest, so that amd64 and arm64
    execution nodes each pull their own image from it (the list: the harness's two-platform base)."""
    from tests.harness.multiarch import push_base_manifest  # pylint: disable=import-outside-toplevel

    image = push_base_manifest(registry.location, repository="t15/pinned-list", tag="1", log=lambda msg: None)
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + image],
                         capture_output=True, text=True, check=True).stdout
    assert len(json.loads(raw)["manifests"]) == 2
    list_digest = "sha256:" + __import__("hashlib").sha256(raw.encode()).hexdigest()
    result = run_task(awx_standin, tmp_path, MODULE, ee_args(name="t15-list-ee", image=image, pin_digest=True,
                                                             tls_verify=False))
    assert result["changed"] is True and result["digest"] == list_digest, result
    assert result["image"] == "%s/t15/pinned-list@%s" % (registry.location, list_digest)
    assert raw_ee(awx_standin, result["id"])["image"] == result["image"]
