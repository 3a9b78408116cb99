# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""awx_ee_resolve against the stand-in AWX: one set-up per test, each asserting the EE, its source and the
whole chain; for job templates also that the module agrees with AWX's own ``resolved_environment``."""

from __future__ import annotations

import pytest

from tests.integration.awx_tasks import run_task

MODULE = "eeforge.builder.awx_ee_resolve"
JOB_CHAIN = ["template", "project", "organization", "inventory_organization", "global_setting", "global", "global"]


@pytest.fixture
def world(awx_standin):
    """Organization t7-org with project t7-project and job template t7-jt, whose inventory t7-inv is in
    another organization (t7-inv-org); one global EE per candidate; nothing assigned yet."""
    awx = awx_standin
    ids = {}
    for name, image, pull in (("ee-template", "registry.example.com/t7/template:1", "always"),
                              ("ee-project", "registry.example.com/t7/project:1", "missing"),
                              ("ee-org", "registry.example.com/t7/org:1", "never"),
                              ("ee-inv-org", "registry.example.com/t7/inv-org:1", ""),
                              ("ee-setting", "registry.example.com/t7/setting:1", "always"),
                              ("ee-launch", "registry.example.com/t7/launch:1", "missing")):
        ids[name] = awx.post("/api/v2/execution_environments/", {"name": name, "image": image, "pull": pull})["id"]
    ids["org"] = awx.post("/api/v2/organizations/", {"name": "t7-org"})["id"]
    ids["inv_org"] = awx.post("/api/v2/organizations/", {"name": "t7-inv-org"})["id"]
    ids["inventory"] = awx.post("/api/v2/inventories/", {"name": "t7-inv", "organization": ids["inv_org"]})["id"]
    awx.add_project_dir("t7_playbooks", {"hello.yml": "- hosts: all\n  tasks: []\n"})
    ids["project"] = awx.post("/api/v2/projects/", {"name": "t7-project", "organization": ids["org"],
                                                    "scm_type": "", "local_path": "t7_playbooks"})["id"]
    ids["jt"] = awx.post("/api/v2/job_templates/", {"name": "t7-jt", "project": ids["project"],
                                                    "inventory": ids["inventory"], "playbook": "hello.yml"})["id"]
    awx.clear_requests()
    return ids


def resolve(awx_standin, tmp_path, **args):
    result = run_task(awx_standin, tmp_path, MODULE, args)
    assert not result.get("failed"), result
    assert result["changed"] is False
    # An info module: reads only.
    assert awx_standin.writes() == [], awx_standin.writes()
    return result


def chain_sources(result):
    return [entry["source"] for entry in result["chain"]]


def selected(result):
    chosen = [entry for entry in result["chain"] if entry["selected"]]
    assert len(chosen) == 1, result["chain"]
    return chosen[0]


def assert_agrees_with_awx(awx_standin, result, jt_id):
    """The module's answer for a template equals AWX's own summary_fields.resolved_environment."""
    awx_view = awx_standin.get("/api/v2/job_templates/%d/" % jt_id)["summary_fields"]["resolved_environment"]
    assert result["awx_resolved_environment"] == awx_view
    assert result["execution_environment"]["id"] == awx_view["id"]
    assert not any("AWX itself resolves" in note for note in result["notes"]), result["notes"]


