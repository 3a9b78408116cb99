# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""End to end: the nodes of the "build EEs" workflow build their groups at once, as AWX runs them.

The awx_bootstrap role creates the workflow on the stand-in AWX (one node per group, ``extra_data``
``{ee_builder_only: [...]}``). Each build node's job is then started the way AWX starts it on a podman
execution node (the e2e harness of test_e2e_awx_job.py: ansible-runner with process isolation, the builder
EE from the harness registry, ``--user=root``, /runner, AWX's container options), with the extra vars AWX
gives it: the job template's ``extra_vars`` with the node's ``extra_data`` over them
(``WorkflowJobNode.get_job_kwargs``). The two jobs run at the same time, each building its own subset of
one shared ``ee_list`` into the same registry. The EEs are tiny (the base image and one file).
"""

from __future__ import annotations

import datetime
import json
import os
import threading

import pytest

from tests.demo import remove_images, task_results
from tests.integration.awx_tasks import REPO_ROOT, run_playbook
from tests.integration.test_e2e_awx_job import job_env, podman, report  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.slow

BOOTSTRAP = os.path.join(REPO_ROOT, "playbooks", "bootstrap_awx.yml")
GROUPS = [["tiny-a"], ["tiny-b"]]
NOT_BUILT = "tiny-c"  # in ee_list, in no group: no build node builds it


def tiny_ee(job, name):
    """An EE of the registry's base image and one file; no Python or collection to install."""
    return {
        "name": name,
        "tags": ["1.0"],
        "base_image": job.base_ref(job_side=True),
        "options": {"skip_ansible_check": True},
        "additional_build_steps": {"append_final": ["RUN echo %s > /etc/eeforge-tiny" % name]},
    }


def when(event):
    return datetime.datetime.fromisoformat(event["created"].replace("Z", "+00:00"))


def build_window(events):
    """(start, end) of the job's ``Build <ref>`` task (the nested podman build)."""
    starts = [when(e) for e in events if e.get("event") == "runner_on_start"
              and (e.get("event_data") or {}).get("task", "").startswith("Build ")]
    ends = [when(e) for e in events if e.get("event") in ("runner_on_ok", "runner_on_failed")
            and (e.get("event_data") or {}).get("task", "").startswith("Build ")]
    assert starts and ends, [e.get("event") for e in events][-20:]
    return min(starts), max(ends)


@pytest.fixture(scope="module")
def parallel_jobs(job_env, awx_standin_server):  # noqa: F811  pylint: disable=redefined-outer-name
    """The build nodes' jobs, started at once; ``job_env`` (test_e2e_awx_job) pushed the base image and the
    builder EE to the harness registry."""
    awx = awx_standin_server
    awx.reset()
    job = job_env
    ee_list = [tiny_ee(job, name) for name in ("tiny-a", "tiny-b", NOT_BUILT)]
    built = [job.built_ref(name, "1.0") for name in ("tiny-a", "tiny-b", NOT_BUILT)]
    try:
        # The workflow, as the role creates it in AWX.
        awx.add_project_dir("eeforge", {"playbooks/build_ees.yml": "- hosts: localhost\n  tasks: []\n"})
        doc, rc, output = run_playbook(BOOTSTRAP, {
            "awx_bootstrap_controller_host": awx.url, "awx_bootstrap_controller_oauthtoken": awx.token,
            "awx_bootstrap_registry_host": job.job_registry, "awx_bootstrap_registry_dest": "%s/eeforge" % job.job_registry,
            "awx_bootstrap_builder_ee_image": job.builder_ref, "awx_bootstrap_project_local_path": "eeforge",
            "awx_bootstrap_ee_list": ee_list, "awx_bootstrap_build_groups": GROUPS,
            "awx_bootstrap_extra_vars": {"ee_builder_tls_verify": False, "ee_builder_verify": False}})
        assert rc == 0, output
        jt = awx.find("job_templates", name="Build execution environments")
        workflow = awx.find("workflow_job_templates", name="build EEs")
        nodes = {node["identifier"]: node for node in
                 awx.get("/api/v2/workflow_job_templates/%d/workflow_nodes/" % workflow["id"])["results"]}
        # The node's job gets the template's extra vars with the node's extra_data over them.
        jobs = {}
        for identifier in ("build-1", "build-2"):
            extravars = dict(json.loads(jt["extra_vars"]), **nodes[identifier]["extra_data"])
            jobs[identifier] = {"extravars": extravars, "data_dir": job.prepare(identifier)}

        def start(identifier):
            entry = jobs[identifier]
            entry["runner"], entry["events"], entry["seconds"] = job.run(entry["data_dir"], entry["extravars"])
            entry["output"] = entry["runner"].stdout.read()

        threads = [threading.Thread(target=start, args=(identifier,)) for identifier in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(3600)
        yield {"jobs": jobs, "built": built, "job": job}
    finally:
        remove_images(built)


def test_each_node_job_built_its_own_group(parallel_jobs):
    jobs = parallel_jobs["jobs"]
    for identifier, group in (("build-1", GROUPS[0]), ("build-2", GROUPS[1])):
        entry = jobs[identifier]
        assert entry["extravars"]["ee_builder_only"] == group
        assert entry["runner"].rc == 0 and entry["runner"].status == "successful", entry["output"][-8000:]
        builds = [res for res in task_results(entry["events"], "Build ") if res.get("built")]
        assert [res["tags"][0].rsplit("/", 1)[1] for res in builds] == ["%s:1.0" % name for name in group]


def test_both_groups_are_in_the_registry_and_work(parallel_jobs):
    built = parallel_jobs["built"]
    for ref, name in zip(built[:2], ("tiny-a", "tiny-b")):
        podman("pull", "--quiet", "--tls-verify=false", ref)
        ran = podman("run", "--rm", ref, "cat", "/etc/eeforge-tiny")
        assert ran.stdout.strip() == name
    # In ee_list, but in no group: nobody built it.
    missing = podman("pull", "--quiet", "--tls-verify=false", built[2], check=False)
    assert missing.returncode != 0


def test_the_two_jobs_built_at_the_same_time(parallel_jobs, request):
    jobs = parallel_jobs["jobs"]
    (start_1, end_1), (start_2, end_2) = build_window(jobs["build-1"]["events"]), build_window(jobs["build-2"]["events"])
    overlap = (min(end_1, end_2) - max(start_1, start_2)).total_seconds()
    report(request, "jobs: build-1 %ss, build-2 %ss; nested builds %.1fs and %.1fs, overlapping %.1fs" % (
        jobs["build-1"]["seconds"], jobs["build-2"]["seconds"], (end_1 - start_1).total_seconds(),
        (end_2 - start_2).total_seconds(), overlap))
    assert overlap > 0, ((start_1, end_1), (start_2, end_2))
