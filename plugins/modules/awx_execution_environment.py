#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: awx_execution_environment
short_description: Register an execution environment in AWX, optionally pinned to its image digest
version_added: 0.1.0
description:
  - Creates, updates, renames, moves between organizations and deletes execution environments (EEs) in
    AWX or Automation Controller, through its API (awxkit).
  - Idempotent; a run that changes nothing sends no write and, for an EE whose organization and credential are
    unchanged, only one GET request.
  - EE names are unique across the whole AWX server. When the EE exists in another organization than O(organization),
    it is moved there (the diff shows it), instead of failing on a duplicate name.
  - With O(pin_digest=true) the image tag is resolved to its manifest digest in the registry and the EE is registered
    as C(image@sha256:...), so every job runs an immutable, auditable image and a re-pushed tag is never silently
    ignored by O(pull=missing).
  - The image reference is checked before AWX is called (spaces, upper case in the repository, a missing tag, ...).
  - O(state=absent) refuses to delete an EE that is still referenced (AWX would silently set the references to null)
    unless O(force=true), and reports the references.
  - With O(items), many execution environments are converged in one task, for the cost of a few requests in all
    instead of one module run each - one list request per kind and page of 200 (C(name__in)), writes only for the
    items that change - and, with O(prune=true), the execution environments selected by O(prune_prefix) and
    O(prune_organization) that are not listed are deleted. Every item is checked (image, relations, references)
    before anything is written.
