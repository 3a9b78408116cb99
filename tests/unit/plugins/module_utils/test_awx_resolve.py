# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._awx_resolve import (
    NO_EE_MESSAGE,
    AwxObjects,
    EEResolver,
    compare_with_awx,
    control_plane_ee,
    ee_summary,
    newest_global_ee,
    newest_global_job_ee,
)


class FakeAwx(AwxObjects):
    """Objects by endpoint and id, as the AWX API returns them; counts the reads."""

    def __init__(self):
        self.objects = {}
        self.settings = {"DEFAULT_EXECUTION_ENVIRONMENT": None}
        self.reads = []
        # What register_default_execution_environments creates on a fresh AWX.
        self.add("execution_environments/", id=1, name="AWX EE (latest)", image="quay.io/ansible/awx-ee:latest",
                 organization=None, managed=False, pull="", created="2026-11-23T00:00:01Z")
        self.add("execution_environments/", id=2, name="Control Plane Execution Environment",
                 image="quay.io/ansible/awx-ee:latest", organization=None, managed=True, pull="",
                 created="2026-11-23T00:00:02Z")

    def add(self, endpoint, **obj):
        obj.setdefault("type", endpoint.rstrip("s/").replace("inventorie", "inventory"))
        self.objects[(endpoint, obj["id"])] = obj
        return obj

    def get(self, endpoint, ident):
        self.reads.append((endpoint, ident))
        return self.objects.get((endpoint, ident))

    def execution_environments(self):
        self.reads.append(("execution_environments/", None))
        return [obj for (endpoint, _id), obj in sorted(self.objects.items()) if endpoint == "execution_environments/"]

    def system_settings(self):
        self.reads.append(("settings/system/", None))
        return self.settings


@pytest.fixture
def awx():
    """Organization 2 with inventory 2, project 8 and job template 9 (as in the contract); no EE set."""
    fake = FakeAwx()
    fake.add("execution_environments/", id=3, name="ee-global", image="quay.io/ansible/awx-ee:24.6.1",
             organization=None, managed=False, pull="missing", created="2026-11-23T00:05:34Z")
    fake.add("execution_environments/", id=4, name="ee-org", image="registry.example.com/contract/ee:1",
             organization=2, managed=False, pull="always", created="2026-11-23T00:05:35Z")
    fake.add("execution_environments/", id=5, name="ee-other", image="registry.example.com/other/ee:1",
             organization=None, managed=False, pull="never", created="2026-11-23T00:05:36Z")
    fake.add("organizations/", id=2, name="org", default_environment=None)
    fake.add("organizations/", id=3, name="inv-org", default_environment=None)
    fake.add("inventories/", id=2, name="inv", organization=3, kind="")
    fake.add("projects/", id=8, name="proj", organization=2, default_environment=None, scm_type="")
    fake.add("job_templates/", id=9, name="jt", organization=2, project=8, inventory=2, execution_environment=None,
             ask_execution_environment_on_launch=False, ask_inventory_on_launch=False)
    return fake


def resolve_jt(awx, **kwargs):
    return EEResolver(awx).for_job_template(awx.objects[("job_templates/", 9)], **kwargs)


def sources(result):
    return [entry["source"] for entry in result["chain"]]


def selected(result):
    return [entry for entry in result["chain"] if entry["selected"]]


def test_job_template_ee_wins(awx):
    awx.objects[("job_templates/", 9)]["execution_environment"] = 4
    awx.objects[("projects/", 8)]["default_environment"] = 3
    result = resolve_jt(awx)
    assert result["source"] == "template"
    assert result["execution_environment"] == {"id": 4, "name": "ee-org", "image": "registry.example.com/contract/ee:1",
                                               "pull": "always", "organization": 2, "managed": False}
    assert sources(result) == ["template", "project", "organization", "inventory_organization", "global_setting",
                               "global", "global"]
    assert selected(result) == [result["chain"][0]]
    # The candidates after the selected one are still reported.
    assert result["chain"][1]["execution_environment"]["name"] == "ee-global"
    assert result["chain"][1]["usable"] is True and result["chain"][1]["selected"] is False


def test_only_project_default(awx):
    awx.objects[("projects/", 8)]["default_environment"] = 3
    result = resolve_jt(awx)
    assert (result["source"], result["execution_environment"]["id"]) == ("project", 3)
    assert result["chain"][0]["note"] == "not set"
    assert result["chain"][1]["object"] == {"type": "project", "id": 8, "name": "proj"}


