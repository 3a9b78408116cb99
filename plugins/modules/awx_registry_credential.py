#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: awx_registry_credential
short_description: Manage a Container Registry credential in AWX without losing its stored secrets
version_added: 0.1.0
description:
  - Creates, updates and deletes credentials of AWX's C(Container Registry) type, the credential an execution
    environment uses to pull its image.
  - The credential type is found by its namespace (V(registry)), never by a fixed id (it differs between installs).
  - Idempotent; a re-run sends no write and reports C(changed=false), because the stored password (which AWX never
    shows) is only sent when O(update_password=always) or when the credential has none.
  - An update always sends every input, with AWX's C($encrypted$) placeholder for a stored password that is kept,
    because AWX replaces the whole C(inputs) dictionary on update; changing only O(host) would otherwise erase the
    user name and password.
  - Required inputs (O(host)) are checked before AWX is called; AWX itself accepts a credential without them and
    fails only when a job starts.
options:
  name:
    description:
      - Name of the credential. Names are unique per organization and credential type.
    type: str
    required: true
  organization:
    description:
      - Organization (name or id) that owns the credential.
    type: str
    required: true
  description:
    description:
      - Description; when omitted, the current one is kept.
    type: str
  host:
    description:
      - Registry host name (the C(Authentication URL) input), for example V(registry.example.com:5000).
      - Required to create the credential; when omitted, the current value is kept.
    type: str
  username:
    description:
      - User name on the registry; when omitted, the current value is kept.
    type: str
  password:
    description:
      - Password or token for O(username). AWX stores it encrypted and never shows it again.
      - When omitted, the stored password is kept.
    type: str
  verify_ssl:
    description:
      - Verify the registry's TLS certificate when AWX pulls images; when omitted, the current value is kept
        (AWX treats an unset value as V(true)).
    type: bool
  update_password:
    description:
      - V(on_create) sets O(password) only when the credential has no stored password (it is new, or its password was
        lost), so a re-run reports C(changed=false).
      - V(always) sends O(password) on every run (AWX cannot tell whether it differs), so the task always reports a change.
    type: str
    choices: [on_create, always]
    default: on_create
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
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The password shows as C($encrypted$) when it is kept and as C(********) when this task sets it.
author:
  - eeforge contributors (@eeforge)
"""

EXAMPLES = r"""
- name: Registry credential for registry.example.com
  eeforge.builder.awx_registry_credential:
    name: registry.example.com
    organization: Platform
    host: registry.example.com
    username: ee-puller
    password: "{{ registry_token }}"
  register: registry_credential

- name: Move the credential to a new registry host (user name and password are kept)
  eeforge.builder.awx_registry_credential:
    name: registry.example.com
    organization: Platform
    host: registry2.example.com

- name: Rotate the token
  eeforge.builder.awx_registry_credential:
    name: registry.example.com
    organization: Platform
    password: "{{ new_registry_token }}"
    update_password: always
"""

RETURN = r"""
id:
  description: Id of the credential (of the deleted one with O(state=absent); null in check mode when it would be created).
  returned: always
  type: int
  sample: 3
url:
  description: API URL of the credential.
  returned: always
  type: str
  sample: https://awx.example.com/api/v2/credentials/3/
credential_type:
  description: Id of the Container Registry credential type in this AWX.
  returned: when O(state=present)
  type: int
  sample: 18
changed_inputs:
  description: Names of the inputs other than the password that this task set or changed.
  returned: when O(state=present)
  type: list
  elements: str
  sample: [host]
password_updated:
  description: Whether this task sent O(password) to AWX (set on create, replaced with O(update_password=always)).
  returned: when O(state=present)
  type: bool
  sample: false
