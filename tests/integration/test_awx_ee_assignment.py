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