def test_only_organization_default(awx):
    awx.objects[("organizations/", 2)]["default_environment"] = 4
    result = resolve_jt(awx)
    assert (result["source"], result["execution_environment"]["name"]) == ("organization", "ee-org")
    assert result["chain"][2]["object"] == {"type": "organization", "id": 2, "name": "org"}


def test_only_inventory_organization_default(awx):
    awx.objects[("organizations/", 3)]["default_environment"] = 5
    result = resolve_jt(awx)
    assert (result["source"], result["execution_environment"]["name"]) == ("inventory_organization", "ee-other")
    assert result["chain"][3]["object"] == {"type": "organization", "id": 3, "name": "inv-org"}


def test_only_default_execution_environment_setting(awx):
    awx.settings["DEFAULT_EXECUTION_ENVIRONMENT"] = 5
    result = resolve_jt(awx)
    assert (result["source"], result["execution_environment"]["id"]) == ("global_setting", 5)


def test_none_set_uses_global_job_ee_listed_in_settings(awx):
    result = resolve_jt(awx)
    # AWX EE (latest) has the image of GLOBAL_JOB_EXECUTION_ENVIRONMENTS; newer global EEs exist but come later.
    assert (result["source"], result["execution_environment"]["name"]) == ("global", "AWX EE (latest)")
    assert result["chain"][5]["object"]["name"] == "GLOBAL_JOB_EXECUTION_ENVIRONMENTS"
    assert result["chain"][6]["execution_environment"]["name"] == "ee-other"


def test_none_set_and_no_listed_image_uses_newest_global_unmanaged(awx):
    del awx.objects[("execution_environments/", 1)]
    result = resolve_jt(awx)
    # ee-other is the newest global unmanaged EE; ee-org is newer-or-equal but has an organization;
    # the control plane EE is managed.
    assert (result["source"], result["execution_environment"]["name"]) == ("global", "ee-other")
    assert result["chain"][5]["note"].startswith("no global unmanaged EE has an image listed")


def test_custom_global_job_ee_images(awx):
    result = EEResolver(awx, global_job_ee_images=["quay.io/ansible/awx-ee:24.6.1"]).for_job_template(
        awx.objects[("job_templates/", 9)])
    assert result["execution_environment"]["name"] == "ee-global"


def test_nothing_at_all_reports_the_failure_awx_would_give(awx):
    for key in [key for key in awx.objects if key[0] == "execution_environments/" and key[1] != 2]:
        del awx.objects[key]
    result = resolve_jt(awx)
    assert result["execution_environment"] is None and result["source"] is None
    assert NO_EE_MESSAGE in result["notes"][-1]
    assert not any(entry["selected"] for entry in result["chain"])


def test_launch_prompt_used_when_template_asks(awx):
    jt = awx.objects[("job_templates/", 9)]
    jt.update(ask_execution_environment_on_launch=True, execution_environment=4)
    result = resolve_jt(awx, launch_ee=3)
    assert (result["source"], result["execution_environment"]["id"]) == ("launch", 3)
    assert sources(result)[:2] == ["launch", "template"]


def test_launch_prompt_ignored_when_template_does_not_ask(awx):
    awx.objects[("job_templates/", 9)]["execution_environment"] = 4
    result = resolve_jt(awx, launch_ee=3)
    assert (result["source"], result["execution_environment"]["id"]) == ("template", 4)
    assert result["chain"][0]["usable"] is False
    assert "ask_execution_environment_on_launch is false" in result["chain"][0]["note"]
    assert "ignored_fields" in result["chain"][0]["note"]


def test_unreadable_ee_is_not_selected(awx):
    awx.objects[("job_templates/", 9)]["execution_environment"] = 99
    awx.objects[("projects/", 8)]["default_environment"] = 3
    result = resolve_jt(awx)
    assert result["chain"][0]["execution_environment"]["id"] == 99
    assert result["chain"][0]["note"] == "EE 99 cannot be read by this user"
    assert result["source"] == "project"


def test_unreadable_settings_are_reported(awx):
    awx.settings = None
    result = resolve_jt(awx)
    assert result["chain"][4]["usable"] is False
    assert "cannot be read by this user" in result["chain"][4]["note"]
    assert result["source"] == "global"


def test_prompted_inventory_unknown(awx):
    awx.objects[("job_templates/", 9)].update(inventory=None, ask_inventory_on_launch=True)
    result = resolve_jt(awx)
    assert result["chain"][3]["source"] == "inventory_organization"
    assert "unknown until then" in result["chain"][3]["note"]


