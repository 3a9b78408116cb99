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
options:
  name:
    description:
      - Name of the execution environment (unique across the AWX server).
    type: str
    required: true
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
      - The registry is read with O(registry_username)/O(registry_password) or O(registry_auth_file) (AWX never
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
  registry_auth_file:
    description:
      - Path of a podman C(auth.json) or docker C(config.json) to read the registry with when O(pin_digest=true).
    type: path
  registry_tls_verify:
    description:
      - Verify the registry's TLS certificate when O(pin_digest=true).
      - When omitted, C(registries.conf) decides (verification is on unless the registry is marked insecure there).
    type: bool
  force:
    description:
      - With O(state=absent), delete the execution environment even when job templates, projects, organizations,
        workflow nodes or the C(DEFAULT_EXECUTION_ENVIRONMENT) setting use it (AWX sets them to null).
    type: bool
    default: false
  state:
    description:
      - V(present) creates or updates, V(absent) deletes.
    type: str
    choices: [present, absent]
    default: present
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
"""

from ansible_collections.eeforge.builder.plugins.module_utils._awx_client import AwxError, same_ref
from ansible_collections.eeforge.builder.plugins.module_utils._awx_compare import changed_fields
from ansible_collections.eeforge.builder.plugins.module_utils._awx_module import AwxModule
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import ImageRefError, split_ref
from ansible_collections.eeforge.builder.plugins.module_utils._registry import RegistryError, resolve_digest

KIND = "execution environment"
ENDPOINT = "execution_environments/"


def _summary(obj, field):
    return ((obj or {}).get("summary_fields") or {}).get(field) or {}


def view(obj, names=None):
    """The managed fields of an EE as the diff shows them; relations by name (``names`` overrides)."""
    if obj is None:
        return {}
    names = names or {}
    result = dict(name=obj.get("name"), image=obj.get("image"), pull=obj.get("pull") or "",
                  description=obj.get("description") or "")
    for field in ("organization", "credential"):
        result[field] = names[field] if field in names else _summary(obj, field).get("name")
    return result


def validate_image(module, name, image):
    """Parse the image reference the way podman does; fail (before any AWX call) when it is not valid."""
    try:
        return split_ref(image, require_tag="@" not in image)
    except ImageRefError as error:
        module.fail_action("register", KIND, name, str(error))


def pinned_image(module, name, image, ref):
    """``(image@digest, digest)`` for ``image``, resolved in the registry."""
    if ref.digest:
        return image, ref.digest
    params = module.params
    try:
        digest = resolve_digest(module, str(ref), username=params["registry_username"],
                                password=params["registry_password"], auth_file=params["registry_auth_file"],
                                tls_verify=params["registry_tls_verify"])
    except RegistryError as error:
        cause = str(error)
        if cause.startswith("Failed to "):
            cause = "could not " + cause[len("Failed to "):]
        module.fail_action("pin", KIND, name, cause)
    if not digest:
        module.fail_action("pin", KIND, name, "image '%s' does not exist in its registry" % image,
                           "Push it first, or check the repository and tag")
    # The name as the task wrote it (no docker.io/library/ added), without the tag.
    base = image[:-(len(ref.tag) + 1)] if ref.tag and image.endswith(":" + ref.tag) else image
    return "%s@%s" % (base, digest), digest


def find_existing(module, name, new_name):
    with module.failing("look up", KIND, name):
        found = module.client.find(ENDPOINT, name)
        if not found and new_name:
            found = module.client.find(ENDPOINT, new_name)
    return found[0] if found else None


def resolve_relations(module, existing, name):
    """``{'organization': id|None, 'credential': id|None}`` for the fields that differ, plus names for the diff."""
    params = module.params
    wanted, names = {}, {}
    org_value = params["organization"]
    org_name = _summary(existing, "organization").get("name")
    org_id = existing.get("organization") if existing else None
    verb = "update" if existing else "create"
    with module.failing(verb, KIND, name):
        if existing is None or not same_ref(org_value, org_id, org_name):
            org = module.client.resolve("organizations/", org_value, "organization") if org_value else None
            wanted["organization"] = org["id"] if org else None
            names["organization"] = org["name"] if org else None
            org_id = wanted["organization"]
        cred_value = params["credential"]
        if cred_value is not None:
            cred = _summary(existing, "credential")
            current_id = existing.get("credential") if existing else None
            if cred_value == "":
                wanted["credential"] = None
                names["credential"] = None
            elif existing is None or not same_ref(cred_value, current_id, cred.get("name")):
                found = find_credential(module, cred_value, org_id)
                wanted["credential"] = found["id"]
                names["credential"] = found["name"]
    return wanted, names


def find_credential(module, value, org_id):
    """The Container Registry credential named (or numbered) ``value``; the one in ``org_id`` if several."""
    def is_registry(obj):
        return obj.get("kind") == "registry"
    client = module.client
    if value.isdigit() or org_id is None:
        return client.resolve("credentials/", value, "Container Registry credential", match=is_registry)
    candidates = [obj for obj in client.find("credentials/", value) if is_registry(obj)]
    in_org = [obj for obj in candidates if obj.get("organization") == org_id]
    if len(in_org) == 1 or len(candidates) == 1:
        return (in_org or candidates)[0]
    return client.resolve("credentials/", value, "Container Registry credential", match=is_registry)


def find_references(module, ee):
    """What points at ``ee``: templates, project and organization defaults, workflow nodes, the global default."""
    client, ee_id, refs = module.client, ee["id"], []

    def add(items, field, kind=None):
        for item in items:
            if item.get(field, ee_id) == ee_id:
                refs.append(dict(type=kind or item.get("type"), id=item.get("id"),
                                 name=item.get("name") or item.get("identifier"), field=field))

    related = (ee.get("related") or {}).get("unified_job_templates") or "%s%d/unified_job_templates/" % (ENDPOINT, ee_id)
    add(client.list(related), "execution_environment")
    add(client.list("projects/", default_environment=ee_id), "default_environment", "project")
    add(client.list("organizations/", default_environment=ee_id), "default_environment", "organization")
    add(client.list("workflow_job_template_nodes/", execution_environment=ee_id), "execution_environment",
        "workflow_job_template_node")
    try:
        default = client.get("settings/system/").get("DEFAULT_EXECUTION_ENVIRONMENT")
    except AwxError as error:
        if error.status != 403:
            raise
        module.warn("Could not read DEFAULT_EXECUTION_ENVIRONMENT (%s); only a superuser may read system settings."
                    % error.cause)
    else:
        if default == ee_id:
            refs.append(dict(type="setting", id=None, name="DEFAULT_EXECUTION_ENVIRONMENT", field="value"))
    return refs


def ensure_absent(module, existing):
    if existing is None:
        module.set_diff(dict(), dict())
        module.exit_with(None)
    if existing.get("managed"):
        module.fail_action("delete", KIND, existing["name"], "it is managed by AWX",
                           "AWX recreates managed execution environments; leave it in place")
    with module.failing("delete", KIND, existing["name"]):
        refs = find_references(module, existing)
    if refs and not module.params["force"]:
        users = ", ".join("%s '%s' (%s)" % (ref["type"], ref["name"], ref["field"]) for ref in refs)
        module.fail_action("delete", KIND, existing["name"],
                           "it is used by %s, which AWX would silently set to null" % users,
                           "Point them at another execution environment first, or set force: true",
                           references=refs)
    module.remove(existing, KIND, existing["name"])
    module.set_diff(view(existing), dict())
    module.exit_with(existing, references=refs)


def checked_image(module, name):
    """``(image, digest)`` to register: validated and, with pin_digest, pinned (before AWX is called)."""
    image = module.params["image"]
    if image is None:
        return None, None
    ref = validate_image(module, name, image)
    if module.params["pin_digest"]:
        return pinned_image(module, name, image, ref)
    return image, None


def ensure_present(module, name, existing, image, digest):
    params = module.params
    wanted = dict((field, params[field]) for field in ("pull", "description") if params[field] is not None)
    if image is not None:
        wanted["image"] = image
    elif existing is None:
        module.fail_action("create", KIND, name, "image is not set", "Give the image reference, e.g. registry/ee:1.0")
    if existing is None or params["new_name"]:
        wanted["name"] = params["new_name"] or name
    relations, names = resolve_relations(module, existing, name)
    wanted.update(relations)

    if existing is None:
        obj = module.create(ENDPOINT, wanted, KIND, wanted["name"])
        after = view(obj or wanted, names)
    else:
        payload = changed_fields(existing, wanted)
        not_pull = sorted(set(payload) - set(["pull"]))
        if existing.get("managed") and not_pull:
            module.fail_action("update", KIND, existing["name"],
                               "it is managed by AWX, which only lets 'pull' change (not %s)" % ", ".join(not_pull),
                               "Change only pull, or register the image as another execution environment")
        obj = module.update(existing, payload, KIND, existing["name"])
        after = view(obj, names)
    module.set_diff(view(existing), after)
    extra = dict(image=(obj or wanted).get("image"), previous_image=existing.get("image") if existing else None)
    if params["pin_digest"]:
        extra["digest"] = digest
    module.exit_with(obj, **extra)


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        new_name=dict(type="str"),
        image=dict(type="str"),
        pull=dict(type="str", choices=["", "always", "missing", "never"]),
        credential=dict(type="str"),
        organization=dict(type="str"),
        description=dict(type="str"),
        pin_digest=dict(type="bool", default=False),
        registry_username=dict(type="str"),
        registry_password=dict(type="str", no_log=True),
        registry_auth_file=dict(type="path"),
        registry_tls_verify=dict(type="bool"),
        force=dict(type="bool", default=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AwxModule(
        argument_spec=argument_spec,
        required_if=[("pin_digest", True, ("image",))],
        required_together=[("registry_username", "registry_password")],
        mutually_exclusive=[("registry_password", "registry_auth_file")],
    )
    name = module.params["name"]
    if module.params["state"] == "absent":
        ensure_absent(module, find_existing(module, name, module.params["new_name"]))
    image, digest = checked_image(module, name)
    ensure_present(module, name, find_existing(module, name, module.params["new_name"]), image, digest)


if __name__ == "__main__":
    main()
