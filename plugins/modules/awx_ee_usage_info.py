#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: awx_ee_usage_info
short_description: Report which AWX objects use each execution environment, and whether its image still exists
version_added: 0.2.0
description:
  - For every execution environment (EE) of AWX, or those named in O(names), reports what refers to it directly (job
    templates, workflow nodes, organization and project defaults, inventory sources, the global
    C(DEFAULT_EXECUTION_ENVIRONMENT) setting), which templates would run in it through AWX's resolution without naming
    it, and whether it is unused.
  - The resolution is AWX 24.6.1's, as M(eeforge.builder.awx_ee_resolve) reports it for one template; project updates
    count as users of the control plane EE.
  - With O(check_images=true), the image of each EE is looked up in its registry (nothing is pulled) and reported as
    present, missing or unknown (with the reason), with the digest it serves now and whether the reference is pinned
    to a digest or a mutable tag.
  - The cost does not grow with the number of objects per request - one list request per kind of object and page of
    200 (the most AWX returns at once), and one read of the system settings; never one request per object.
  - Reads only; never changes AWX or the registry.
options:
  names:
    description:
      - Names (or ids) of the execution environments to report. All of them when omitted.
      - The whole of AWX is still read, since any template may resolve to a named EE.
    type: list
    elements: str
  check_images:
    description:
      - Look up the image of each reported EE in its registry.
    type: bool
    default: false
  registry_host:
    description:
      - The registry that O(registry_username) and O(registry_password) are for, as it appears in the image references
        (V(registry.example.com), V(registry.example.com:5000)).
      - Images in other registries are looked up anonymously or with O(auth_file), so the password is never sent to a
        registry it is not meant for.
    type: str
  registry_username:
    description:
      - User name for O(registry_host). AWX never returns the secrets of its registry credentials, so they are given
        here.
      - Requires O(registry_host) and O(registry_password).
    type: str
  registry_password:
    description:
      - Password or token for O(registry_username).
      - It is written to a mode 0600 auth file in a private temporary directory that is removed when the task ends;
        it never appears on a command line, in the environment, in the log or in the result.
    type: str
  auth_file:
    description:
      - Path of a podman C(auth.json) or docker C(config.json) with credentials for the registries of the images.
      - It is only read, never modified.
    type: path
  tls_verify:
    description:
      - Require HTTPS and verify the registries' certificates when images are looked up.
      - Set to V(false) for plain-HTTP or self-signed registries.
    type: bool
    default: true
  global_job_execution_environments:
    description:
      - Images of AWX's C(GLOBAL_JOB_EXECUTION_ENVIRONMENTS) server setting, which the API does not show; used for the
        last step of the resolution.
    type: list
    elements: str
    default: [quay.io/ansible/awx-ee:latest]
extends_documentation_fragment:
  - eeforge.builder.awx
  - eeforge.builder.attributes
  - eeforge.builder.attributes.ACTIONGROUP_AWX
  - eeforge.builder.attributes.INFO_MODULE
notes:
  - Only the objects the AWX user may read are counted. The C(DEFAULT_EXECUTION_ENVIRONMENT) setting can be read only
    by a superuser or a system auditor; for other users C(references.global_default) is null (unknown).
  - A workflow node keeps its execution environment even when its job template no longer asks for one at launch; AWX
    then ignores it. Such a node is listed with C(prompt_ignored=true), and the job it spawns counts under the EE it
    would really run in.
  - O(check_images=true) needs C(skopeo) on the host the task runs on (C(podman) is used otherwise, which pulls).
seealso:
  - module: eeforge.builder.awx_ee_resolve
  - module: eeforge.builder.awx_ee_assignment
author:
  - eeforge contributors (@eeforge)
"""

EXAMPLES = r"""
- name: What uses which EE, and which images are gone?
  eeforge.builder.awx_ee_usage_info:
    check_images: true
    registry_host: registry.example.com
    registry_username: "{{ registry_user }}"
    registry_password: "{{ registry_password }}"
  register: usage

- name: EEs nothing uses
  ansible.builtin.debug:
    msg: "{{ usage.summary.unused }}"

- name: Fail when an EE in use points at an image that no longer exists
  ansible.builtin.assert:
    that: usage.execution_environments | selectattr('image_state.state', 'eq', 'missing')
          | rejectattr('unused') | list | length == 0

