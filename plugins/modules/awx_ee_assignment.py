#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: awx_ee_assignment
short_description: Set the execution environment of an AWX object, or move every reference of one EE to another
version_added: 0.1.0
description:
  - Sets, or clears, the execution environment (EE) of one AWX object, in one idempotent task instead of a PATCH
    per field name.
  - With O(replace), moves every reference of one EE to another instead - job templates, workflow nodes,
    organization and project defaults, inventory sources and the global default - with check mode and a diff per
    object. Referrers are found with one list request per kind of object (and page of 200), and each one that
    changes gets one PATCH.
  - V(job_template) sets the template's C(execution_environment); V(workflow_node) the C(execution_environment)
    a workflow node prompts its job template with; V(organization) and V(project) their C(default_environment);
    V(global) the C(DEFAULT_EXECUTION_ENVIRONMENT) setting (in C(/api/v2/settings/system/)).
  - AWX accepts an EE on a workflow node only when the node's job template has
    C(ask_execution_environment_on_launch=true). With O(enable_prompt=true) the module sets that flag first;
    otherwise it fails with a message naming it.
  - To see which EE a job will really run in, and why, use M(eeforge.builder.awx_ee_resolve).
options:
  execution_environment:
    description:
      - Name or id of the execution environment to assign (EE names are unique across the AWX server).
      - V('') clears the assignment (sets the field to null).
      - Required with O(target_type).
    type: str
  target_type:
    description:
      - Kind of object whose execution environment is set.
      - One of O(target_type) and O(replace) is required.
    type: str
    choices: [job_template, workflow_node, organization, project, global]
  replace:
    description:
      - Move every reference of execution environment O(replace.from) to O(replace.to).
      - "What moves: the C(execution_environment) of job templates, workflow nodes and inventory sources, the
        C(default_environment) of organizations and projects, and the C(DEFAULT_EXECUTION_ENVIRONMENT) setting."
      - Templates that only resolve to O(replace.from) through a default move with that default.
      - Every object is checked before the first write; when a workflow node's job template does not ask for the EE
        at launch, the task fails before writing anything unless O(enable_prompt=true).
      - Not with O(target_type), O(target), O(workflow) or O(organization).
    type: dict
    suboptions:
      from:
        description:
          - Name or id of the execution environment whose references move. It must exist.
        type: str
        required: true
      to:
        description:
          - Name or id of the execution environment they move to; V('') clears them (sets them to null).
        type: str
        required: true
  target:
    description:
      - Name or id of the job template, organization or project.
      - For O(target_type=workflow_node), the node's C(identifier) (or its id) in the workflow O(workflow).
      - Not used with O(target_type=global).
    type: str
  workflow:
    description:
      - Name or id of the workflow job template that holds the node, with O(target_type=workflow_node).
    type: str
  organization:
    description:
      - Name or id of the organization of O(target) (or of O(workflow)), to choose between objects of the same name
        in several organizations.
    type: str
  enable_prompt:
    description:
      - With O(target_type=workflow_node) (or O(replace) moving a workflow node), set
        C(ask_execution_environment_on_launch=true) on the node's job template when it is false, so that AWX accepts
        the node's execution environment.
      - When false and the job template does not ask for the EE at launch, the task fails (AWX would refuse the EE,
        or ignore it at launch).
    type: bool
    default: false
extends_documentation_fragment:
  - eeforge.builder.awx
  - eeforge.builder.attributes
  - eeforge.builder.attributes.ACTIONGROUP_AWX
  - eeforge.builder.attributes.FULL_SUPPORT
notes:
  - Setting C(DEFAULT_EXECUTION_ENVIRONMENT) needs a superuser. With O(replace), a user who cannot read it gets a
    warning and the setting is left alone.
  - With O(replace), only the objects the AWX user can see are moved. If AWX refuses a write half-way, the task fails
    naming what was moved; running it again moves the rest.
  - To see what uses an EE before moving it, use M(eeforge.builder.awx_ee_usage_info).
  - The job template flag set by O(enable_prompt) also lets users pick any EE they may use when they launch the job
    template by hand.
seealso:
  - module: eeforge.builder.awx_ee_resolve
  - module: eeforge.builder.awx_ee_usage_info
  - module: eeforge.builder.awx_execution_environment
author:
  - eeforge contributors (@eeforge)
"""

EXAMPLES = r"""
- name: Run the deploy job template in ee-aws
  eeforge.builder.awx_ee_assignment:
    execution_environment: ee-aws
    target_type: job_template
    target: deploy
    organization: Platform

- name: Run the build node of the nightly workflow in the builder EE
  eeforge.builder.awx_ee_assignment:
    execution_environment: eeforge-builder
    target_type: workflow_node
    workflow: nightly
    target: build
    enable_prompt: true