"""

from ansible_collections.eeforge.builder.plugins.module_utils._awx_client import same_ref
from ansible_collections.eeforge.builder.plugins.module_utils._awx_compare import (
    changed_fields,
    mask_secrets,
    merge_inputs,
)
from ansible_collections.eeforge.builder.plugins.module_utils._awx_module import AwxModule

KIND = "registry credential"
ENDPOINT = "credentials/"
TYPE_NAMESPACE = "registry"
SECRET_INPUTS = ("password",)
REQUIRED_INPUTS = ("host",)


def view(obj, inputs=None, changed_secrets=()):
    if obj is None:
        return {}
    org = ((obj.get("summary_fields") or {}).get("organization") or {}).get("name")
    inputs = obj.get("inputs") if inputs is None else inputs
    return dict(name=obj.get("name"), organization=org, description=obj.get("description") or "",
                inputs=mask_secrets(inputs or {}, SECRET_INPUTS, changed_secrets))


def find_existing(module, name, organization):
    """The registry credential ``name`` of ``organization``: one ``?name=`` GET, matched by kind and organization."""
    def matches(obj):
        org = (obj.get("summary_fields") or {}).get("organization") or {}
        return obj.get("kind") == TYPE_NAMESPACE and same_ref(organization, obj.get("organization"), org.get("name"))
    with module.failing("look up", KIND, name):
        found = [obj for obj in module.client.find(ENDPOINT, name) if matches(obj)]
    return found[0] if found else None


def registry_type(module, name):
    """The Container Registry credential type, looked up by namespace (then kind), never by id."""
    with module.failing("create", KIND, name):
        for query in (dict(namespace=TYPE_NAMESPACE), dict(kind=TYPE_NAMESPACE)):
            for obj in module.client.list("credential_types/", **query):
                if obj.get("namespace") == TYPE_NAMESPACE or (obj.get("kind") == TYPE_NAMESPACE and obj.get("managed")):
                    return obj
    module.fail_action("create", KIND, name, "AWX has no Container Registry credential type (namespace 'registry')",
                       "Check that controller_host is AWX 18 or later")


def check_required(module, name, inputs, verb):
    missing = [key for key in REQUIRED_INPUTS if inputs.get(key) in (None, "")]
    if missing:
        module.fail_action(verb, KIND, name, "input %s is not set" % ", ".join(missing),
                           "Set %s (AWX would accept the credential but every job using it would fail)"
                           % " and ".join(missing))


def given_inputs(params):
    return dict((key, params[key]) for key in ("host", "username", "password", "verify_ssl"))


def ensure_present(module, name, existing):
    params = module.params
    given = given_inputs(params)
    if existing is None:
        inputs, changed = merge_inputs(None, given, SECRET_INPUTS, True)
        check_required(module, name, inputs, "create")
        cred_type = registry_type(module, name)
        with module.failing("create", KIND, name):
            org = module.client.resolve("organizations/", params["organization"], "organization")
        payload = dict(name=name, organization=org["id"], credential_type=cred_type["id"], inputs=inputs)
        if params["description"] is not None:
            payload["description"] = params["description"]
        obj = module.create(ENDPOINT, payload, KIND, name)
        after = view(dict(payload, summary_fields=dict(organization=dict(name=org["name"]))), inputs,
                     [key for key in changed if key in SECRET_INPUTS])
        type_id = cred_type["id"]
    else:
        inputs, changed = merge_inputs(existing.get("inputs"), given, SECRET_INPUTS,
                                       params["update_password"] == "always")
        check_required(module, name, inputs, "update")
        payload = {}
        if params["description"] is not None:
            payload = changed_fields(existing, dict(description=params["description"]))
        if changed:
            payload["inputs"] = inputs
        obj = module.update(existing, payload, KIND, name)
        after = view(obj, inputs, [key for key in changed if key in SECRET_INPUTS])
        type_id = existing.get("credential_type")
    module.set_diff(view(existing), after)
    module.exit_with(obj, credential_type=type_id, changed_inputs=[key for key in changed if key not in SECRET_INPUTS],
                     password_updated="password" in changed)


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        organization=dict(type="str", required=True),
        description=dict(type="str"),
        host=dict(type="str"),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        verify_ssl=dict(type="bool"),
        update_password=dict(type="str", default="on_create", choices=["on_create", "always"], no_log=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AwxModule(argument_spec=argument_spec)
    name = module.params["name"]
    existing = find_existing(module, name, module.params["organization"])
    if module.params["state"] == "absent":
        module.remove(existing, KIND, name)
        module.set_diff(view(existing), {})
        module.exit_with(existing)
    ensure_present(module, name, existing)


if __name__ == "__main__":
    main()