- name: Which templates would still run in ee-2.3?
  eeforge.builder.awx_ee_usage_info:
    names: [ee-2.3]
  register: old

- name: Show them
  ansible.builtin.debug:
    msg: "{{ old.execution_environments[0].references.job_templates | map(attribute='name')
             + old.execution_environments[0].resolved | map(attribute='name') }}"
"""

RETURN = r"""
execution_environments:
  description: One entry per execution environment reported, newest first (AWX's order), or in the order of O(names).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Id of the EE.
      type: int
      sample: 4
    name:
      description: Name of the EE.
      type: str
      sample: ee-aws
    image:
      description: Image reference registered in AWX.
      type: str
      sample: registry.example.com/ee/aws:1.2
    pull:
      description: Pull policy.
      type: str
      sample: missing
    managed:
      description: Whether AWX manages the EE (the control plane EE).
      type: bool
      sample: false
    organization:
      description: Organization of the EE (C(id), C(name)), null for a global EE.
      type: dict
      sample: {"id": 2, "name": "Platform"}
    credential:
      description: Id of the EE's registry credential, null when none.
      type: int
      sample: 3
    references:
      description:
        - What names the EE directly. C(job_templates), C(workflow_nodes), C(organizations), C(projects) and
          C(inventory_sources) are lists of C(type), C(id) and C(name) (a node has C(identifier), C(workflow),
          C(unified_job_template) and C(prompt_ignored); an inventory source its C(inventory)).
        - C(global_default) is true when the EE is the C(DEFAULT_EXECUTION_ENVIRONMENT) setting, null when the setting
          cannot be read.
      type: dict
      sample: {"job_templates": [{"type": "job_template", "id": 9, "name": "deploy", "organization": 2}],
               "workflow_nodes": [], "organizations": [{"type": "organization", "id": 2, "name": "Platform"}],
               "projects": [], "inventory_sources": [], "global_default": false}
    reference_count:
      description: Number of direct references (the global default counts as one).
      type: int
      sample: 2
    resolved:
      description:
        - Templates whose next job would run in this EE through AWX's resolution without naming it, each with
          C(type), C(id), C(name), C(job_type), C(source) (which step of the resolution decided, as in
          M(eeforge.builder.awx_ee_resolve)) and C(decided_by) (the C(source), C(object) and C(field) that named it).
      type: list
      elements: dict
      sample: [{"type": "job_template", "id": 12, "name": "patch", "job_type": "job", "source": "project",
                "decided_by": {"source": "project", "object": {"type": "project", "id": 8, "name": "playbooks"},
                               "field": "default_environment"}}]
    unused:
      description:
        - True when nothing references the EE and nothing would run in it.
        - Null when that cannot be told - nothing else uses the EE, but the user cannot read the
          C(DEFAULT_EXECUTION_ENVIRONMENT) setting, which may name it.
      type: bool
      sample: false
    image_state:
      description:
        - With O(check_images=true), the image in its registry. C(state) is V(present), V(missing) or V(unknown);
          C(reason) says why it is missing or unknown (or that a pinned reference's tag has moved); C(error_kind) is
          V(unauthorized), V(unreachable), V(tls), V(invalid) or V(error) when unknown.
        - C(digest) is the manifest digest served now; C(pinned) is true for C(name@sha256:...) references and
          C(mutable) for a tag only; for C(name:tag@sha256:...) C(tag_digest) is where the tag points now and
          C(tag_moved) whether that differs from the pinned digest.
      returned: with O(check_images=true)
      type: dict
      sample: {"image": "registry.example.com/ee/aws:1.2", "state": "present", "reason": null,
               "digest": "sha256:5a3c...", "pinned": false, "mutable": true, "tag": "1.2", "tag_digest": null,
               "tag_moved": null, "error_kind": null}
global_default:
  description: The EE of the C(DEFAULT_EXECUTION_ENVIRONMENT) setting (C(id), C(name)); null when unset or unreadable.
  returned: always
  type: dict
  sample: {"id": 4, "name": "ee-aws"}
summary:
  description:
    - Names of the EEs per finding. C(unused) and C(referenced) always; with O(check_images=true) also
      C(images_present), C(images_missing), C(images_unknown), C(mutable_tags) and C(moved_tags).
  returned: always
  type: dict
  sample: {"execution_environments": 3, "unused": ["ee-old"], "referenced": ["ee-aws"], "images_missing": ["ee-old"]}
api_requests:
  description: Number of requests sent to AWX (one per kind of object and page).
  returned: always
  type: int
  sample: 9
"""

from ansible_collections.eeforge.builder.plugins.module_utils._awx_client import AwxError
from ansible_collections.eeforge.builder.plugins.module_utils._awx_module import AwxModule
from ansible_collections.eeforge.builder.plugins.module_utils._awx_resolve import DEFAULT_GLOBAL_JOB_EE_IMAGES
from ansible_collections.eeforge.builder.plugins.module_utils._awx_usage import (
    PAGE_SIZE,
    SETTINGS_ENDPOINT,
    ImageCheckError,
    Snapshot,
    image_state,
    summarize,
    usage_report,
)
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import ImageRefError, split_ref
from ansible_collections.eeforge.builder.plugins.module_utils._registry import RegistryError, resolve_digest

VERB = "report the usage of"
KIND = "execution environments"


class RegistryLookup(object):
    """``inspect(reference)`` for ``image_state``: each reference looked up once; credentials only for their registry."""

    def __init__(self, module):
        self.module = module
        self.cache = {}

    def credentials(self, reference):
        params = self.module.params
        if not params["registry_username"]:
            return None, None
        try:
            registry = split_ref(reference).registry
        except ImageRefError:
            return None, None
        if registry != params["registry_host"]:
            return None, None
        return params["registry_username"], params["registry_password"]

    def __call__(self, reference):
        if reference not in self.cache:
            username, password = self.credentials(reference)
            params = self.module.params
            try:
                self.cache[reference] = ("digest", resolve_digest(
                    self.module, reference, username=username, password=password, auth_file=params["auth_file"],
                    tls_verify=params["tls_verify"]))
            except RegistryError as error:
                self.cache[reference] = ("error", ImageCheckError(str(error), getattr(error, "kind", "error")))
        kind, value = self.cache[reference]
        if kind == "error":
            raise value
        return value


def read_settings(client):
    """The system settings, or None when this user may not read them (403)."""
    try:
        return client.get(SETTINGS_ENDPOINT)
    except AwxError as error:
        if error.status in (403, 404):
            return None
        raise


def main():
    module = AwxModule(
        argument_spec=dict(
            names=dict(type="list", elements="str"),
            check_images=dict(type="bool", default=False),
            registry_host=dict(type="str"),
            registry_username=dict(type="str"),
            registry_password=dict(type="str", no_log=True),
            auth_file=dict(type="path"),
            tls_verify=dict(type="bool", default=True),
            global_job_execution_environments=dict(type="list", elements="str",
                                                   default=list(DEFAULT_GLOBAL_JOB_EE_IMAGES)),
        ),
        required_together=[("registry_username", "registry_password")],
        required_by={"registry_username": "registry_host"},
    )
    params = module.params
    client = module.client
    names = params["names"] or []
    label = ", ".join(names) if names else "all"
    with module.failing(VERB, KIND, label):
        snapshot = Snapshot(lambda endpoint: client.list(endpoint, page_size=PAGE_SIZE), lambda: read_settings(client))
    try:
        report = usage_report(snapshot, names, params["global_job_execution_environments"])
    except LookupError as error:
        missing = error.args[0]
        module.fail_action(VERB, KIND, label, "no execution environment is named %s (or %s cannot see it)"
                           % (", ".join("'%s'" % name for name in missing), module.settings.who()),
                           "Check the names, or leave names out to report every execution environment")

    if params["check_images"]:
        lookup = RegistryLookup(module)
        for entry in report:
            entry["image_state"] = image_state(entry["image"], lookup)

    default_id = snapshot.global_default()
    default = None
    if default_id:
        default = {"id": default_id, "name": (snapshot.get("execution_environments/", default_id) or {}).get("name")}
    module.exit_json(changed=False, execution_environments=report, global_default=default,
                     summary=summarize(report, params["check_images"]), api_requests=len(client.calls))


if __name__ == "__main__":
    main()