def node(awx, **fields):
    base = dict(id=1, identifier="build", workflow_job_template=10, unified_job_template=9, execution_environment=None,
                inventory=None, summary_fields={"unified_job_template": {"id": 9, "name": "jt",
                                                                         "unified_job_type": "job"}})
    base.update(fields)
    return awx.add("workflow_job_template_nodes/", **base)


def test_workflow_node_override(awx):
    awx.objects[("job_templates/", 9)].update(ask_execution_environment_on_launch=True, execution_environment=4)
    result = EEResolver(awx).for_workflow_node(node(awx, execution_environment=3))
    assert (result["source"], result["execution_environment"]["id"]) == ("workflow_node", 3)
    assert result["chain"][0]["object"] == {"type": "workflow_job_template_node", "id": 1, "name": "build"}
    assert sources(result)[:2] == ["workflow_node", "template"]


def test_workflow_node_without_ee_falls_back_to_the_template(awx):
    awx.objects[("job_templates/", 9)].update(ask_execution_environment_on_launch=True, execution_environment=4)
    result = EEResolver(awx).for_workflow_node(node(awx))
    assert (result["source"], result["execution_environment"]["id"]) == ("template", 4)


def test_workflow_node_ee_ignored_when_template_stopped_asking(awx):
    awx.objects[("job_templates/", 9)]["execution_environment"] = 4
    result = EEResolver(awx).for_workflow_node(node(awx, execution_environment=3))
    assert result["source"] == "template"
    assert "ask_execution_environment_on_launch is false" in result["chain"][0]["note"]


def test_workflow_inventory_prompt_wins_over_node_prompt(awx):
    awx.add("organizations/", id=4, name="wf-org", default_environment=5)
    awx.add("organizations/", id=5, name="node-org", default_environment=3)
    awx.add("inventories/", id=20, name="wf-inv", organization=4)
    awx.add("inventories/", id=21, name="node-inv", organization=5)
    awx.objects[("job_templates/", 9)]["ask_inventory_on_launch"] = True
    the_node = node(awx, inventory=21)
    assert EEResolver(awx).for_workflow_node(the_node)["execution_environment"]["id"] == 3
    result = EEResolver(awx).for_workflow_node(the_node, workflow={"id": 10, "inventory": 20})
    assert (result["source"], result["execution_environment"]["id"]) == ("inventory_organization", 5)


def test_workflow_node_running_a_project_update(awx):
    awx.objects[("projects/", 8)]["default_environment"] = 3
    the_node = node(awx, unified_job_template=8, execution_environment=None,
                    summary_fields={"unified_job_template": {"id": 8, "name": "proj",
                                                             "unified_job_type": "project_update"}})
    result = EEResolver(awx).for_workflow_node(the_node)
    assert result["job_type"] == "project_update"
    assert (result["source"], result["execution_environment"]["id"]) == ("control_plane", 2)


def test_workflow_node_approval_runs_in_no_ee(awx):
    the_node = node(awx, unified_job_template=30,
                    summary_fields={"unified_job_template": {"id": 30, "name": "ok?",
                                                             "unified_job_type": "workflow_approval"}})
    result = EEResolver(awx).for_workflow_node(the_node)
    assert result["execution_environment"] is None and result["chain"] == []
    assert "no execution environment" in result["notes"][0]


def test_ad_hoc_command_with_its_own_ee(awx):
    awx.objects[("organizations/", 3)]["default_environment"] = 5
    result = EEResolver(awx).for_ad_hoc_command(awx.objects[("inventories/", 2)], launch_ee=3)
    assert result["job_type"] == "ad_hoc_command"
    assert (result["source"], result["execution_environment"]["id"]) == ("launch", 3)
    assert sources(result) == ["launch", "inventory_organization", "global_setting", "global", "global"]


def test_ad_hoc_command_skips_template_project_and_organization(awx):
    # The organization of the job template's project is not a candidate for an ad hoc command.
    awx.objects[("organizations/", 2)]["default_environment"] = 4
    awx.objects[("organizations/", 3)]["default_environment"] = 5
    result = EEResolver(awx).for_ad_hoc_command(awx.objects[("inventories/", 2)])
    assert (result["source"], result["execution_environment"]["id"]) == ("inventory_organization", 5)


def test_inventory_source_chain(awx):
    awx.objects[("organizations/", 3)]["default_environment"] = 5
    source = awx.add("inventory_sources/", id=7, name="src", inventory=2, source="scm", execution_environment=None)
    result = EEResolver(awx).for_inventory_source(source)
    assert result["job_type"] == "inventory_update"
    assert sources(result) == ["template", "organization", "inventory_organization", "global_setting", "global",
                               "global"]
    # The source's organization is its inventory's.
    assert result["chain"][1]["object"]["id"] == 3
    assert (result["source"], result["execution_environment"]["id"]) == ("organization", 5)
    source["execution_environment"] = 3
    assert EEResolver(awx).for_inventory_source(source)["source"] == "template"