options:
  name:
    description:
      - Name of the execution environment (unique across the AWX server).
      - Required unless O(items) is given.
    type: str
  new_name:
    description:
      - New name to give the execution environment found by O(name).
      - When no EE is named O(name) but one is named O(new_name), that one is managed (the rename already happened).
    type: str
  image:
    description:
      - Container image reference, with a tag or a digest, for example V(registry.example.com/ee/aws:1.2).
      - Required to create an execution environment; when omitted for an existing one, its image is kept.
    type: str
  pull:
    description:
      - Pull policy of jobs that use this execution environment.
      - V('') means AWX's default (unset); when omitted, the current policy is kept.
    type: str
    choices: ['', always, missing, never]
  credential:
    description:
      - Container Registry credential (name or id) AWX uses to pull O(image).
      - V('') removes the credential; when omitted, the current one is kept.
      - When several registry credentials have this name, the one in O(organization) is used.
    type: str
  organization:
    description:
      - Organization (name or id) the execution environment belongs to.
      - When omitted, the execution environment is global (available to every organization); an existing
        organization-scoped one is made global.
    type: str
  description:
    description:
      - Description; when omitted, the current one is kept.
    type: str
  pin_digest:
    description:
      - Resolve the tag of O(image) to its manifest digest in the registry and register C(name@sha256:...).
      - Requires O(image). An O(image) that already has a digest is registered as it is.
      - The registry is read with O(registry_username)/O(registry_password) or O(auth_file) (AWX never
        reveals the password stored in O(credential)).
    type: bool
    default: false
  registry_username:
    description:
      - User name for the registry when O(pin_digest=true).
    type: str
  registry_password:
    description:
      - Password or token of O(registry_username). Given to skopeo in a private auth file, never on the command line.
    type: str
  auth_file:
    description:
      - Path of a podman C(auth.json) or docker C(config.json) to read the registry with when O(pin_digest=true).
      - The same option as O(eeforge.builder.ee_build#module:auth_file); V(registry_auth_file) is its old name.
    type: path
    aliases: [registry_auth_file]
  tls_verify:
    description:
      - Verify the registry's TLS certificate when O(pin_digest=true).
      - When omitted, C(registries.conf) decides (verification is on unless the registry is marked insecure there).
      - The same option as O(eeforge.builder.ee_build#module:tls_verify); V(registry_tls_verify) is its old name.
    type: bool
    aliases: [registry_tls_verify]
  force:
    description:
      - With O(state=absent), delete the execution environment even when job templates, inventory sources, projects,
        organizations, workflow nodes or the C(DEFAULT_EXECUTION_ENVIRONMENT) setting use it (AWX sets them to null).
      - With O(items) and O(prune=true), delete the pruned execution environments even when they are used.
    type: bool
    default: false
  state:
    description:
      - V(present) creates or updates, V(absent) deletes.
    type: str
    choices: [present, absent]
    default: present
  items:
    description:
      - Many execution environments, each a dictionary of the options above (O(name) required), converged in one
        task. Cannot be combined with those options at the top level, except O(force) for O(prune).
      - Each item is planned before anything is written; a bad item fails the task with nothing changed.
      - The task authenticates once (see the notes), and in check mode writes nothing.
    type: list
    elements: dict
    suboptions:
      name:
        description: [Same as O(name).]
        type: str
        required: true
      new_name:
        description: [Same as O(new_name).]
        type: str
      image:
        description: [Same as O(image).]
        type: str
      pull:
        description: [Same as O(pull).]
        type: str
        choices: ['', always, missing, never]
      credential:
        description: [Same as O(credential).]
        type: str
      organization:
        description: [Same as O(organization).]
        type: str
      description:
        description: [Same as O(description).]
        type: str
      pin_digest:
        description: [Same as O(pin_digest).]
        type: bool
        default: false
      registry_username:
        description: [Same as O(registry_username).]
        type: str
      registry_password:
        description: [Same as O(registry_password).]
        type: str
      auth_file:
        description: [Same as O(auth_file).]
        type: path
        aliases: [registry_auth_file]
      tls_verify:
        description: [Same as O(tls_verify).]
        type: bool
        aliases: [registry_tls_verify]
      force:
        description:
          - Same as O(force), for this item with O(items[].state=absent).
        type: bool
        default: false
      state:
        description: [Same as O(state).]
        type: str
        choices: [present, absent]
        default: present
  prune:
    description:
      - With O(items), delete the execution environments that O(prune_prefix) and O(prune_organization) select
        (both when both are given) and that O(items) does not name. Managed execution environments are never pruned.
      - A pruned execution environment that is still used is refused, before anything is written, unless O(force=true).
    type: bool
    default: false
  prune_prefix:
    description:
      - Name prefix of the execution environments O(prune) may delete, for example V(team-a-).
    type: str
  prune_organization:
    description:
      - Organization (name or id) whose execution environments O(prune) may delete.
    type: str
extends_documentation_fragment:
  - eeforge.builder.awx
  - eeforge.builder.attributes
  - eeforge.builder.attributes.ACTIONGROUP_AWX
  - eeforge.builder.attributes.FULL_SUPPORT
notes:
  - Execution environments managed by AWX (such as the C(Control Plane Execution Environment)) only accept changes to
    O(pull); other changes fail before AWX is called.
  - O(pin_digest) needs C(skopeo) (or C(podman)) on the host the task runs on.
author:
  - eeforge contributors (@eeforge)
"""

EXAMPLES = r"""
- name: Register ee-aws, pinned to the digest its tag points at now
  eeforge.builder.awx_execution_environment:
    name: ee-aws
    image: registry.example.com/ee/aws:1.2
    pin_digest: true
    registry_username: "{{ registry_user }}"
    registry_password: "{{ registry_token }}"
    credential: registry.example.com
    organization: Platform
    pull: missing
  register: ee

- name: Roll back to the image registered before
  eeforge.builder.awx_execution_environment:
    name: ee-aws
    image: "{{ ee.previous_image }}"
    organization: Platform
  when: rollback | default(false)

- name: Delete an EE nobody uses any more
  eeforge.builder.awx_execution_environment:
    name: ee-old
    state: absent

- name: Converge the whole fleet of team A in one task, deleting its EEs that are no longer listed
  eeforge.builder.awx_execution_environment:
    items: "{{ team_a_ees | map('combine', {'organization': 'Team A', 'credential': 'registry.example.com'}) }}"
    prune: true
    prune_prefix: team-a-
  register: fleet
"""

RETURN = r"""
id:
  description: Id of the execution environment (of the deleted one with O(state=absent); null in check mode when it would be created).
  returned: always
  type: int
  sample: 7
url:
  description: API URL of the execution environment.
  returned: always
  type: str
  sample: https://awx.example.com/api/v2/execution_environments/7/
image:
  description: Image registered (after digest pinning).
  returned: when O(state=present)
  type: str
  sample: registry.example.com/ee/aws@sha256:5a3c...
previous_image:
  description: Image the execution environment had before this task (null when it was created).
  returned: when O(state=present)
  type: str
  sample: registry.example.com/ee/aws:1.1
digest:
  description: Manifest digest O(image) resolved to.
  returned: when O(pin_digest=true)
  type: str
  sample: sha256:5a3c0d7f0e2b9b4e8c6f3b2a1d0e9f8c7b6a5d4e3f2a1b0c9d8e7f6a5b4c3d2e
references:
  description:
    - Objects that use the execution environment (O(state=absent)).
    - C(type) is the AWX type (V(job_template), V(project), V(organization), V(workflow_job_template_node), V(setting)...),
      C(field) the field that points at the EE.
  returned: when O(state=absent) and the execution environment existed
  type: list
  elements: dict
  sample: [{"type": "job_template", "id": 11, "name": "deploy", "field": "execution_environment"}]
results:
  description:
    - With O(items), one result per item, in the order of O(items).
    - C(action) is V(create), V(update), V(delete) or V(none); C(image), C(previous_image) and C(digest) (with
      O(items[].pin_digest)) are as above, C(references) is returned for deleted items.
  returned: when O(items) is given
  type: list
  elements: dict
  sample: [{"name": "ee-aws", "action": "none", "changed": false, "id": 7, "image": "registry.example.com/ee/aws:1.2",
            "previous_image": "registry.example.com/ee/aws:1.2", "url": "https://awx.example.com/api/v2/execution_environments/7/"}]
pruned:
  description: With O(prune=true), the execution environments deleted (or, in check mode, that would be), with their references.
  returned: when O(items) is given
  type: list
  elements: dict
  sample: [{"name": "team-a-old", "id": 12, "references": []}]
applied:
  description:
    - With O(items), when a write fails after others were sent, the writes already done (the message names them too);
      running the task again sends the rest.
  returned: when a task with O(items) fails after some writes
  type: list
  elements: str
  sample: ["updated execution environment 'team-a-ee-aws'"]
"""

from ansible_collections.eeforge.builder.plugins.module_utils._awx_ee import (
    ENDPOINT,
    ITEM_ARGSPEC,
    ITEM_RULES,
    KIND,
    Lookups,
    checked_image,
    find_references,
    plan_absent,
    plan_present,
    result_of,
    run_bulk,
)
from ansible_collections.eeforge.builder.plugins.module_utils._awx_module import AwxModule


def ensure_absent(module, existing):
    if existing is None:
        module.set_diff(dict(), dict())
        module.exit_with(None)
    with module.failing("delete", KIND, existing["name"]):
        refs = [] if existing.get("managed") else find_references(module, [existing["id"]])[existing["id"]]
    plan = module.apply(plan_absent(module, existing, refs, module.params["force"]), ENDPOINT, KIND)
    module.set_diff(plan.before, dict())
    module.exit_with(existing, references=refs)


def ensure_present(module, lookups):
    params = module.params
    image, digest = checked_image(module, params, params["name"])
    with module.failing("look up", KIND, params["name"]):
        existing = lookups.existing(params["name"], params["new_name"])
    plan = module.apply(plan_present(module, params, existing, lookups, image, digest), ENDPOINT, KIND)
    module.set_diff(plan.before, plan.after)
    result = result_of(module, plan, params["pin_digest"])
    extra = dict(image=result["image"], previous_image=result["previous_image"])
    if params["pin_digest"]:
        extra["digest"] = result["digest"]
    module.exit_with(plan.obj, **extra)


def main():
    argument_spec = dict(ITEM_ARGSPEC)
    argument_spec["name"] = dict(ITEM_ARGSPEC["name"], required=False)
    items_spec = dict(type="list", elements="dict", options=ITEM_ARGSPEC)
    items_spec.update(ITEM_RULES)
    argument_spec.update(
        items=items_spec,
        prune=dict(type="bool", default=False),
        prune_prefix=dict(type="str"),
        prune_organization=dict(type="str"),
    )
    module = AwxModule(
        argument_spec=argument_spec,
        required_one_of=[("name", "items")],
        mutually_exclusive=[("items", option) for option in ITEM_ARGSPEC if option != "force"]
        + ITEM_RULES["mutually_exclusive"],
        required_if=ITEM_RULES["required_if"] + [("prune", True, ("items",)),
                                                 ("prune", True, ("prune_prefix", "prune_organization"), True)],
        required_together=ITEM_RULES["required_together"],
    )
    if module.params["items"] is not None:
        try:
            run_bulk(module)
        finally:
            module.release_token()
    lookups = Lookups(module.client)
    if module.params["state"] == "absent":
        with module.failing("look up", KIND, module.params["name"]):
            existing = lookups.existing(module.params["name"], module.params["new_name"])
        ensure_absent(module, existing)
    ensure_present(module, lookups)


if __name__ == "__main__":
    main()