def test_job_template_ee_set(awx_standin, world, tmp_path):
    awx_standin.patch("/api/v2/job_templates/%d/" % world["jt"], {"execution_environment": world["ee-template"]})
    # Lower candidates are set too: the template's EE still wins.
    awx_standin.patch("/api/v2/projects/%d/" % world["project"], {"default_environment": world["ee-project"]})
    result = resolve(awx_standin, tmp_path, job_template="t7-jt")
    assert result["source"] == "template"
    assert result["job_type"] == "job"
    assert result["execution_environment"] == {
        "id": world["ee-template"], "name": "ee-template", "image": "registry.example.com/t7/template:1",
        "pull": "always", "organization": None, "managed": False}
    assert chain_sources(result) == JOB_CHAIN
    assert selected(result) is result["chain"][0]
    assert result["chain"][0]["object"] == {"type": "job_template", "id": world["jt"], "name": "t7-jt"}
    # The project default is next in line, and reported as such.
    assert result["chain"][1]["execution_environment"]["name"] == "ee-project"
    assert result["chain"][1]["usable"] is True
    assert result["target"] == {"type": "job_template", "id": world["jt"], "name": "t7-jt"}
    assert result["url"] == "%s/api/v2/job_templates/%d/" % (awx_standin.url, world["jt"])
    assert_agrees_with_awx(awx_standin, result, world["jt"])


def test_only_project_default(awx_standin, world, tmp_path):
    awx_standin.patch("/api/v2/projects/%d/" % world["project"], {"default_environment": world["ee-project"]})
    result = resolve(awx_standin, tmp_path, job_template="t7-jt")
    assert (result["source"], result["execution_environment"]["name"]) == ("project", "ee-project")
    assert result["execution_environment"]["pull"] == "missing"
    assert result["chain"][0]["note"] == "not set"
    assert result["chain"][1]["object"] == {"type": "project", "id": world["project"], "name": "t7-project"}
    assert result["chain"][1]["field"] == "default_environment"
    assert_agrees_with_awx(awx_standin, result, world["jt"])


def test_only_organization_default(awx_standin, world, tmp_path):
    awx_standin.patch("/api/v2/organizations/%d/" % world["org"], {"default_environment": world["ee-org"]})
    result = resolve(awx_standin, tmp_path, job_template="t7-jt")
    assert (result["source"], result["execution_environment"]["name"]) == ("organization", "ee-org")
    assert result["chain"][2]["object"] == {"type": "organization", "id": world["org"], "name": "t7-org"}
    assert [entry["usable"] for entry in result["chain"][:2]] == [False, False]
    assert_agrees_with_awx(awx_standin, result, world["jt"])


def test_only_inventory_organization_default(awx_standin, world, tmp_path):
    awx_standin.patch("/api/v2/organizations/%d/" % world["inv_org"], {"default_environment": world["ee-inv-org"]})
    result = resolve(awx_standin, tmp_path, job_template="t7-jt")
    assert (result["source"], result["execution_environment"]["name"]) == ("inventory_organization", "ee-inv-org")
    assert result["chain"][3]["object"] == {"type": "organization", "id": world["inv_org"], "name": "t7-inv-org"}
    assert_agrees_with_awx(awx_standin, result, world["jt"])


def test_only_default_execution_environment_setting(awx_standin, world, tmp_path):
    awx_standin.patch("/api/v2/settings/system/", {"DEFAULT_EXECUTION_ENVIRONMENT": world["ee-setting"]})
    result = resolve(awx_standin, tmp_path, job_template="t7-jt")
    assert (result["source"], result["execution_environment"]["name"]) == ("global_setting", "ee-setting")
    assert result["chain"][4]["object"]["name"] == "DEFAULT_EXECUTION_ENVIRONMENT"
    assert_agrees_with_awx(awx_standin, result, world["jt"])


def test_none_set_uses_the_global_job_ee(awx_standin, world, tmp_path):
    result = resolve(awx_standin, tmp_path, job_template="t7-jt")
    # AWX EE (latest) has the image of GLOBAL_JOB_EXECUTION_ENVIRONMENTS: it wins over newer global EEs.
    assert (result["source"], result["execution_environment"]["name"]) == ("global", "AWX EE (latest)")
    assert result["chain"][5]["selected"] and result["chain"][5]["object"]["name"] == "GLOBAL_JOB_EXECUTION_ENVIRONMENTS"
    assert result["chain"][6]["execution_environment"]["name"] == "ee-launch"
    assert_agrees_with_awx(awx_standin, result, world["jt"])