def test_constructed_inventory_update_uses_control_plane(awx):
    awx.add("inventories/", id=30, name="constructed", organization=3, kind="constructed")
    source = awx.add("inventory_sources/", id=8, name="c", inventory=30, source="constructed",
                     execution_environment=3)
    result = EEResolver(awx).for_inventory_source(source)
    assert (result["source"], result["execution_environment"]["id"]) == ("control_plane", 2)


def test_project_update_always_control_plane(awx):
    project = awx.objects[("projects/", 8)]
    project["default_environment"] = 4
    result = EEResolver(awx).for_project(project)
    assert result["job_type"] == "project_update"
    assert (result["source"], result["execution_environment"]["name"]) == (
        "control_plane", "Control Plane Execution Environment")
    assert "not in its default_environment 'ee-org'" in result["notes"][0]


def test_project_update_without_control_plane_ee(awx):
    del awx.objects[("execution_environments/", 2)]
    result = EEResolver(awx).for_project(awx.objects[("projects/", 8)])
    assert result["execution_environment"] is None
    assert "Failed to find default control plane EE" in result["chain"][0]["note"]


def test_newest_by_created_then_id():
    ees = [
        {"id": 1, "organization": None, "managed": False, "image": "a", "created": "2026-01-01T00:00:00Z"},
        {"id": 2, "organization": None, "managed": False, "image": "a", "created": "2026-01-02T00:00:00Z"},
        {"id": 3, "organization": None, "managed": False, "image": "b", "created": "2026-01-02T00:00:00Z"},
        {"id": 4, "organization": 1, "managed": False, "image": "a", "created": "2026-01-03T00:00:00Z"},
        {"id": 5, "organization": None, "managed": True, "image": "a", "created": "2026-01-04T00:00:00Z"},
    ]
    assert newest_global_job_ee(ees, ["a"])["id"] == 2
    assert newest_global_ee(ees)["id"] == 3
    assert control_plane_ee(ees)["id"] == 5
    assert newest_global_job_ee(ees, []) is None


def test_ee_summary_defaults():
    assert ee_summary(None) is None
    assert ee_summary({"id": 1, "name": "x", "image": "i"}) == {
        "id": 1, "name": "x", "image": "i", "pull": "", "organization": None, "managed": False}


def test_reads_are_bounded(awx):
    awx.objects[("job_templates/", 9)]["execution_environment"] = 4
    resolve_jt(awx)
    # One EE list, one settings read, project, two organizations, inventory: no read twice.
    assert len(awx.reads) == len(set(awx.reads))
    assert sorted(r for r in awx.reads) == sorted([
        ("execution_environments/", None), ("projects/", 8), ("organizations/", 2), ("inventories/", 2),
        ("organizations/", 3), ("settings/system/", None)])


def test_compare_with_awx_agrees(awx):
    jt = awx.objects[("job_templates/", 9)]
    jt.update(ask_execution_environment_on_launch=True, execution_environment=4)
    jt["summary_fields"] = {"resolved_environment": {"id": 4, "name": "ee-org"}}
    # The launch prompt is not part of AWX's template-level answer.
    result = compare_with_awx(resolve_jt(awx, launch_ee=3), jt)
    assert result["awx_resolved_environment"] == {"id": 4, "name": "ee-org"}
    assert result["notes"] == []


def test_compare_with_awx_disagrees(awx):
    jt = awx.objects[("job_templates/", 9)]
    jt["summary_fields"] = {"resolved_environment": {"id": 5, "name": "ee-other"}}
    result = compare_with_awx(resolve_jt(awx), jt)
    assert "AWX itself resolves template 'jt' to 'ee-other'" in result["notes"][-1]
    assert "'AWX EE (latest)'" in result["notes"][-1]


def test_compare_with_awx_project_misreading(awx):
    project = awx.objects[("projects/", 8)]
    project["summary_fields"] = {"resolved_environment": {"id": 1, "name": "AWX EE (latest)"}}
    result = compare_with_awx(EEResolver(awx).for_project(project), project)
    assert result["source"] == "control_plane"
    assert "not the EE its updates run in" in result["notes"][-1]


def test_compare_without_awx_answer(awx):
    result = compare_with_awx(resolve_jt(awx), awx.objects[("job_templates/", 9)])
    assert result["awx_resolved_environment"] is None and result["notes"] == []