- name: Make ee-base the default of the Platform organization
  eeforge.builder.awx_ee_assignment:
    execution_environment: ee-base
    target_type: organization
    target: Platform

- name: Clear the global default (AWX then falls back to its own global EEs)
  eeforge.builder.awx_ee_assignment:
    execution_environment: ""
    target_type: global

- name: Move everything from ee-2.3 to ee-2.4 (run with --check --diff first to see what moves)
  eeforge.builder.awx_ee_assignment:
    replace:
      from: ee-2.3
      to: ee-2.4
    enable_prompt: true
  register: moved

- name: Show what moved
  ansible.builtin.debug:
    msg: "{{ moved.replaced | map(attribute='name') }}"
"""

RETURN = r"""
id:
  description: Id of the object whose execution environment is set (null with O(target_type=global) or O(replace)).
  returned: always
  type: int
  sample: 9
url:
  description: API URL of that object (of the system settings with O(target_type=global); null with O(replace)).
  returned: always
  type: str
  sample: https://awx.example.com/api/v2/job_templates/9/
target:
  description: The object, as C(type), C(id) and C(name) (a node's name is its identifier).
  returned: with O(target_type)
  type: dict
  sample: {"type": "job_template", "id": 9, "name": "deploy"}
field:
  description: The field set on the target.
  returned: with O(target_type)
  type: str
  sample: execution_environment
execution_environment:
  description:
    - The execution environment now assigned (C(id), C(name), C(image), C(pull)), null when cleared.
    - With O(replace), the one the references moved to (O(replace.to)).
  returned: always
  type: dict
  sample: {"id": 4, "name": "ee-aws", "image": "registry.example.com/ee/aws@sha256:5a3c...", "pull": "missing"}
previous_execution_environment:
  description:
    - The execution environment assigned before the task (C(id), C(name)), null when there was none.
    - With O(replace), the one the references moved from (O(replace.from)).
  returned: always
  type: dict
  sample: {"id": 3, "name": "ee-aws-old"}
prompt_enabled:
  description:
    - True when the task set C(ask_execution_environment_on_launch) on the node's job template.
    - With O(replace), the names of the job templates it was set on (a list).
  returned: with O(target_type=workflow_node) or O(replace)
  type: raw
  sample: false
replaced:
  description:
    - With O(replace), every reference moved (or, in check mode, that would be moved), in the order written -
      C(kind) (V(job_templates), V(workflow_nodes), V(organizations), V(projects), V(inventory_sources),
      V(global_default)), C(type), C(id), C(name) (a node's is C(workflow/identifier)) and C(field).
  returned: with O(replace)
  type: list
  elements: dict
  sample: [{"kind": "job_templates", "type": "job_template", "id": 9, "name": "deploy",
            "field": "execution_environment"},
           {"kind": "global_default", "type": "setting", "id": null, "name": "DEFAULT_EXECUTION_ENVIRONMENT",
            "field": "DEFAULT_EXECUTION_ENVIRONMENT"}]
"""

from ansible_collections.eeforge.builder.plugins.module_utils._awx_client import (
    AwxError,
    find_workflow_node,
    in_organization,
)
from ansible_collections.eeforge.builder.plugins.module_utils._awx_module import AwxModule
from ansible_collections.eeforge.builder.plugins.module_utils._awx_usage import (
    PAGE_SIZE,
    SETTINGS_ENDPOINT,
    referrer_queries,
    replace_diff,
    replace_plan,
)

ASK_FLAG = "ask_execution_environment_on_launch"
# target_type -> (endpoint, kind in messages, field holding the EE)
TARGETS = {
    "job_template": ("job_templates/", "job template", "execution_environment"),
    "workflow_node": ("workflow_job_template_nodes/", "workflow node", "execution_environment"),
    "organization": ("organizations/", "organization", "default_environment"),
    "project": ("projects/", "project", "default_environment"),
    "global": ("settings/system/", "setting", "DEFAULT_EXECUTION_ENVIRONMENT"),
}


def ee_view(ee):
    if ee is None:
        return None
    return {"id": ee.get("id"), "name": ee.get("name"), "image": ee.get("image"), "pull": ee.get("pull")}


def ee_id(value):
    return value.get("id") if isinstance(value, dict) else value


class Assignment(object):
    """Finds the target and the EE, then sets the field; every failure names the target."""

    def __init__(self, module):
        self.module = module
        self.client = module.client
        params = module.params
        self.target_type = params["target_type"]
        self.endpoint, self.kind, self.field = TARGETS[self.target_type]
        self.name = "DEFAULT_EXECUTION_ENVIRONMENT" if self.target_type == "global" else params["target"]
        self.org = None
        self.prompt_enabled = False

    def fail(self, cause, fix):
        self.module.fail_action("set the execution environment of", self.kind, self.name, cause, fix)

    def find_target(self):
        params = self.module.params
        with self.module.failing("set the execution environment of", self.kind, self.name):
            if params["organization"] is not None:
                self.org = self.client.resolve("organizations/", params["organization"], "organization")
            if self.target_type == "global":
                settings = self.client.get(self.endpoint)
                settings["url"] = self.client.path(self.endpoint)
                return settings
            if self.target_type == "workflow_node":
                return self.find_node()
            return self.client.resolve(self.endpoint, params["target"], self.kind, match=in_organization(self.org))

    def find_node(self):
        workflow = self.client.resolve("workflow_job_templates/", self.module.params["workflow"],
                                       "workflow job template", match=in_organization(self.org))
        node = find_workflow_node(self.client, workflow, self.name)
        self.name = "%s/%s" % (workflow["name"], node.get("identifier"))
        return node

    def find_ee(self):
        value = self.module.params["execution_environment"]
        if value == "":
            return None
        with self.module.failing("set the execution environment of", self.kind, self.name):
            return self.client.resolve("execution_environments/", value, "execution environment")

    def previous_ee(self, current_id, wanted):
        """``{id, name}`` of the EE assigned now (None when none); its name is read only when it differs."""
        if current_id is None:
            return None
        if wanted is not None and wanted["id"] == current_id:
            return {"id": current_id, "name": wanted["name"]}
        with self.module.failing("set the execution environment of", self.kind, self.name):
            current = self.client.get_or_none("execution_environments/%d/" % current_id)
        return {"id": current_id, "name": (current or {}).get("name")}

    def node_template(self, node, setting_ee):
        """The node's job template, after making it ask for the EE when needed (``enable_prompt``)."""
        summary = (node.get("summary_fields") or {}).get("unified_job_template") or {}
        if summary.get("unified_job_type", "job") != "job" or node.get("unified_job_template") is None:
            self.fail("the node runs a %s, and only job template nodes take an execution environment"
                      % (summary.get("unified_job_type") or "nothing"),
                      "Set the execution environment of the project, inventory source or workflow it runs instead")
        with self.module.failing("set the execution environment of", self.kind, self.name):
            template = self.client.get("job_templates/%d/" % node["unified_job_template"])
        if not setting_ee or template.get(ASK_FLAG):
            return template
        if not self.module.params["enable_prompt"]:
            self.fail("job template '%s' does not ask for the execution environment at launch (%s is false), so AWX "
                      "refuses an execution environment on its workflow nodes" % (template["name"], ASK_FLAG),
                      "Set enable_prompt: true, or set %s on job template '%s'" % (ASK_FLAG, template["name"]))
        self.prompt_enabled = True
        return self.module.update(template, {ASK_FLAG: True}, "job template", template["name"])


# AWX object type -> its name in messages
WRITE_KINDS = {"job_template": "job template", "workflow_job_template_node": "workflow node",
               "organization": "organization", "project": "project", "inventory_source": "inventory source",
               "setting": "setting"}


class Replacement(object):
    """``replace``: list the referrers of one EE (one filtered list per kind), check them all, then PATCH each."""

    VERB = "move the references of"
    KIND = "execution environment"

    def __init__(self, module):
        self.module = module
        self.client = module.client
        self.name = module.params["replace"]["from"]
        self.prompt_enabled = []

    def fail(self, cause, fix=None, **extra):
        self.module.fail_action(self.VERB, self.KIND, self.name, cause, fix, **extra)

    def find(self):
        """``(from_ee, to_ee or None, {kind: [referrers]}, settings or None)``."""
        spec = self.module.params["replace"]
        with self.module.failing(self.VERB, self.KIND, self.name):
            source = self.client.resolve("execution_environments/", spec["from"], "execution environment")
            target = None
            if spec["to"] != "":
                target = self.client.resolve("execution_environments/", spec["to"], "execution environment")
            referrers = {}
            for kind, endpoint, query in referrer_queries(source["id"]):
                referrers[kind] = self.client.list(endpoint, **query)
            try:
                settings = self.client.get(SETTINGS_ENDPOINT)
            except AwxError as error:
                if error.status != 403:
                    raise
                settings = None
                self.module.warn("DEFAULT_EXECUTION_ENVIRONMENT was not checked: %s may not read /api/v2/settings/"
                                 "system/ (a superuser can)" % self.module.settings.who())
        return source, target, referrers, settings

    def templates_to_prompt(self, changes, target):
        """Job templates of the moved nodes that must ask for the EE at launch first (checked before any write)."""
        nodes = [change for change in changes if change["kind"] == "workflow_nodes"]
        if target is None or not nodes:
            return []
        ids = sorted(set(change["template"] for change in nodes if change.get("template") is not None))
        with self.module.failing(self.VERB, self.KIND, self.name):
            templates = self.client.list("job_templates/", id__in=",".join(str(i) for i in ids),
                                         page_size=PAGE_SIZE) if ids else []
        refusing = [template for template in templates if not template.get(ASK_FLAG)]
        if refusing and not self.module.params["enable_prompt"]:
            self.fail("job template%s %s %s not ask for the execution environment at launch (%s is false), so AWX "
                      "refuses an execution environment on %s workflow nodes; nothing was changed"
                      % ("s" if len(refusing) > 1 else "", ", ".join("'%s'" % t["name"] for t in refusing),
                         "do" if len(refusing) > 1 else "does", ASK_FLAG, "their" if len(refusing) > 1 else "its"),
                      "Set enable_prompt: true, or set %s on those job templates" % ASK_FLAG)
        return refusing

    def run(self):
        source, target, referrers, settings = self.find()
        changes = replace_plan(referrers, settings, source["id"], target["id"] if target else None)
        by_id = dict((node["id"], node) for node in referrers.get("workflow_nodes", []))
        for change in changes:
            if change["kind"] == "workflow_nodes":
                change["template"] = by_id[change["id"]].get("unified_job_template")
        writes = [(template["url"], {ASK_FLAG: True}, "job template", template["name"])
                  for template in self.templates_to_prompt(changes, target)]
        self.prompt_enabled = [name for _url, _payload, _kind, name in writes]
        writes += [(change["url"], change["payload"], WRITE_KINDS[change["type"]], change["name"])
                   for change in changes]
        done = []
        self.module.changed = bool(writes)
        for url, payload, kind, name in writes:
            if self.module.check_mode:
                continue
            try:
                self.client.patch(url, payload)
            except AwxError as error:
                self.fail("%s (updating %s '%s'; %d of %d writes were done before: %s)"
                          % (error.cause.rstrip(". "), kind, name, len(done), len(writes), ", ".join(done) or "none"),
                          (error.fix.rstrip(". ") + ". " if error.fix else "")
                          + "Run the task again to move the rest", status=error.status)
            done.append("%s '%s'" % (kind, name))
        before, after = replace_diff(changes, source["name"], target["name"] if target else None)
        self.module.set_diff(before, after)
        replaced = [dict((key, change[key]) for key in ("kind", "type", "id", "name", "field")) for change in changes]
        return dict(execution_environment=ee_view(target), previous_execution_environment=ee_view(source),
                    replaced=replaced, prompt_enabled=self.prompt_enabled)


def main():
    module = AwxModule(
        argument_spec=dict(
            execution_environment=dict(type="str"),
            target_type=dict(type="str", choices=list(TARGETS)),
            target=dict(type="str"),
            workflow=dict(type="str"),
            organization=dict(type="str"),
            enable_prompt=dict(type="bool", default=False),
            replace=dict(type="dict", options={"from": dict(type="str", required=True),
                                               "to": dict(type="str", required=True)}),
        ),
        required_one_of=[("target_type", "replace")],
        mutually_exclusive=[("replace", "target_type"), ("replace", "execution_environment"), ("replace", "target"),
                            ("replace", "workflow"), ("replace", "organization")],
        required_by={"target_type": "execution_environment"},
        required_if=[
            ("target_type", "job_template", ["target"]),
            ("target_type", "workflow_node", ["target", "workflow"]),
            ("target_type", "organization", ["target"]),
            ("target_type", "project", ["target"]),
        ],
    )
    if module.params["replace"] is not None:
        module.exit_with(None, **Replacement(module).run())
    assignment = Assignment(module)
    target = assignment.find_target()
    ee = assignment.find_ee()
    wanted_id = ee["id"] if ee else None

    before = {assignment.field: None}
    after = {assignment.field: ee["name"] if ee else None}
    if assignment.target_type == "workflow_node":
        template = assignment.node_template(target, ee is not None)
        before[ASK_FLAG] = False if assignment.prompt_enabled else bool(template.get(ASK_FLAG))
        after[ASK_FLAG] = bool(template.get(ASK_FLAG))

    current_id = ee_id(target.get(assignment.field))
    previous = assignment.previous_ee(current_id, ee)
    if previous is not None:
        before[assignment.field] = previous["name"] or current_id

    if current_id != wanted_id:
        module.update(target, {assignment.field: wanted_id}, assignment.kind, assignment.name)
    module.set_diff(before, after)

    result = dict(
        target={"type": assignment.target_type, "id": target.get("id"),
                "name": target.get("identifier") if assignment.target_type == "workflow_node"
                else target.get("name", assignment.name)},
        field=assignment.field,
        execution_environment=ee_view(ee),
        previous_execution_environment=previous,
    )
    if assignment.target_type == "workflow_node":
        result["prompt_enabled"] = assignment.prompt_enabled
    module.exit_with(target, **result)


if __name__ == "__main__":
    main()
