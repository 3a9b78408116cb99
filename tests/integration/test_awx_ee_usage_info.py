# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""awx_ee_usage_info against the stand-in AWX and the harness registries: every reference kind, what resolves
to each EE, unused EEs, a missing image, a moved tag, an unreachable registry, registry credentials kept to
their registry, the request count (one list per kind and page), and a bad name."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import urllib.request

import pytest
import yaml

from tests.harness.podman_env import podman
from tests.integration.awx_tasks import connection, run_playbook, run_tasks
from tests.integration.secret_grep import files_containing, leftovers, scratch_env

MODULE = "eeforge.builder.awx_ee_usage_info"
EES = "/api/v2/execution_environments/"
TINY_IMAGES = ("localhost/eeforge-usage-test:a", "localhost/eeforge-usage-test:b")


def _tiny_tar(path, text):
    with tarfile.open(path, "w") as tar:
        data = text.encode()
        info = tarfile.TarInfo("usage.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def tiny_images(tmp_path_factory, podman_conf):  # pylint: disable=unused-argument
    """Two one-file images in local storage (removed afterwards)."""
    root = tmp_path_factory.mktemp("tiny")
    for index, ref in enumerate(TINY_IMAGES):
        tar = str(root / ("layer-%d.tar" % index))
        _tiny_tar(tar, "usage image %d\n" % index)
        podman(["import", "--quiet", tar, ref])
    yield TINY_IMAGES
    podman(["rmi", "--force"] + list(TINY_IMAGES), check=False)


def _push(source, dest, authfile=None):
    argv = ["push", "--quiet", "--tls-verify=false"]
    if authfile:
        argv += ["--authfile", authfile]
    podman(argv + [source, dest])


def _delete_manifest(reg, repository, digest):
    req = urllib.request.Request("http://%s/v2/%s/manifests/%s" % (reg.location, repository, digest), method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as resp:  # nosec - loopback test registry
        assert resp.status == 202


@pytest.fixture
def fleet(awx_standin, registry, auth_registry, tiny_images, tmp_path):
    """Every kind of reference on its own EE, images present, missing, moved, unreachable and behind auth."""
    awx, reg = awx_standin, registry.location
    image_a, image_b = tiny_images
    authfile = str(tmp_path / "push-auth.json")
    token = base64.b64encode(("%s:%s" % (auth_registry.username, auth_registry.password)).encode()).decode()
    with open(authfile, "w", encoding="utf-8") as handle:
        json.dump({"auths": {auth_registry.location: {"auth": token}}}, handle)
    _push(image_a, "%s/usage/ee:1" % reg)
    _push(image_a, "%s/usage/ee:stable" % reg)
    digest_a = registry.manifest_digest("usage/ee", "stable")
    _push(image_b, "%s/usage/gone:1" % reg)
    gone_digest = registry.manifest_digest("usage/gone", "1")
    _push(image_b, "%s/usage/private:1" % auth_registry.location, authfile)
    os.unlink(authfile)

    def ee(name, image, **extra):
        return awx.post(EES, dict({"name": name, "image": image, "pull": "missing"}, **extra))["id"]

    ids = {
        "ee-jt": ee("ee-jt", "%s/usage/ee:1" % reg),                                     # mutable tag
        "ee-node": ee("ee-node", "%s/usage/private:1" % auth_registry.location),         # behind auth
        "ee-org": ee("ee-org", "%s/usage/gone:1" % reg),                                 # deleted below
        "ee-project": ee("ee-project", "%s/usage/ee:stable@%s" % (reg, digest_a)),      # tag moved below
        "ee-invsrc": ee("ee-invsrc", "127.0.0.1:9/usage/nowhere:1"),                    # unreachable
        "ee-global": ee("ee-global", "%s/usage/ee@%s" % (reg, digest_a)),               # pinned digest
        "ee-unused": ee("ee-unused", "%s/usage/ee:1" % reg),
    }
    ids["org"] = awx.post("/api/v2/organizations/", {"name": "u-org", "default_environment": ids["ee-org"]})["id"]
    awx.add_project_dir("u_playbooks", {"hello.yml": "- hosts: all\n  tasks: []\n"})
    awx.add_project_dir("u_playbooks_2", {"hello.yml": "- hosts: all\n  tasks: []\n"})
    ids["project"] = awx.post("/api/v2/projects/", {"name": "u-project", "organization": ids["org"], "scm_type": "",
                                                    "local_path": "u_playbooks",
                                                    "default_environment": ids["ee-project"]})["id"]
    ids["project-2"] = awx.post("/api/v2/projects/", {"name": "u-project-2", "organization": 1, "scm_type": "",
                                                      "local_path": "u_playbooks_2"})["id"]
    ids["inventory"] = awx.post("/api/v2/inventories/", {"name": "u-inventory", "organization": ids["org"]})["id"]
    jt = {"inventory": ids["inventory"], "playbook": "hello.yml"}
    ids["jt-direct"] = awx.post("/api/v2/job_templates/", dict(jt, name="u-jt-direct", project=ids["project"],
                                                               execution_environment=ids["ee-jt"],
                                                               ask_execution_environment_on_launch=True))["id"]
    ids["jt-project"] = awx.post("/api/v2/job_templates/", dict(jt, name="u-jt-project",
                                                                project=ids["project"]))["id"]
    ids["jt-global"] = awx.post("/api/v2/job_templates/", dict(jt, name="u-jt-global", inventory=1,
                                                               project=ids["project-2"]))["id"]
    ids["wf"] = awx.post("/api/v2/workflow_job_templates/", {"name": "u-wf", "organization": ids["org"]})["id"]
    ids["node"] = awx.post("/api/v2/workflow_job_templates/%d/workflow_nodes/" % ids["wf"], {
        "unified_job_template": ids["jt-direct"], "execution_environment": ids["ee-node"],
        "identifier": "build"})["id"]
    ids["src"] = awx.post("/api/v2/inventory_sources/", {"name": "u-src", "inventory": ids["inventory"],
                                                         "source": "file",
                                                         "execution_environment": ids["ee-invsrc"]})["id"]
    ids["src-plain"] = awx.post("/api/v2/inventory_sources/", {"name": "u-src-plain", "inventory": ids["inventory"],
                                                               "source": "file"})["id"]
    awx.patch("/api/v2/settings/system/", {"DEFAULT_EXECUTION_ENVIRONMENT": ids["ee-global"]})
    # The moved tag and the missing image.
    _push(image_b, "%s/usage/ee:stable" % reg)
    _delete_manifest(registry, "usage/gone", gone_digest)
    ids.update(digest_a=digest_a, digest_b=registry.manifest_digest("usage/ee", "stable"))
    assert ids["digest_a"] != ids["digest_b"]
    awx.clear_requests()
    return ids


def _usage(standin, tmp_path, args, env=None):
    """One awx_ee_usage_info task (with ``env`` for ansible-playbook); its result."""
    play = [{"name": "Usage", "hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "Usage", MODULE: dict(connection(standin), **args)}]}]
    path = str(tmp_path / ("usage-%d.yml" % len(os.listdir(str(tmp_path)))))
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(play, handle)
    return run_playbook(path, env=env)[0]["plays"][0]["tasks"][0]["hosts"]["localhost"]


def _by_name(result):
    return {entry["name"]: entry for entry in result["execution_environments"]}


def _names(refs):
    return [ref.get("name", ref.get("identifier")) for ref in refs]


def test_usage_report_every_reference_kind(awx_standin, fleet, auth_registry, tmp_path):
    args = {"check_images": True, "tls_verify": False, "registry_host": auth_registry.location,
            "registry_username": auth_registry.username, "registry_password": auth_registry.password}
    scratch = tmp_path / "scratch"
    result = _usage(awx_standin, tmp_path, args, env=scratch_env(scratch))
    assert not result.get("failed"), result
    assert result["changed"] is False
    report = _by_name(result)

    # Direct references, one kind per EE.
    refs = {name: report[name]["references"] for name in report}
    assert _names(refs["ee-jt"]["job_templates"]) == ["u-jt-direct"]
    assert [(n["identifier"], n["workflow"]["name"], n["prompt_ignored"]) for n in refs["ee-node"]["workflow_nodes"]] \
        == [("build", "u-wf", False)]
    assert _names(refs["ee-org"]["organizations"]) == ["u-org"]
    assert _names(refs["ee-project"]["projects"]) == ["u-project"]
    assert [(s["name"], s["inventory"]["name"]) for s in refs["ee-invsrc"]["inventory_sources"]] == \
        [("u-src", "u-inventory")]
    assert refs["ee-global"]["global_default"] is True
    assert all(refs[name]["global_default"] is False for name in refs if name != "ee-global")
    assert result["global_default"] == {"id": fleet["ee-global"], "name": "ee-global"}
    for name in ("ee-jt", "ee-node", "ee-org", "ee-project", "ee-invsrc", "ee-global"):
        assert report[name]["reference_count"] == 1, name

    # What would run in each EE without naming it, and which step decided.
    resolved = {name: {(u["type"], u["name"]): u["source"] for u in report[name]["resolved"]} for name in report}
    assert resolved["ee-project"] == {("job_template", "u-jt-project"): "project"}
    assert resolved["ee-org"] == {("inventory_source", "u-src-plain"): "organization"}
    assert resolved["ee-global"] == {("job_template", "u-jt-global"): "global_setting",
                                     ("job_template", "Demo Job Template"): "global_setting"}
    assert resolved["Control Plane Execution Environment"] == {
        ("project", "u-project"): "control_plane", ("project", "u-project-2"): "control_plane",
        ("project", "Demo Project"): "control_plane"}
    decided = report["ee-project"]["resolved"][0]["decided_by"]
    assert decided == {"source": "project", "object": {"type": "project", "id": fleet["project"], "name": "u-project"},
                       "field": "default_environment"}
    assert resolved["ee-jt"] == {} and resolved["ee-node"] == {}

    # Unused: nothing names it, nothing resolves to it (AWX EE (latest) is shadowed by the global default).
    assert sorted(result["summary"]["unused"]) == ["AWX EE (latest)", "ee-unused"]
    assert report["ee-unused"]["unused"] is True and report["ee-jt"]["unused"] is False

    # Images: present (mutable tag), present behind auth, missing, pinned with a moved tag, unreachable, pinned.
    state = {name: report[name]["image_state"] for name in report}
    assert (state["ee-jt"]["state"], state["ee-jt"]["mutable"], state["ee-jt"]["digest"]) == \
        ("present", True, fleet["digest_a"])
    assert state["ee-node"]["state"] == "present" and state["ee-node"]["digest"].startswith("sha256:")
    assert state["ee-org"]["state"] == "missing"
    assert state["ee-org"]["reason"] == "the registry has no tag '1' in %s/usage/gone" % fleet_registry(report)
    assert state["ee-project"]["state"] == "present" and state["ee-project"]["pinned"] is True
    assert state["ee-project"]["digest"] == fleet["digest_a"]
    assert state["ee-project"]["tag_moved"] is True and state["ee-project"]["tag_digest"] == fleet["digest_b"]
    assert state["ee-project"]["reason"] == "tag 'stable' has moved to %s since the EE was pinned" % fleet["digest_b"]
    assert state["ee-invsrc"]["state"] == "unknown" and state["ee-invsrc"]["error_kind"] == "unreachable"
    assert "127.0.0.1:9/usage/nowhere:1" in state["ee-invsrc"]["reason"]
    assert (state["ee-global"]["state"], state["ee-global"]["pinned"], state["ee-global"]["tag_moved"]) == \
        ("present", True, None)
    assert result["summary"]["images_missing"] == ["ee-org"]
    # The two seed EEs name quay.io, which these test machines may not reach.
    assert set(result["summary"]["images_unknown"]) - {"AWX EE (latest)", "Control Plane Execution Environment"} \
        == {"ee-invsrc"}
    assert result["summary"]["moved_tags"] == ["ee-project"]

    # Cost: one list request per kind (all fit in one page of 200) and the settings; no write, no per-object GET.
    paths = [req.path for req in awx_standin.requests]
    assert sorted(paths) == sorted([
        "/api/v2/execution_environments/?page_size=200", "/api/v2/job_templates/?page_size=200",
        "/api/v2/workflow_job_template_nodes/?page_size=200", "/api/v2/organizations/?page_size=200",
        "/api/v2/projects/?page_size=200", "/api/v2/inventory_sources/?page_size=200",
        "/api/v2/inventories/?page_size=200", "/api/v2/workflow_job_templates/?page_size=200",
        "/api/v2/settings/system/"])
    assert result["api_requests"] == len(paths) == 9
    # The registry password went to its registry only: not in the result, not in any file left behind.
    assert auth_registry.password not in json.dumps(result)
    assert files_containing(auth_registry.password, str(scratch), username=auth_registry.username)[0] == []
    assert leftovers(str(scratch)) == ["ansible-local", "ansible-remote", "tmp"]

    # Without the credentials the private image is unknown (unauthorized), the rest is unchanged.
    anonymous = _usage(awx_standin, tmp_path, {"check_images": True, "tls_verify": False, "names": ["ee-node"]})
    node_state = anonymous["execution_environments"][0]["image_state"]
    assert node_state["state"] == "unknown" and node_state["error_kind"] == "unauthorized", node_state


def fleet_registry(report):
    return report["ee-jt"]["image"].split("/")[0]


def test_paged_lists_cost_one_request_per_page(awx_standin, tmp_path):
    """201 EEs and 201 job templates: two pages each (AWX's cap is 200), still no request per object."""
    awx = awx_standin
    for index in range(201):
        awx.post(EES, {"name": "p-ee-%03d" % index, "image": "registry.example.com/p/ee:%d" % index})
    awx.add_project_dir("p_playbooks", {"hello.yml": "- hosts: all\n  tasks: []\n"})
    project = awx.post("/api/v2/projects/", {"name": "p-project", "organization": 1, "scm_type": "",
                                             "local_path": "p_playbooks"})["id"]
    for index in range(201):
        awx.post("/api/v2/job_templates/", {"name": "p-jt-%03d" % index, "inventory": 1, "project": project,
                                            "playbook": "hello.yml",
                                            "execution_environment": 3 + index})
    awx.clear_requests()
    result = run_tasks(awx_standin, tmp_path, [{"name": "Usage", MODULE: {"names": ["p-ee-000", "p-ee-200"]}}])[0]
    assert not result.get("failed"), result
    report = _by_name(result)
    assert list(report) == ["p-ee-000", "p-ee-200"]
    assert _names(report["p-ee-200"]["references"]["job_templates"]) == ["p-jt-200"]
    assert awx.count("GET", "/api/v2/execution_environments/") == 2
    assert awx.count("GET", "/api/v2/job_templates/") == 2
    assert awx.count() == result["api_requests"] == 11
    assert awx.writes() == []


def test_unknown_name_fails_in_one_line(awx_standin, tmp_path):
    result = run_tasks(awx_standin, tmp_path, [{"name": "Usage", MODULE: {"names": ["AWX EE (latest)", "nope"]},
                                                "ignore_errors": True}])[0]
    assert result["failed"] is True
    assert result["msg"] == ("Failed to report the usage of execution environments 'AWX EE (latest), nope': no "
                             "execution environment is named 'nope' (or user 'admin' cannot see it). Check the "
                             "names, or leave names out to report every execution environment.")


def test_user_who_cannot_read_the_settings(awx_standin, tmp_path):
    """The global default is unknown (null), not false, for a user who may not read /api/v2/settings/system/."""
    awx_standin.post("/api/v2/users/", {"username": "viewer", "password": "viewer-pw"})
    awx_standin.patch("/api/v2/settings/system/", {"DEFAULT_EXECUTION_ENVIRONMENT": 1})
    awx_standin.clear_requests()
    result = _usage(awx_standin, tmp_path, {"controller_username": "viewer", "controller_password": "viewer-pw",
                                            "names": ["AWX EE (latest)"]})
    assert not result.get("failed"), result
    entry = result["execution_environments"][0]
    assert entry["references"]["global_default"] is None and result["global_default"] is None
    # Nothing this user sees uses it, but it is the global default: unknown, not unused.
    assert entry["unused"] is None and result["summary"]["unused"] == []
    assert awx_standin.count("GET", "/api/v2/settings/system/", status=403) == 1
