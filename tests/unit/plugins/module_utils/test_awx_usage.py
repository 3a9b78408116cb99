# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._awx_usage import (
    PAGE_SIZE,
    ImageCheckError,
    Snapshot,
    image_state,
    referrer_queries,
    replace_diff,
    replace_plan,
    summarize,
    usage_report,
)

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def ee(ident, name, image="registry.example.com/ee/x:1", organization=None, managed=False, created=None):
    return {"id": ident, "name": name, "image": image, "organization": organization, "managed": managed,
            "pull": "", "created": created or "2026-12-01T00:00:%02dZ" % ident}


def fleet():
    """Plain dicts as AWX lists them: one EE per reference kind, one unused, the control plane EE."""
    return {
        "execution_environments/": [
            ee(1, "ee-jt"), ee(2, "ee-node"), ee(3, "ee-org"), ee(4, "ee-project"), ee(5, "ee-src"),
            ee(6, "ee-global"), ee(7, "ee-unused"), ee(8, "control plane", managed=True)],
        "job_templates/": [
            {"id": 20, "name": "direct", "execution_environment": 1, "project": 30, "organization": 40,
             "inventory": 50, "ask_execution_environment_on_launch": True},
            {"id": 21, "name": "via-project", "execution_environment": None, "project": 30, "organization": 40,
             "inventory": 50},
            {"id": 22, "name": "via-global", "execution_environment": None, "project": 31, "organization": 41,
             "inventory": 51}],
        "workflow_job_template_nodes/": [
            {"id": 60, "identifier": "build", "execution_environment": 2, "unified_job_template": 20,
             "workflow_job_template": 70,
             "summary_fields": {"workflow_job_template": {"id": 70, "name": "wf"},
                                "unified_job_template": {"id": 20, "name": "direct", "unified_job_type": "job"}}}],
        "organizations/": [{"id": 40, "name": "org", "default_environment": 3},
                           {"id": 41, "name": "Default", "default_environment": None}],
        "projects/": [{"id": 30, "name": "project", "organization": 40, "default_environment": 4},
                      {"id": 31, "name": "project-2", "organization": 41, "default_environment": None}],
        "inventory_sources/": [{"id": 80, "name": "src", "inventory": 50, "execution_environment": 5, "source": "file"},
                               {"id": 81, "name": "src-plain", "inventory": 50, "execution_environment": None,
                                "source": "file"}],
        "inventories/": [{"id": 50, "name": "inv", "organization": 40, "kind": ""},
                         {"id": 51, "name": "inv-2", "organization": 41, "kind": ""}],
        "workflow_job_templates/": [{"id": 70, "name": "wf", "organization": 40}],
    }


def snapshot(lists=None, settings=None):
    lists = lists or fleet()
    calls = []

    def lister(endpoint):
        calls.append(endpoint)
        return lists[endpoint]

    snap = Snapshot(lister, lambda: {"DEFAULT_EXECUTION_ENVIRONMENT": 6} if settings is None else settings)
    return snap, calls


def by_name(report):
    return dict((entry["name"], entry) for entry in report)


def test_one_list_per_kind():
    snap, calls = snapshot()
    usage_report(snap)
    assert sorted(calls) == sorted(fleet())
    assert PAGE_SIZE == 200


def test_direct_references_resolved_users_and_unused():
    report = by_name(usage_report(snapshot()[0]))
    refs = dict((name, entry["references"]) for name, entry in report.items())
    assert [r["name"] for r in refs["ee-jt"]["job_templates"]] == ["direct"]
    assert refs["ee-node"]["workflow_nodes"] == [{
        "type": "workflow_job_template_node", "id": 60, "identifier": "build", "workflow": {"id": 70, "name": "wf"},
        "unified_job_template": {"id": 20, "name": "direct"}, "prompt_ignored": False}]
    assert [r["name"] for r in refs["ee-org"]["organizations"]] == ["org"]
    assert [r["name"] for r in refs["ee-project"]["projects"]] == ["project"]
    assert refs["ee-src"]["inventory_sources"] == [{"type": "inventory_source", "id": 80, "name": "src",
                                                    "inventory": {"id": 50, "name": "inv"}}]
    assert refs["ee-global"]["global_default"] is True and refs["ee-jt"]["global_default"] is False
    resolved = dict((name, sorted((u["name"], u["source"]) for u in entry["resolved"]))
                    for name, entry in report.items())
    assert resolved["ee-project"] == [("via-project", "project")]
    assert resolved["ee-org"] == [("src-plain", "organization")]
    assert resolved["ee-global"] == [("via-global", "global_setting")]
    assert resolved["control plane"] == [("project", "control_plane"), ("project-2", "control_plane")]
    assert resolved["ee-jt"] == [] and resolved["ee-node"] == []
    assert [name for name, entry in report.items() if entry["unused"]] == ["ee-unused"]
    assert summarize(list(report.values()), False)["unused"] == ["ee-unused"]


