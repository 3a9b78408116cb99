# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/bootstrap_awx.yml and playbooks/rollback_ee.yml against the stand-in AWX: every object is
created with the right links (read back over the API), a second run changes nothing and writes nothing
(the stand-in's request log), and secrets stay out of the output."""

from __future__ import annotations

import json
import os

import yaml

from tests.integration.awx_tasks import REPO_ROOT, run_playbook

BOOTSTRAP = os.path.join(REPO_ROOT, "playbooks", "bootstrap_awx.yml")
ROLLBACK = os.path.join(REPO_ROOT, "playbooks", "rollback_ee.yml")
REGISTRY_PASSWORD = "t7-registry-secret-9c1f"
BUILDER_IMAGE = "registry.example.com:5000/eeforge/builder:1.0"
AWX_DEFAULT_RUN_OPTIONS = ["--network", "slirp4netns:enable_ipv6=true"]
# The awx.awx tasks of the role (each creates and deletes an OAuth token when given a password).
AWX_AWX_TASKS = 7


def bootstrap_vars(standin, **extra):
    values = {
        "awx_bootstrap_controller_host": standin.url,
        "awx_bootstrap_controller_oauthtoken": standin.token,
        "awx_bootstrap_validate_certs": False,
        "awx_bootstrap_registry_host": "registry.example.com:5000",
        "awx_bootstrap_registry_username": "builder",
        "awx_bootstrap_registry_password": REGISTRY_PASSWORD,
        "awx_bootstrap_registry_dest": "registry.example.com:5000/ee",
        "awx_bootstrap_builder_ee_image": BUILDER_IMAGE,
        "awx_bootstrap_project_local_path": "eeforge",
        "awx_bootstrap_container_run_options": ["--security-opt=unmask=/proc/*"],
        "awx_bootstrap_build_cache_path": "/var/cache/eeforge",
        "awx_bootstrap_container_group": True,
        "awx_bootstrap_ee_list": [{"name": "ee-aws", "tag": "1.0"}],
    }
    values.update(extra)
    return values


def stats(doc):
    return doc["stats"]["localhost"]


def one(standin, resource, **filters):
    found = standin.find(resource, **filters)
    assert found is not None, (resource, filters)
    return found


def test_bootstrap_creates_everything_and_rerun_writes_nothing(awx_standin):
    awx = awx_standin
    awx.add_project_dir("eeforge", {"playbooks/build_ees.yml": "- hosts: localhost\n  tasks: []\n"})
    # Someone else's job container option, which the bootstrap must keep.
    awx.patch("/api/v2/settings/jobs/",
              {"DEFAULT_CONTAINER_RUN_OPTIONS": AWX_DEFAULT_RUN_OPTIONS + ["--pids-limit", "4096"]})
    awx.clear_requests()

    doc, rc, output = run_playbook(BOOTSTRAP, bootstrap_vars(awx))
    assert rc == 0, output
    assert stats(doc)["failures"] == 0 and stats(doc)["changed"] == 10, output
    assert REGISTRY_PASSWORD not in output

    org = one(awx, "organizations", name="Default")["id"]
    registry = one(awx, "credentials", name="registry.example.com:5000")
    assert registry["credential_type"] == 18 and registry["organization"] == org
    assert registry["inputs"] == {"host": "registry.example.com:5000", "username": "builder",
                                  "password": "$encrypted$", "verify_ssl": True}
    assert awx.store.objects["credentials"][registry["id"]]["inputs"]["password"] == REGISTRY_PASSWORD

    builder = one(awx, "execution_environments", name="eeforge builder")
    assert (builder["image"], builder["pull"], builder["credential"], builder["organization"]) == (
        BUILDER_IMAGE, "always", registry["id"], org)

    push_type = one(awx, "credential_types", name="eeforge registry push")
    assert push_type["kind"] == "cloud"
    assert push_type["injectors"] == {"extra_vars": {"ee_registry_username": "{{ username }}",
                                                     "ee_registry_password": "{{ password }}"}}
    push = one(awx, "credentials", name="registry.example.com:5000 push")
    assert (push["credential_type"], push["organization"]) == (push_type["id"], org)
    assert push["inputs"] == {"username": "builder", "password": "$encrypted$"}
    assert awx.store.objects["credentials"][push["id"]]["inputs"]["password"] == REGISTRY_PASSWORD

    inventory = one(awx, "inventories", name="eeforge localhost")
    assert inventory["organization"] == org
    host = one(awx, "hosts", name="localhost", inventory=inventory["id"])
    assert yaml.safe_load(host["variables"]) == {"ansible_connection": "local",
                                                 "ansible_python_interpreter": "/usr/bin/python3"}

    project = one(awx, "projects", name="eeforge builder")
    assert (project["scm_type"], project["local_path"], project["organization"]) == ("", "eeforge", org)

    group = one(awx, "instance_groups", name="eeforge builder pods")
    assert group["is_container_group"] is True
    pod = yaml.safe_load(group["pod_spec_override"])
    assert pod["metadata"]["namespace"] == "awx"
    worker = pod["spec"]["containers"][0]
    assert (worker["name"], worker["image"]) == ("worker", BUILDER_IMAGE)
    assert worker["args"] == ["ansible-runner", "worker", "--private-data-dir=/runner"]
    assert "privileged" not in worker["securityContext"]

    jobs = awx.get("/api/v2/settings/jobs/")
    assert jobs["DEFAULT_CONTAINER_RUN_OPTIONS"] == \
        AWX_DEFAULT_RUN_OPTIONS + ["--pids-limit", "4096", "--security-opt", "unmask=/proc/*"]
    assert jobs["AWX_ISOLATION_SHOW_PATHS"] == ["/var/cache/eeforge:/var/cache/eeforge:z"]

    jt = one(awx, "job_templates", name="Build execution environments")
    assert (jt["project"], jt["inventory"], jt["playbook"], jt["execution_environment"], jt["organization"]) == (
        project["id"], inventory["id"], "playbooks/build_ees.yml", builder["id"], org)
    assert jt["ask_variables_on_launch"] is True and jt["allow_simultaneous"] is False
    assert json.loads(jt["extra_vars"]) == {"ee_list": [{"name": "ee-aws", "tag": "1.0"}],
                                            "ee_registry_dest": "registry.example.com:5000/ee"}
    assert [cred["id"] for cred in awx.get("/api/v2/job_templates/%d/credentials/" % jt["id"])["results"]] == \
        [push["id"]]
    assert [ig["id"] for ig in awx.get("/api/v2/job_templates/%d/instance_groups/" % jt["id"])["results"]] == \
        [group["id"]]
    # What AWX will run the job in: the builder EE, set on the template.
    detail = awx.get("/api/v2/job_templates/%d/" % jt["id"])
    assert detail["summary_fields"]["resolved_environment"]["id"] == builder["id"]

    # Second run: nothing changes, and not one write request reaches AWX.
    awx.clear_requests()
    doc, rc, output = run_playbook(BOOTSTRAP, bootstrap_vars(awx))
    assert rc == 0, output
    assert stats(doc)["changed"] == 0, output
    assert awx.writes() == [], awx.writes()
    assert REGISTRY_PASSWORD not in output

    # With a user name and password instead of a token, still no change; the only writes are the
    # temporary OAuth token awx.awx creates and deletes in each of its tasks.
    awx.clear_requests()
    doc, rc, output = run_playbook(BOOTSTRAP, bootstrap_vars(
        awx, awx_bootstrap_controller_oauthtoken="", awx_bootstrap_controller_username=awx.username,
        awx_bootstrap_controller_password=awx.password))
    assert rc == 0, output
    assert stats(doc)["changed"] == 0, output
    writes = sorted((r.method, r.path.rstrip("0123456789/")) for r in awx.writes())
    assert writes == sorted([("POST", "/api/v2/tokens"), ("DELETE", "/api/v2/tokens")] * AWX_AWX_TASKS)


def test_bootstrap_minimal_git_project_anonymous_registry(awx_standin):
    awx = awx_standin
    extra = {key: value for key, value in bootstrap_vars(awx).items()
             if key not in ("awx_bootstrap_container_run_options", "awx_bootstrap_build_cache_path",
                            "awx_bootstrap_container_group", "awx_bootstrap_project_local_path",
                            "awx_bootstrap_registry_username", "awx_bootstrap_registry_password",
                            "awx_bootstrap_ee_list", "awx_bootstrap_registry_dest")}
    extra.update(awx_bootstrap_project_scm_url="https://git.example.com/platform/ee-definitions.git",
                 awx_bootstrap_playbook="build_ees.yml")
    doc, rc, output = run_playbook(BOOTSTRAP, extra)
    assert rc == 0, output
    project = one(awx, "projects", name="eeforge builder")
    assert (project["scm_type"], project["scm_url"]) == ("git", "https://git.example.com/platform/ee-definitions.git")
    jt = one(awx, "job_templates", name="Build execution environments")
    assert json.loads(jt["extra_vars"]) == {"ee_list": [], "ee_registry_dest": "registry.example.com:5000"}
    # An anonymous registry: no push credential; no job container setting touched.
    assert awx.get("/api/v2/job_templates/%d/credentials/" % jt["id"])["results"] == []
    assert awx.find("credential_types", name="eeforge registry push") is None
    assert awx.count(path_prefix="/api/v2/settings/jobs/") == 0
    assert awx.count(path_prefix="/api/v2/instance_groups/") == 0


def test_bootstrap_refuses_two_project_sources(awx_standin):
    doc, rc, output = run_playbook(BOOTSTRAP, bootstrap_vars(
        awx_standin, awx_bootstrap_project_scm_url="https://git.example.com/x.git"))
    assert rc != 0
    task = doc["plays"][0]["tasks"][-1]["hosts"]["localhost"]
    assert task["failed"] is True
    assert task["msg"] == ("Set exactly one of awx_bootstrap_project_scm_url (a git URL) and "
                           "awx_bootstrap_project_local_path (a directory under AWX's PROJECTS_ROOT) to say where the "
                           "playbooks live.")
    assert awx_standin.writes() == []


def rollback(standin, **extra):
    values = {"controller_host": standin.url, "controller_oauthtoken": standin.token, "rollback_ee_name": "ee-aws",
              "rollback_ee_organization": "Default"}
    values.update(extra)
    doc, rc, output = run_playbook(ROLLBACK, values)
    tasks = {task["task"]["name"]: task["hosts"]["localhost"] for task in doc["plays"][0]["tasks"]}
    return tasks, rc, output


def test_rollback_to_previous_image_and_to_digest(awx_standin):
    awx = awx_standin
    ee = awx.post("/api/v2/execution_environments/", {"name": "ee-aws", "organization": 1, "pull": "missing",
                                                      "image": "registry.example.com/ee/aws:1.1"})
    # The bad release: awx_execution_environment returned previous_image=...:1.1 when it registered 1.2.
    awx.patch("/api/v2/execution_environments/%d/" % ee["id"], {"image": "registry.example.com/ee/aws:1.2"})
    awx.clear_requests()
    tasks, rc, output = rollback(awx, rollback_ee_image="registry.example.com/ee/aws:1.1")
    assert rc == 0, output
    result = tasks["Roll back execution environment ee-aws"]
    assert result["changed"] is True
    assert (result["previous_image"], result["image"]) == ("registry.example.com/ee/aws:1.2",
                                                           "registry.example.com/ee/aws:1.1")
    after = awx.get("/api/v2/execution_environments/%d/" % ee["id"])
    assert (after["image"], after["pull"], after["organization"]) == ("registry.example.com/ee/aws:1.1", "missing", 1)
    assert [(r.method, r.path) for r in awx.writes()] == [("PATCH", "/api/v2/execution_environments/%d/" % ee["id"])]
    assert tasks["Report the rollback of ee-aws"]["msg"] == \
        "ee-aws: registry.example.com/ee/aws:1.2 -> registry.example.com/ee/aws:1.1 (changed)"

    digest = "sha256:" + "4f" * 32
    tasks, rc, output = rollback(awx, rollback_ee_digest=digest)
    assert rc == 0, output
    assert awx.get("/api/v2/execution_environments/%d/" % ee["id"])["image"] == "registry.example.com/ee/aws@" + digest
    # Again: already there.
    awx.clear_requests()
    tasks, rc, output = rollback(awx, rollback_ee_digest=digest)
    assert rc == 0 and tasks["Roll back execution environment ee-aws"]["changed"] is False, output
    assert awx.writes() == []


def test_rollback_never_moves_an_ee(awx_standin):
    awx = awx_standin
    awx.post("/api/v2/execution_environments/", {"name": "ee-aws", "image": "registry.example.com/ee/aws:1.2"})
    awx.clear_requests()
    tasks, rc, output = rollback(awx, rollback_ee_image="registry.example.com/ee/aws:1.1")
    assert rc != 0
    failed = tasks["Check the organization of execution environment ee-aws"]
    assert failed["failed"] is True
    assert failed["msg"] == ("Execution environment 'ee-aws' is not in organization Default; set "
                             "rollback_ee_organization to its organization (a rollback never moves an EE).")
    assert awx.writes() == []


# -- the "build EEs" workflow: one node per group, a converge node ---------------------------------

EE_LIST = [{"name": "ee-aws", "tag": "1.0"}, {"name": "ee-azure", "tag": "1.0"}, {"name": "ee-net", "tag": "2.0"}]


def workflow_vars(standin, groups, **extra):
    values = bootstrap_vars(standin, awx_bootstrap_ee_list=EE_LIST, awx_bootstrap_build_groups=groups)
    for key in ("awx_bootstrap_container_run_options", "awx_bootstrap_build_cache_path",
                "awx_bootstrap_container_group"):
        del values[key]
    values.update(extra)
    return values


def nodes_of(standin, workflow_id):
    """The workflow's nodes by identifier, read back over the API (contract fleet/127)."""
    listing = standin.get("/api/v2/workflow_job_templates/%d/workflow_nodes/" % workflow_id)
    return {node["identifier"]: node for node in listing["results"]}


def test_build_workflow_objects_as_recorded_and_rerun_writes_nothing(awx_standin):
    awx = awx_standin
    awx.add_project_dir("eeforge", {"playbooks/build_ees.yml": "- hosts: localhost\n  tasks: []\n"})
    groups = [["ee-aws", "ee-azure"], ["ee-net"]]
    doc, rc, output = run_playbook(BOOTSTRAP, workflow_vars(awx, groups))
    assert rc == 0, output

    jt = one(awx, "job_templates", name="Build execution environments")
    # extra_data on a node needs ask_variables_on_launch on its job template (contract fleet/118, 131);
    # without allow_simultaneous AWX would start the nodes' jobs of this one template one after the other.
    assert jt["ask_variables_on_launch"] is True and jt["allow_simultaneous"] is True
    workflow = one(awx, "workflow_job_templates", name="build EEs")
    assert workflow["organization"] == one(awx, "organizations", name="Default")["id"]
    nodes = nodes_of(awx, workflow["id"])
    assert sorted(nodes) == ["build-1", "build-2", "converge"]
    converge = nodes["converge"]
    for identifier, group in (("build-1", groups[0]), ("build-2", groups[1])):
        node = nodes[identifier]
        assert node["unified_job_template"] == jt["id"]
        assert node["extra_data"] == {"ee_builder_only": group}
        # The edge is stored on the parent only (contract fleet/127).
        assert node["success_nodes"] == [converge["id"]] and node["failure_nodes"] == [] and \
            node["always_nodes"] == []
        assert node["all_parents_must_converge"] is False
    assert (converge["unified_job_template"], converge["extra_data"], converge["success_nodes"]) == (jt["id"], {}, [])
    assert converge["all_parents_must_converge"] is True  # runs once every build node succeeded (fleet/128)
    summary = converge["summary_fields"]["unified_job_template"]
    assert (summary["name"], summary["unified_job_type"]) == ("Build execution environments", "job")

    awx.clear_requests()
    doc, rc, output = run_playbook(BOOTSTRAP, workflow_vars(awx, groups))
    assert rc == 0 and stats(doc)["changed"] == 0, output
    assert awx.writes() == []

    # Fewer groups: the node of the group no longer listed is deleted, the other one updated.
    awx.clear_requests()
    doc, rc, output = run_playbook(BOOTSTRAP, workflow_vars(awx, [["ee-net", "ee-aws"]]))
    assert rc == 0, output
    after = nodes_of(awx, workflow["id"])
    assert sorted(after) == ["build-1", "converge"]
    assert after["build-1"]["extra_data"] == {"ee_builder_only": ["ee-net", "ee-aws"]}
    assert after["build-1"]["success_nodes"] == [converge["id"]]
    assert ("DELETE", "/api/v2/workflow_job_template_nodes/%d/" % nodes["build-2"]["id"]) in \
        [(req.method, req.path) for req in awx.writes()]


def test_build_workflow_refuses_an_ee_in_two_groups_or_unknown(awx_standin):
    awx = awx_standin
    for groups in ([["ee-aws"], ["ee-aws", "ee-net"]], [["ee-aws", "ee-gcp"]], [[]]):
        doc, rc, output = run_playbook(BOOTSTRAP, workflow_vars(awx, groups))
        assert rc != 0, output
        task = doc["plays"][0]["tasks"][-1]["hosts"]["localhost"]
        assert task["msg"].startswith("awx_bootstrap_build_groups must be a list of non-empty lists of EE names"), task
    assert awx.writes() == []


def test_bootstrap_container_run_options_in_awx_format(awx_standin):
    # As AWX itself stores DEFAULT_CONTAINER_RUN_OPTIONS (contract 71-72): option and value as two items.
    awx = awx_standin
    awx.add_project_dir("eeforge", {"playbooks/build_ees.yml": "- hosts: localhost\n  tasks: []\n"})
    options = ["--network", "slirp4netns:enable_ipv6=true,allow_host_loopback=true", "--device", "/dev/fuse"]
    for dummy in range(2):
        doc, rc, output = run_playbook(BOOTSTRAP, bootstrap_vars(awx, awx_bootstrap_container_run_options=options,
                                                                 awx_bootstrap_build_cache_path="",
                                                                 awx_bootstrap_container_group=False))
        assert rc == 0, output
    assert awx.get("/api/v2/settings/jobs/")["DEFAULT_CONTAINER_RUN_OPTIONS"] == options
    assert len(awx.writes("/api/v2/settings/jobs/")) == 1  # the second run found them there
