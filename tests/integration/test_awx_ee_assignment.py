# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""awx_ee_assignment against the stand-in AWX, one test per target type: check mode (predicts, writes
nothing), apply with diff, re-run (no change, no write), read back over the API, and clearing."""

from __future__ import annotations

import pytest

from tests.integration.awx_tasks import run_tasks

MODULE = "eeforge.builder.awx_ee_assignment"


@pytest.fixture
def world(awx_standin):
    """Two global EEs, organization t7-org with a manual project and a job template in it."""
    awx = awx_standin
    ees = "/api/v2/execution_environments/"
    ids = {
        "ee-a": awx.post(ees, {"name": "ee-a", "image": "registry.example.com/t7/a:1", "pull": "always"})["id"],
        "ee-b": awx.post(ees, {"name": "ee-b", "image": "registry.example.com/t7/b:1", "pull": "missing"})["id"],
        "org": awx.post("/api/v2/organizations/", {"name": "t7-org"})["id"],
    }
    awx.add_project_dir("t7_playbooks", {"hello.yml": "- hosts: all\n  tasks: []\n"})
    ids["project"] = awx.post("/api/v2/projects/", {"name": "t7-project", "organization": ids["org"],
                                                    "scm_type": "", "local_path": "t7_playbooks"})["id"]
    ids["jt"] = awx.post("/api/v2/job_templates/", {"name": "t7-jt", "project": ids["project"], "inventory": 1,
                                                    "playbook": "hello.yml"})["id"]
    awx.clear_requests()
    return ids


def cycle(args):
    """check mode, apply, apply again, check mode again: the four tasks every target type goes through."""
    return [
        {"name": "Predict", MODULE: args, "check_mode": True, "diff": True},
        {"name": "Apply", MODULE: args, "diff": True},
        {"name": "Apply again", MODULE: args, "diff": True},
        {"name": "Predict again", MODULE: args, "check_mode": True},
    ]


def assert_cycle(results, diff_before, diff_after):
    predict, apply, again, predict_again = results
    for result in results:
        assert not result.get("failed"), result
    assert predict["changed"] is True and apply["changed"] is True
    assert predict["diff"] == apply["diff"] == {"before": diff_before, "after": diff_after}
    # Check mode predicts the whole result of the real run.
    assert {key: value for key, value in predict.items() if not key.startswith("_") and key != "invocation"} == \
        {key: value for key, value in apply.items() if not key.startswith("_") and key != "invocation"}
    assert again["changed"] is False and predict_again["changed"] is False
    assert again["diff"] == {"before": diff_after, "after": diff_after}
    return apply


def test_job_template(awx_standin, world, tmp_path):
    args = {"execution_environment": "ee-a", "target_type": "job_template", "target": "t7-jt"}
    apply = assert_cycle(run_tasks(awx_standin, tmp_path, cycle(args)),
                         {"execution_environment": None}, {"execution_environment": "ee-a"})
    assert apply["id"] == world["jt"]
    assert apply["url"] == "%s/api/v2/job_templates/%d/" % (awx_standin.url, world["jt"])
    assert apply["target"] == {"type": "job_template", "id": world["jt"], "name": "t7-jt"}
    assert apply["field"] == "execution_environment"
    assert apply["execution_environment"] == {"id": world["ee-a"], "name": "ee-a",
                                              "image": "registry.example.com/t7/a:1", "pull": "always"}
    assert apply["previous_execution_environment"] is None
    assert awx_standin.get("/api/v2/job_templates/%d/" % world["jt"])["execution_environment"] == world["ee-a"]
    # One PATCH in all: check mode and the re-runs wrote nothing.
    assert [(r.method, r.path) for r in awx_standin.writes()] == [("PATCH", "/api/v2/job_templates/%d/" % world["jt"])]

    # Re-point, then clear ("").
    awx_standin.clear_requests()
    moved, cleared = run_tasks(awx_standin, tmp_path, [
        {"name": "Re-point", MODULE: dict(args, execution_environment=str(world["ee-b"])), "diff": True},
        {"name": "Clear", MODULE: dict(args, execution_environment=""), "diff": True},
    ])
    assert moved["changed"] is True
    assert moved["previous_execution_environment"] == {"id": world["ee-a"], "name": "ee-a"}
    assert moved["diff"] == {"before": {"execution_environment": "ee-a"}, "after": {"execution_environment": "ee-b"}}
    assert cleared["changed"] is True and cleared["execution_environment"] is None
    assert cleared["diff"] == {"before": {"execution_environment": "ee-b"}, "after": {"execution_environment": None}}
    assert awx_standin.get("/api/v2/job_templates/%d/" % world["jt"])["execution_environment"] is None


def _workflow(awx_standin, world):
    workflow = awx_standin.post("/api/v2/workflow_job_templates/", {"name": "t7-wf", "organization": world["org"]})
    node = awx_standin.post("/api/v2/workflow_job_templates/%d/workflow_nodes/" % workflow["id"],
                            {"unified_job_template": world["jt"], "identifier": "build"})
    awx_standin.clear_requests()
    return node


def test_workflow_node_refused_without_prompt(awx_standin, world, tmp_path):
    _workflow(awx_standin, world)
    result = run_tasks(awx_standin, tmp_path, [{MODULE: {
        "execution_environment": "ee-a", "target_type": "workflow_node", "workflow": "t7-wf", "target": "build"}}])[0]
    assert result["failed"] is True
    assert result["msg"] == (
        "Failed to set the execution environment of workflow node 't7-wf/build': job template 't7-jt' does not ask "
        "for the execution environment at launch (ask_execution_environment_on_launch is false), so AWX refuses an "
        "execution environment on its workflow nodes. Set enable_prompt: true, or set "
        "ask_execution_environment_on_launch on job template 't7-jt'.")
    assert awx_standin.writes() == []


def test_workflow_node_with_enable_prompt(awx_standin, world, tmp_path):
    node = _workflow(awx_standin, world)
    args = {"execution_environment": "ee-b", "target_type": "workflow_node", "workflow": "t7-wf", "target": "build",
            "enable_prompt": True}
    apply = assert_cycle(
        run_tasks(awx_standin, tmp_path, cycle(args)),
        {"execution_environment": None, "ask_execution_environment_on_launch": False},
        {"execution_environment": "ee-b", "ask_execution_environment_on_launch": True})
    assert apply["prompt_enabled"] is True
    assert apply["target"] == {"type": "workflow_node", "id": node["id"], "name": "build"}
    assert apply["url"] == "%s/api/v2/workflow_job_template_nodes/%d/" % (awx_standin.url, node["id"])
    assert awx_standin.get("/api/v2/workflow_job_template_nodes/%d/" % node["id"])["execution_environment"] == \
        world["ee-b"]
    assert awx_standin.get("/api/v2/job_templates/%d/" % world["jt"])["ask_execution_environment_on_launch"] is True
    # The flag first (AWX refuses the node's EE otherwise), then the node.
    assert [(r.method, r.path) for r in awx_standin.writes()] == [
        ("PATCH", "/api/v2/job_templates/%d/" % world["jt"]),
        ("PATCH", "/api/v2/workflow_job_template_nodes/%d/" % node["id"])]


def test_workflow_node_clear_needs_no_prompt(awx_standin, world, tmp_path):
    node = _workflow(awx_standin, world)
    awx_standin.patch("/api/v2/job_templates/%d/" % world["jt"], {"ask_execution_environment_on_launch": True})
    awx_standin.patch("/api/v2/workflow_job_template_nodes/%d/" % node["id"], {"execution_environment": world["ee-a"]})
    awx_standin.patch("/api/v2/job_templates/%d/" % world["jt"], {"ask_execution_environment_on_launch": False})
    awx_standin.clear_requests()
    result = run_tasks(awx_standin, tmp_path, [{MODULE: {
        "execution_environment": "", "target_type": "workflow_node", "workflow": "t7-wf", "target": str(node["id"])},
        "diff": True}])[0]
    assert result["changed"] is True and result["prompt_enabled"] is False
    assert result["diff"] == {
        "before": {"execution_environment": "ee-a", "ask_execution_environment_on_launch": False},
        "after": {"execution_environment": None, "ask_execution_environment_on_launch": False}}
    assert awx_standin.get("/api/v2/workflow_job_template_nodes/%d/" % node["id"])["execution_environment"] is None


def test_organization(awx_standin, world, tmp_path):
    args = {"execution_environment": "ee-a", "target_type": "organization", "target": "t7-org"}
    apply = assert_cycle(run_tasks(awx_standin, tmp_path, cycle(args)),
                         {"default_environment": None}, {"default_environment": "ee-a"})
    assert apply["target"] == {"type": "organization", "id": world["org"], "name": "t7-org"}
    assert apply["field"] == "default_environment"
    assert awx_standin.get("/api/v2/organizations/%d/" % world["org"])["default_environment"] == world["ee-a"]
    assert [(r.method, r.path) for r in awx_standin.writes()] == [
        ("PATCH", "/api/v2/organizations/%d/" % world["org"])]


def test_project(awx_standin, world, tmp_path):
    # A project of the same name in another organization: organization picks the right one.
    other_org = awx_standin.post("/api/v2/organizations/", {"name": "t7-other"})["id"]
    awx_standin.add_project_dir("t7_other", {"hello.yml": "- hosts: all\n  tasks: []\n"})
    other = awx_standin.post("/api/v2/projects/", {"name": "t7-project", "organization": other_org, "scm_type": "",
                                                   "local_path": "t7_other"})["id"]
    awx_standin.clear_requests()
    ambiguous = run_tasks(awx_standin, tmp_path, [{MODULE: {
        "execution_environment": "ee-b", "target_type": "project", "target": "t7-project"}}])[0]
    assert ambiguous["failed"] is True
    assert ambiguous["msg"] == (
        "Failed to set the execution environment of project 't7-project': 2 objects are named 't7-project' "
        "(ids %d, %d). Give the id instead of the name." % (world["project"], other))

    args = {"execution_environment": "ee-b", "target_type": "project", "target": "t7-project", "organization": "t7-org"}
    apply = assert_cycle(run_tasks(awx_standin, tmp_path, cycle(args)),
                         {"default_environment": None}, {"default_environment": "ee-b"})
    assert apply["target"] == {"type": "project", "id": world["project"], "name": "t7-project"}
    assert awx_standin.get("/api/v2/projects/%d/" % world["project"])["default_environment"] == world["ee-b"]
    assert awx_standin.get("/api/v2/projects/%d/" % other)["default_environment"] is None
    assert [(r.method, r.path) for r in awx_standin.writes()] == [("PATCH", "/api/v2/projects/%d/" % world["project"])]


def test_global(awx_standin, world, tmp_path):
    args = {"execution_environment": "ee-a", "target_type": "global"}
    apply = assert_cycle(run_tasks(awx_standin, tmp_path, cycle(args)),
                         {"DEFAULT_EXECUTION_ENVIRONMENT": None}, {"DEFAULT_EXECUTION_ENVIRONMENT": "ee-a"})
    assert apply["target"] == {"type": "global", "id": None, "name": "DEFAULT_EXECUTION_ENVIRONMENT"}
    assert apply["id"] is None
    assert apply["url"] == awx_standin.url + "/api/v2/settings/system/"
    assert awx_standin.get("/api/v2/settings/system/")["DEFAULT_EXECUTION_ENVIRONMENT"] == world["ee-a"]
    assert [(r.method, r.path) for r in awx_standin.writes()] == [("PATCH", "/api/v2/settings/system/")]
    cleared = run_tasks(awx_standin, tmp_path, [{MODULE: dict(args, execution_environment=""), "diff": True}])[0]
    assert cleared["changed"] is True
    assert cleared["previous_execution_environment"] == {"id": world["ee-a"], "name": "ee-a"}
    assert awx_standin.get("/api/v2/settings/system/")["DEFAULT_EXECUTION_ENVIRONMENT"] is None


def test_unchanged_run_reads_twice(awx_standin, world, tmp_path):
    awx_standin.patch("/api/v2/job_templates/%d/" % world["jt"], {"execution_environment": world["ee-a"]})
    awx_standin.clear_requests()
    result = run_tasks(awx_standin, tmp_path, [{MODULE: {
        "execution_environment": "ee-a", "target_type": "job_template", "target": "t7-jt"}}])[0]
    assert result["changed"] is False
    # The job template by name and the EE by name: nothing else.
    assert [(r.method, r.path.split("?")[0]) for r in awx_standin.requests] == [
        ("GET", "/api/v2/job_templates/"), ("GET", "/api/v2/execution_environments/")]


def test_missing_ee_is_one_clear_error(awx_standin, world, tmp_path):
    result = run_tasks(awx_standin, tmp_path, [{MODULE: {
        "execution_environment": "ee-nope", "target_type": "organization", "target": "t7-org"}}])[0]
    assert result["failed"] is True
    assert result["msg"] == (
        "Failed to set the execution environment of organization 't7-org': execution environment 'ee-nope' does not "
        "exist (or user 'admin' cannot see it). Check the name or id, or create the execution environment first.")
    assert awx_standin.writes() == []


# ---------------------------------------------------------------------------------------------
# replace: every reference of one EE moved to another
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def old_ee_everywhere(awx_standin, world):
    """ee-a named by every kind of reference: a job template, a workflow node, an organization, a project, an
    inventory source and the global default; a second job template and a second node stay on ee-b."""
    awx = awx_standin
    ids = dict(world)
    ee_a, ee_b = world["ee-a"], world["ee-b"]
    awx.patch("/api/v2/job_templates/%d/" % world["jt"], {"execution_environment": ee_a,
                                                          "ask_execution_environment_on_launch": True})
    ids["jt-b"] = awx.post("/api/v2/job_templates/", {"name": "t7-jt-b", "project": world["project"], "inventory": 1,
                                                      "playbook": "hello.yml", "execution_environment": ee_b,
                                                      "ask_execution_environment_on_launch": True})["id"]
    ids["wf"] = awx.post("/api/v2/workflow_job_templates/", {"name": "t7-wf", "organization": world["org"]})["id"]
    nodes = "/api/v2/workflow_job_templates/%d/workflow_nodes/" % ids["wf"]
    ids["node"] = awx.post(nodes, {"unified_job_template": world["jt"], "identifier": "build",
                                   "execution_environment": ee_a})["id"]
    ids["node-b"] = awx.post(nodes, {"unified_job_template": ids["jt-b"], "identifier": "other",
                                     "execution_environment": ee_b})["id"]
    awx.patch("/api/v2/organizations/%d/" % world["org"], {"default_environment": ee_a})
    awx.patch("/api/v2/projects/%d/" % world["project"], {"default_environment": ee_a})
    ids["inventory"] = awx.post("/api/v2/inventories/", {"name": "t7-inventory", "organization": world["org"]})["id"]
    ids["src"] = awx.post("/api/v2/inventory_sources/", {"name": "t7-src", "inventory": ids["inventory"],
                                                         "source": "file", "execution_environment": ee_a})["id"]
    awx.patch("/api/v2/settings/system/", {"DEFAULT_EXECUTION_ENVIRONMENT": ee_a})
    awx.clear_requests()
    return ids


def _ee_fields(awx, ids):
    """Where each reference points now."""
    return {
        "jt": awx.get("/api/v2/job_templates/%d/" % ids["jt"])["execution_environment"],
        "jt-b": awx.get("/api/v2/job_templates/%d/" % ids["jt-b"])["execution_environment"],
        "node": awx.get("/api/v2/workflow_job_template_nodes/%d/" % ids["node"])["execution_environment"],
        "node-b": awx.get("/api/v2/workflow_job_template_nodes/%d/" % ids["node-b"])["execution_environment"],
        "org": awx.get("/api/v2/organizations/%d/" % ids["org"])["default_environment"],
        "project": awx.get("/api/v2/projects/%d/" % ids["project"])["default_environment"],
        "src": awx.get("/api/v2/inventory_sources/%d/" % ids["src"])["execution_environment"],
        "global": awx.get("/api/v2/settings/system/")["DEFAULT_EXECUTION_ENVIRONMENT"],
    }


REPLACE_DIFF = {
    "before": {"job_templates": {"t7-jt": "ee-a"}, "workflow_nodes": {"t7-wf/build": "ee-a"},
               "organizations": {"t7-org": "ee-a"}, "projects": {"t7-project": "ee-a"},
               "inventory_sources": {"t7-src": "ee-a"}, "global_default": "ee-a"},
    "after": {"job_templates": {"t7-jt": "ee-b"}, "workflow_nodes": {"t7-wf/build": "ee-b"},
              "organizations": {"t7-org": "ee-b"}, "projects": {"t7-project": "ee-b"},
              "inventory_sources": {"t7-src": "ee-b"}, "global_default": "ee-b"},
}


def test_replace_moves_every_reference_kind(awx_standin, old_ee_everywhere, tmp_path):
    ids = old_ee_everywhere
    awx = awx_standin
    args = {"replace": {"from": "ee-a", "to": "ee-b"}}
    before = _ee_fields(awx, ids)
    assert set(before.values()) == {ids["ee-a"], ids["ee-b"]}
    predict, apply, again = run_tasks(awx, tmp_path, [
        {"name": "Predict", MODULE: args, "check_mode": True, "diff": True},
        {"name": "Apply", MODULE: args, "diff": True},
        {"name": "Apply again", MODULE: args, "diff": True},
    ])
    for result in (predict, apply, again):
        assert not result.get("failed"), result
    assert predict["changed"] is True and apply["changed"] is True and again["changed"] is False
    assert predict["diff"] == apply["diff"] == REPLACE_DIFF
    assert again["diff"] == {"before": {}, "after": {}} and again["replaced"] == []
    assert [(item["kind"], item["id"]) for item in apply["replaced"]] == [
        ("job_templates", ids["jt"]), ("workflow_nodes", ids["node"]), ("organizations", ids["org"]),
        ("projects", ids["project"]), ("inventory_sources", ids["src"]), ("global_default", None)]
    assert predict["replaced"] == apply["replaced"]
    assert apply["previous_execution_environment"]["name"] == "ee-a"
    assert apply["execution_environment"]["name"] == "ee-b"
    assert apply["prompt_enabled"] == [] and apply["id"] is None
    # Everything on ee-a moved; what was on ee-b stayed.
    assert _ee_fields(awx, ids) == dict.fromkeys(before, ids["ee-b"])

    # Requests: check mode and the re-run wrote nothing; the apply wrote one PATCH per reference, as recorded
    # (job template 55, node 128, organization 65, project 63, settings 68; inventory source: same view).
    writes = [(req.method, req.path) for req in awx.writes()]
    assert writes == [
        ("PATCH", "/api/v2/job_templates/%d/" % ids["jt"]),
        ("PATCH", "/api/v2/workflow_job_template_nodes/%d/" % ids["node"]),
        ("PATCH", "/api/v2/organizations/%d/" % ids["org"]),
        ("PATCH", "/api/v2/projects/%d/" % ids["project"]),
        ("PATCH", "/api/v2/inventory_sources/%d/" % ids["src"]),
        ("PATCH", "/api/v2/settings/system/")]
    # Reads per run: the two EEs, one filtered list per kind (fleet 111-115), the settings.
    reads = [req.path for req in awx.requests if req.method == "GET"]
    assert reads[:8] == [
        "/api/v2/execution_environments/?name=ee-a", "/api/v2/execution_environments/?name=ee-b",
        "/api/v2/job_templates/?execution_environment=%d&page_size=200" % ids["ee-a"],
        "/api/v2/workflow_job_template_nodes/?execution_environment=%d&page_size=200" % ids["ee-a"],
        "/api/v2/organizations/?default_environment=%d&page_size=200" % ids["ee-a"],
        "/api/v2/projects/?default_environment=%d&page_size=200" % ids["ee-a"],
        "/api/v2/inventory_sources/?execution_environment=%d&page_size=200" % ids["ee-a"],
        "/api/v2/settings/system/"]


def test_replace_check_mode_writes_nothing(awx_standin, old_ee_everywhere, tmp_path):
    ids = old_ee_everywhere
    before = _ee_fields(awx_standin, ids)
    result = run_tasks(awx_standin, tmp_path, [{"name": "Predict", MODULE: {"replace": {"from": "ee-a", "to": ""}},
                                                "check_mode": True, "diff": True}])[0]
    assert result["changed"] is True and len(result["replaced"]) == 6
    assert result["diff"]["after"]["global_default"] is None and result["execution_environment"] is None
    assert awx_standin.writes() == []
    assert _ee_fields(awx_standin, ids) == before


def test_replace_node_whose_template_does_not_ask(awx_standin, old_ee_everywhere, tmp_path):
    """Checked before the first write: fails with nothing changed, or sets the flag first with enable_prompt."""
    ids = old_ee_everywhere
    awx = awx_standin
    awx.patch("/api/v2/job_templates/%d/" % ids["jt"], {"ask_execution_environment_on_launch": False})
    awx.clear_requests()
    refused = run_tasks(awx, tmp_path, [{MODULE: {"replace": {"from": "ee-a", "to": "ee-b"}}}])[0]
    assert refused["failed"] is True
    assert refused["msg"] == (
        "Failed to move the references of execution environment 'ee-a': job template 't7-jt' does not ask for the "
        "execution environment at launch (ask_execution_environment_on_launch is false), so AWX refuses an execution "
        "environment on its workflow nodes; nothing was changed. Set enable_prompt: true, or set "
        "ask_execution_environment_on_launch on those job templates.")
    assert awx.writes() == []
    moved = run_tasks(awx, tmp_path, [{MODULE: {"replace": {"from": "ee-a", "to": "ee-b"}, "enable_prompt": True}}])[0]
    assert moved["changed"] is True and moved["prompt_enabled"] == ["t7-jt"]
    assert [req.path for req in awx.writes()][:2] == ["/api/v2/job_templates/%d/" % ids["jt"]] * 2
    assert _ee_fields(awx, ids)["node"] == ids["ee-b"]


def test_replace_fails_half_way_in_one_line_and_resumes(awx_standin, old_ee_everywhere, tmp_path):
    ids = old_ee_everywhere
    awx = awx_standin
    awx.inject("/api/v2/projects/", [403], method="PATCH")
    failed = run_tasks(awx, tmp_path, [{MODULE: {"replace": {"from": "ee-a", "to": "ee-b"}}}])[0]
    assert failed["failed"] is True and failed["status"] == 403
    assert failed["msg"].startswith("Failed to move the references of execution environment 'ee-a': AWX answered 403")
    assert "(updating project 't7-project'; 3 of 6 writes were done before: job template 't7-jt', workflow node " \
           "'t7-wf/build', organization 't7-org')" in failed["msg"]
    assert failed["msg"].endswith("Run the task again to move the rest.")
    assert "\n" not in failed["msg"]
    resumed = run_tasks(awx, tmp_path, [{MODULE: {"replace": {"from": "ee-a", "to": "ee-b"}}}])[0]
    assert [item["kind"] for item in resumed["replaced"]] == ["projects", "inventory_sources", "global_default"]
    assert _ee_fields(awx, ids) == dict.fromkeys(_ee_fields(awx, ids), ids["ee-b"])


def test_replace_bad_input(awx_standin, world, tmp_path):
    missing, both = run_tasks(awx_standin, tmp_path, [
        {MODULE: {"replace": {"from": "ee-nope", "to": "ee-b"}}, "ignore_errors": True},
        {MODULE: {"replace": {"from": "ee-a", "to": "ee-b"}, "target_type": "global"}, "ignore_errors": True},
    ])
    assert missing["msg"] == (
        "Failed to move the references of execution environment 'ee-nope': execution environment 'ee-nope' does not "
        "exist (or user 'admin' cannot see it). Check the name or id, or create the execution environment first.")
    assert both["failed"] is True and "mutually exclusive" in both["msg"] and "\n" not in both["msg"]
    assert awx_standin.writes() == []