def test_none_set_and_no_listed_image_uses_newest_global_ee(awx_standin, world, tmp_path):
    awx_standin.delete("/api/v2/execution_environments/1/")
    result = resolve(awx_standin, tmp_path, job_template="t7-jt")
    # The newest global unmanaged EE (created last by the fixture); never the managed control plane EE.
    assert (result["source"], result["execution_environment"]["name"]) == ("global", "ee-launch")
    assert result["chain"][5]["usable"] is False
    assert result["chain"][5]["note"] == \
        "no global unmanaged EE has an image listed there (quay.io/ansible/awx-ee:latest)"
    assert selected(result) is result["chain"][6]
    assert_agrees_with_awx(awx_standin, result, world["jt"])


def test_workflow_node_override(awx_standin, world, tmp_path):
    awx_standin.patch("/api/v2/job_templates/%d/" % world["jt"],
                      {"execution_environment": world["ee-template"], "ask_execution_environment_on_launch": True})
    workflow = awx_standin.post("/api/v2/workflow_job_templates/", {"name": "t7-wf", "organization": world["org"]})
    node = awx_standin.post("/api/v2/workflow_job_templates/%d/workflow_nodes/" % workflow["id"], {
        "unified_job_template": world["jt"], "identifier": "build", "execution_environment": world["ee-launch"]})
    awx_standin.clear_requests()
    result = resolve(awx_standin, tmp_path, workflow="t7-wf", workflow_node="build")
    assert (result["source"], result["execution_environment"]["name"]) == ("workflow_node", "ee-launch")
    assert chain_sources(result) == ["workflow_node"] + JOB_CHAIN
    assert result["chain"][0]["object"] == {"type": "workflow_job_template_node", "id": node["id"], "name": "build"}
    assert result["chain"][1]["execution_environment"]["name"] == "ee-template"
    assert result["target"] == {"type": "workflow_job_template_node", "id": node["id"], "name": "build"}


def test_workflow_node_ee_ignored_when_template_does_not_ask(awx_standin, world, tmp_path):
    awx_standin.patch("/api/v2/job_templates/%d/" % world["jt"], {"ask_execution_environment_on_launch": True})
    workflow = awx_standin.post("/api/v2/workflow_job_templates/", {"name": "t7-wf", "organization": world["org"]})
    awx_standin.post("/api/v2/workflow_job_templates/%d/workflow_nodes/" % workflow["id"], {
        "unified_job_template": world["jt"], "identifier": "build", "execution_environment": world["ee-launch"]})
    # The template stops asking after the node got its EE: AWX drops the node's EE at launch.
    awx_standin.patch("/api/v2/job_templates/%d/" % world["jt"],
                      {"ask_execution_environment_on_launch": False, "execution_environment": world["ee-template"]})
    awx_standin.clear_requests()
    result = resolve(awx_standin, tmp_path, workflow="t7-wf", workflow_node="build")
    assert (result["source"], result["execution_environment"]["name"]) == ("template", "ee-template")
    assert result["chain"][0]["usable"] is False
    assert result["chain"][0]["note"] == ("ignored: job template 't7-jt' does not ask for the EE at launch "
                                          "(ask_execution_environment_on_launch is false)")


def test_ad_hoc_command(awx_standin, world, tmp_path):
    # The organization of the job template (t7-org) is no candidate for an ad hoc command.
    awx_standin.patch("/api/v2/organizations/%d/" % world["org"], {"default_environment": world["ee-org"]})
    awx_standin.patch("/api/v2/organizations/%d/" % world["inv_org"], {"default_environment": world["ee-inv-org"]})
    result = resolve(awx_standin, tmp_path, inventory="t7-inv")
    assert result["job_type"] == "ad_hoc_command"
    assert (result["source"], result["execution_environment"]["name"]) == ("inventory_organization", "ee-inv-org")
    assert chain_sources(result) == ["launch", "inventory_organization", "global_setting", "global", "global"]
    assert result["target"] == {"type": "inventory", "id": world["inventory"], "name": "t7-inv"}
    # With its own EE (the execution_environment of the ad hoc command POST), that one wins.
    awx_standin.clear_requests()
    result = resolve(awx_standin, tmp_path, inventory="t7-inv", execution_environment="ee-launch")
    assert (result["source"], result["execution_environment"]["name"]) == ("launch", "ee-launch")


