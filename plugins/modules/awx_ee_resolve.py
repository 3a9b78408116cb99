#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: awx_ee_resolve
short_description: Report the execution environment an AWX job would run in, and the chain that decides it
version_added: 0.1.0
description:
  - Reports the execution environment (EE) a job launched now would run in, with the name, image and pull policy of
    every candidate AWX looks at, in AWX's own order (AWX 24.6.1, C(resolve_execution_environment)), first match wins.
  - "For a job template: the EE given at launch (only when the template has C(ask_execution_environment_on_launch)),
    the template's EE, its project's C(default_environment), its organization's C(default_environment), the
    C(default_environment) of its inventory's organization, the C(DEFAULT_EXECUTION_ENVIRONMENT) setting, the newest
    global unmanaged EE whose image is listed in AWX's C(GLOBAL_JOB_EXECUTION_ENVIRONMENTS), the newest global
    unmanaged EE."
  - For a workflow node, the node's EE comes first (again only when its job template asks for the EE at launch), and
    an inventory prompted by the workflow or the node is used.
  - For an ad hoc command on O(inventory), its own EE (O(execution_environment)), then the inventory's organization,
    then the global defaults. For an O(inventory_source), the source's EE, its organization, its inventory's
    organization, the global defaults; constructed inventories update in the control plane EE.
  - For a O(project), the EE its updates run in, which is always the control plane EE (the newest global managed EE)
    whatever the project's C(default_environment) says; that one is for the job templates of the project.
  - Reads only; never changes AWX.
options:
  job_template:
    description:
      - Name or id of the job template whose next job is resolved.
    type: str
  workflow:
    description:
      - Name or id of the workflow job template of O(workflow_node).
    type: str
  workflow_node:
    description:
      - Identifier (or id) of the node of O(workflow) whose job is resolved.
    type: str
  inventory:
    description:
      - Name or id of an inventory. Alone, an ad hoc command run on it is resolved; with O(inventory_source), an
        update of that source.
    type: str
  inventory_source:
    description:
      - Name or id of an inventory source of O(inventory) whose update is resolved.
    type: str
  project:
    description:
      - Name or id of a project whose update is resolved.
    type: str
  organization:
    description:
      - Name or id of the organization of the object named, to choose between objects of the same name in several
        organizations.
    type: str
  execution_environment:
    description:
      - Name or id of the EE given at launch of O(job_template) (a prompt), or in the ad hoc command on O(inventory).
    type: str
  global_job_execution_environments:
    description:
      - Images of AWX's C(GLOBAL_JOB_EXECUTION_ENVIRONMENTS) server setting, which the API does not show.
      - The default is AWX's; set it when your installer (e.g. the awx-operator's C(ee_images)) changed it.
    type: list
    elements: str
    default: [quay.io/ansible/awx-ee:latest]
extends_documentation_fragment:
  - eeforge.builder.awx
  - eeforge.builder.attributes
  - eeforge.builder.attributes.ACTIONGROUP_AWX
  - eeforge.builder.attributes.INFO_MODULE
notes:
  - The C(DEFAULT_EXECUTION_ENVIRONMENT) setting can be read only by a superuser or a system auditor; for other users
    that candidate is reported as unknown.
  - A job's EE is fixed when the job is created (template or prompt) or, when still empty, when it starts; changing
    the defaults afterwards does not move a job that has already started.
seealso:
  - module: eeforge.builder.awx_ee_assignment
author:
  - eeforge contributors (@eeforge)
"""

EXAMPLES = r"""
- name: Which EE will the deploy job template run in?
  eeforge.builder.awx_ee_resolve:
    job_template: deploy
    organization: Platform
  register: resolved

- name: Show it
  ansible.builtin.debug:
    msg: "{{ resolved.execution_environment.image }} (from {{ resolved.source }})"

- name: And the build node of the nightly workflow?
  eeforge.builder.awx_ee_resolve:
    workflow: nightly
    workflow_node: build

- name: An ad hoc command on the lab inventory
  eeforge.builder.awx_ee_resolve:
    inventory: lab
"""

RETURN = r"""
execution_environment:
  description:
    - The EE the job would run in (C(id), C(name), C(image), C(pull), C(organization), C(managed)).
    - Null when no candidate is set (AWX would fail the job with C(no Execution Environment could be found)) or when
      the job runs in no EE (workflow approvals, nested workflows).
  returned: always
  type: dict
  sample: {"id": 4, "name": "ee-aws", "image": "registry.example.com/ee/aws:1.2", "pull": "missing",
           "organization": 2, "managed": false}
source:
  description:
    - Which candidate decided, one of V(launch) (the EE given at launch or the ad hoc command's), V(workflow_node),
      V(template) (job template or inventory source), V(project), V(organization), V(inventory_organization),
      V(global_setting) (C(DEFAULT_EXECUTION_ENVIRONMENT)), V(global) (AWX's own global EEs), V(control_plane)
      (project updates, constructed inventory updates); null when none did.
  returned: always
  type: str
  sample: project
chain:
  description:
    - Every candidate, in AWX's order, including those after the selected one (what the job would fall back to).
    - C(object) is the object looked at (C(type), C(id), C(name)), C(field) its field, C(execution_environment) the EE
      it names (null when not set), C(usable) whether AWX would take it, C(selected) whether it decided, C(note) why a
      candidate is not usable.
  returned: always
  type: list
  elements: dict
  sample:
    - {"source": "template", "object": {"type": "job_template", "id": 9, "name": "deploy"},
       "field": "execution_environment", "execution_environment": null, "usable": false, "selected": false,
       "note": "not set"}
    - {"source": "project", "object": {"type": "project", "id": 8, "name": "playbooks"},
       "field": "default_environment", "execution_environment": {"id": 4, "name": "ee-aws",
       "image": "registry.example.com/ee/aws:1.2", "pull": "missing", "organization": 2, "managed": false},
       "usable": true, "selected": true, "note": null}
job_type:
  description: Kind of job resolved, V(job), V(ad_hoc_command), V(inventory_update) or V(project_update).
  returned: always
  type: str
  sample: job
target:
  description: The object resolved (C(type), C(id), C(name)).
  returned: always
  type: dict
  sample: {"type": "job_template", "id": 9, "name": "deploy"}
awx_resolved_environment:
  description:
    - What AWX itself shows as the template's C(summary_fields.resolved_environment) (C(id), C(name), C(description),
      C(image)), that is AWX's own C(resolve_execution_environment()) applied to the job template (without launch or
      node prompts) or to the project (which is not the EE of its updates).
    - When it differs from the chain's answer, RV(notes) says so.
  returned: with O(job_template) or O(project)
  type: dict
  sample: {"id": 4, "name": "ee-aws", "description": "", "image": "registry.example.com/ee/aws:1.2"}