def test_node_whose_template_does_not_ask_is_marked_and_resolves_elsewhere():
    lists = fleet()
    lists["job_templates/"][0]["ask_execution_environment_on_launch"] = False
    report = by_name(usage_report(snapshot(lists)[0]))
    assert report["ee-node"]["references"]["workflow_nodes"][0]["prompt_ignored"] is True
    # The node's job runs in the template's own EE: a resolved user of ee-jt is not added (source "template").
    assert report["ee-node"]["resolved"] == []


def test_unreadable_settings_and_names():
    snap = snapshot(settings=False)[0]
    snap.settings = None
    report = usage_report(snap, names=["ee-global", "7"])
    assert [entry["name"] for entry in report] == ["ee-global", "ee-unused"]
    assert report[0]["references"]["global_default"] is None
    # ee-global: nothing else uses it and the setting is unknown; ee-unused: now the newest global EE, which
    # via-global falls back to when the setting is not readable.
    assert report[0]["unused"] is None and report[1]["unused"] is False
    assert [user["name"] for user in report[1]["resolved"]] == ["via-global"]
    with pytest.raises(LookupError) as error:
        usage_report(snapshot()[0], names=["ee-jt", "nope"])
    assert error.value.args[0] == ["nope"]


def inspector(answers):
    seen = []

    def inspect(reference):
        seen.append(reference)
        answer = answers[reference]
        if isinstance(answer, Exception):
            raise answer
        return answer
    return inspect, seen


def test_image_states():
    inspect, seen = inspector({
        "registry.example.com/ee/x:1": DIGEST_A,
        "registry.example.com/ee/gone:1": None,
        "registry.example.com/ee/x@" + DIGEST_A: DIGEST_A,
        "registry.example.com/ee/x:stable": DIGEST_B,
        "nowhere.example.com/ee/x:1": ImageCheckError("Failed to inspect image 'nowhere.example.com/ee/x:1': "
                                                      "connection refused", "unreachable"),
    })
    mutable = image_state("registry.example.com/ee/x:1", inspect)
    assert (mutable["state"], mutable["digest"], mutable["mutable"], mutable["pinned"]) == \
        ("present", DIGEST_A, True, False)
    missing = image_state("registry.example.com/ee/gone:1", inspect)
    assert (missing["state"], missing["reason"]) == ("missing", "the registry has no tag '1' in "
                                                                "registry.example.com/ee/gone")
    moved = image_state("registry.example.com/ee/x:stable@" + DIGEST_A, inspect)
    assert (moved["state"], moved["pinned"], moved["tag_digest"], moved["tag_moved"]) == \
        ("present", True, DIGEST_B, True)
    assert moved["reason"] == "tag 'stable' has moved to %s since the EE was pinned" % DIGEST_B
    pinned = image_state("registry.example.com/ee/x@" + DIGEST_A, inspect)
    assert (pinned["state"], pinned["tag_moved"], pinned["reason"]) == ("present", None, None)
    unknown = image_state("nowhere.example.com/ee/x:1", inspect)
    assert (unknown["state"], unknown["error_kind"]) == ("unknown", "unreachable")
    assert "connection refused" in unknown["reason"]
    invalid = image_state("Not An Image", inspect)
    assert (invalid["state"], invalid["error_kind"]) == ("unknown", "invalid")
    # A pinned reference is looked up by digest (skopeo refuses tag and digest together), then by its tag.
    assert "registry.example.com/ee/x:stable@" + DIGEST_A not in seen


def test_replace_plan_and_diff():
    lists = fleet()
    referrers = {"job_templates": [dict(lists["job_templates/"][0], url="/api/v2/job_templates/20/")],
                 "organizations": [dict(lists["organizations/"][0], url="/api/v2/organizations/40/")],
                 "workflow_nodes": [dict(lists["workflow_job_template_nodes/"][0],
                                         url="/api/v2/workflow_job_template_nodes/60/", execution_environment=1)]}
    changes = replace_plan(referrers, {"DEFAULT_EXECUTION_ENVIRONMENT": 1}, 1, 7)
    assert [(c["kind"], c["url"], c["payload"]) for c in changes] == [
        ("job_templates", "/api/v2/job_templates/20/", {"execution_environment": 7}),
        ("workflow_nodes", "/api/v2/workflow_job_template_nodes/60/", {"execution_environment": 7}),
        ("global_default", "settings/system/", {"DEFAULT_EXECUTION_ENVIRONMENT": 7})]
    before, after = replace_diff(changes, "ee-jt", "ee-unused")
    assert before == {"job_templates": {"direct": "ee-jt"}, "workflow_nodes": {"wf/build": "ee-jt"},
                      "global_default": "ee-jt"}
    assert after["workflow_nodes"] == {"wf/build": "ee-unused"}
    assert replace_plan(referrers, None, 1, 1) == []
    assert [c["kind"] for c in replace_plan(referrers, None, 1, None)] == ["job_templates", "workflow_nodes"]
    assert referrer_queries(9)[0] == ("job_templates", "job_templates/", {"execution_environment": 9,
                                                                          "page_size": 200})