def test_launch_prompt_needs_the_template_to_ask(awx_standin, world, tmp_path):
    awx_standin.patch("/api/v2/job_templates/%d/" % world["jt"], {"execution_environment": world["ee-template"]})
    result = resolve(awx_standin, tmp_path, job_template="t7-jt", execution_environment="ee-launch")
    assert result["source"] == "template"
    assert result["chain"][0]["source"] == "launch" and result["chain"][0]["usable"] is False
    assert "AWX lists it under ignored_fields" in result["chain"][0]["note"]
    awx_standin.patch("/api/v2/job_templates/%d/" % world["jt"], {"ask_execution_environment_on_launch": True})
    awx_standin.clear_requests()
    result = resolve(awx_standin, tmp_path, job_template="t7-jt", execution_environment="ee-launch")
    assert (result["source"], result["execution_environment"]["name"]) == ("launch", "ee-launch")
    # AWX's template-level answer ignores launch prompts: no disagreement is reported.
    assert_agrees_with_awx(awx_standin, dict(result, execution_environment=result["chain"][1]["execution_environment"]),
                           world["jt"])


def test_project_update_runs_in_the_control_plane_ee(awx_standin, world, tmp_path):
    awx_standin.patch("/api/v2/projects/%d/" % world["project"], {"default_environment": world["ee-project"]})
    result = resolve(awx_standin, tmp_path, project="t7-project")
    assert result["job_type"] == "project_update"
    assert (result["source"], result["execution_environment"]["name"]) == (
        "control_plane", "Control Plane Execution Environment")
    assert result["execution_environment"]["managed"] is True
    assert result["notes"][0] == (
        "Updates of project 't7-project' run in 'Control Plane Execution Environment' (the control plane EE), not in "
        "its default_environment 'ee-project': that one is for the jobs of its job templates that have no EE of their "
        "own")


def test_inventory_source_update(awx_standin, world, tmp_path):
    awx_standin.patch("/api/v2/organizations/%d/" % world["inv_org"], {"default_environment": world["ee-inv-org"]})
    source = awx_standin.post("/api/v2/inventories/%d/inventory_sources/" % world["inventory"], {
        "name": "t7-source", "source": "file"})  # scm needs an SCM project, not a manual one (fleet 109)
    awx_standin.clear_requests()
    result = resolve(awx_standin, tmp_path, inventory="t7-inv", inventory_source="t7-source")
    assert result["job_type"] == "inventory_update"
    assert chain_sources(result) == ["template", "organization", "inventory_organization", "global_setting",
                                     "global", "global"]
    assert result["chain"][0]["object"] == {"type": "inventory_source", "id": source["id"], "name": "t7-source"}
    assert (result["source"], result["execution_environment"]["name"]) == ("organization", "ee-inv-org")


def test_missing_job_template_is_one_clear_error(awx_standin, world, tmp_path):
    result = run_task(awx_standin, tmp_path, MODULE, {"job_template": "no-such-jt"})
    assert result["failed"] is True
    assert result["msg"] == (
        "Failed to resolve the execution environment of object 'no-such-jt': job template 'no-such-jt' does not "
        "exist (or user 'admin' cannot see it). Check the name or id, or create the job template first.")


def test_reads_per_resolution(awx_standin, world, tmp_path):
    resolve(awx_standin, tmp_path, job_template="t7-jt")
    # JT by name and its detail, project, two organizations, inventory, the EE list and the settings.
    assert awx_standin.count(method="GET") == 8, awx_standin.requests