notes:
  description: What to know about this chain, e.g. that project updates ignore the project's C(default_environment).
  returned: always
  type: list
  elements: str
  sample: ["Updates of project 'playbooks' run in 'Control Plane Execution Environment' (the control plane EE), ..."]
"""

from ansible_collections.eeforge.builder.plugins.module_utils._awx_client import (
    MAX_PAGE_SIZE,
    AwxError,
    find_workflow_node,
    in_organization,
)
from ansible_collections.eeforge.builder.plugins.module_utils._awx_module import AwxModule
from ansible_collections.eeforge.builder.plugins.module_utils._awx_resolve import (
    DEFAULT_GLOBAL_JOB_EE_IMAGES,
    AwxObjects,
    EEResolver,
    compare_with_awx,
    ref,
)


class ClientObjects(AwxObjects):
    """The resolver's reads over the AWX client, each object read once; unreadable (403/404) is None."""

    def __init__(self, client):
        self.client = client
        self.cache = {}

    def _read(self, key, endpoint):
        if key not in self.cache:
            try:
                self.cache[key] = self.client.get(endpoint)
            except AwxError as error:
                if error.status not in (403, 404):
                    raise
                self.cache[key] = None
        return self.cache[key]

    def get(self, endpoint, ident):
        return self._read((endpoint, ident), "%s%d/" % (endpoint, ident))

    def detail(self, endpoint, obj):
        """``obj`` (found in a list) with AWX's ``resolved_environment``, read from its detail view if needed."""
        if "resolved_environment" in (obj.get("summary_fields") or {}):
            return obj
        return self.get(endpoint, obj["id"]) or obj

    def execution_environments(self):
        return self.client.list("execution_environments/", page_size=MAX_PAGE_SIZE)

    def system_settings(self):
        return self._read("settings/system/", "settings/system/")


def main():
    module = AwxModule(
        argument_spec=dict(
            job_template=dict(type="str"),
            workflow=dict(type="str"),
            workflow_node=dict(type="str"),
            inventory=dict(type="str"),
            inventory_source=dict(type="str"),
            project=dict(type="str"),
            organization=dict(type="str"),
            execution_environment=dict(type="str"),
            global_job_execution_environments=dict(type="list", elements="str",
                                                   default=list(DEFAULT_GLOBAL_JOB_EE_IMAGES)),
        ),
        mutually_exclusive=[("job_template", "workflow", "inventory", "project"),
                            ("execution_environment", "workflow"), ("execution_environment", "project"),
                            ("execution_environment", "inventory_source")],
        required_one_of=[("job_template", "workflow", "inventory", "project")],
        required_together=[("workflow", "workflow_node")],
        required_by={"inventory_source": "inventory"},
    )
    params = module.params
    client = module.client
    objects = ClientObjects(client)
    resolver = EEResolver(objects, params["global_job_execution_environments"])
    name = params["job_template"] or params["workflow"] or params["inventory"] or params["project"]

    with module.failing("resolve the execution environment of", "object", name):
        org = None
        if params["organization"] is not None:
            org = client.resolve("organizations/", params["organization"], "organization")
        launch_ee = None
        if params["execution_environment"]:
            launch_ee = client.resolve("execution_environments/", params["execution_environment"],
                                       "execution environment")["id"]
        if params["job_template"]:
            target = objects.detail("job_templates/", client.resolve(
                "job_templates/", params["job_template"], "job template", match=in_organization(org)))
            result = compare_with_awx(resolver.for_job_template(target, launch_ee=launch_ee), target)
        elif params["workflow"]:
            workflow = client.resolve("workflow_job_templates/", params["workflow"], "workflow job template",
                                      match=in_organization(org))
            target = find_workflow_node(client, workflow, params["workflow_node"])
            result = resolver.for_workflow_node(target, workflow=workflow)
        elif params["inventory"]:
            inventory = client.resolve("inventories/", params["inventory"], "inventory", match=in_organization(org))
            if params["inventory_source"]:
                target = client.resolve("inventory_sources/", params["inventory_source"], "inventory source",
                                        match=lambda obj: obj.get("inventory") == inventory["id"])
                result = resolver.for_inventory_source(target)
            else:
                target = inventory
                result = resolver.for_ad_hoc_command(inventory, launch_ee=launch_ee)
        else:
            target = objects.detail("projects/", client.resolve("projects/", params["project"], "project",
                                                                match=in_organization(org)))
            result = compare_with_awx(resolver.for_project(target), target)

    if result["execution_environment"] is None and result["chain"]:
        module.warn("A job launched now would fail: no execution environment could be found "
                    "(see chain and notes).")
    result["target"] = ref(target)
    module.exit_with(target, **result)


if __name__ == "__main__":
    main()
