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
  - With O(items), many credentials are converged in one task, with one list request (C(name__in)) for all of them
    and writes only for those that change.
options:
  name:
    description:
      - Name of the credential. Names are unique per organization and credential type.
      - Required unless O(items) is given.
    type: str
  organization:
    description:
      - Organization (name or id) that owns the credential.
      - Required unless O(items) is given.
    type: str
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
  items:
    description:
      - Many credentials, each a dictionary of the options above (O(name) and O(organization) required), converged
        in one task. Cannot be combined with those options at the top level.
      - Each item is planned before anything is written; a bad item fails the task with nothing changed.
      - The task authenticates once (see the notes), and in check mode writes nothing.
    type: list
    elements: dict
    suboptions:
      name:
        description: [Same as O(name).]
        type: str
        required: true
      organization:
        description: [Same as O(organization).]
        type: str
        required: true
      description:
        description: [Same as O(description).]
        type: str
      host:
        description: [Same as O(host).]
        type: str
      username:
        description: [Same as O(username).]
        type: str
      password:
        description: [Same as O(password).]
        type: str
      verify_ssl:
        description: [Same as O(verify_ssl).]
        type: bool
      update_password:
        description: [Same as O(update_password).]
        type: str
        choices: [on_create, always]
        default: on_create
      state:
        description: [Same as O(state).]
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

- name: All registry credentials of the platform team in one task
  eeforge.builder.awx_registry_credential:
    items:
      - name: registry.example.com
        organization: Platform
        host: registry.example.com
        username: ee-puller
        password: "{{ registry_token }}"
      - name: quay.io
        organization: Platform
        host: quay.io
        username: "{{ quay_user }}"
        password: "{{ quay_token }}"
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
results:
  description:
    - With O(items), one result per item, in the order of O(items), with C(name), C(organization), C(action)
      (V(create), V(update), V(delete) or V(none)), C(changed), C(id), C(url) and, for present items,
      C(credential_type), C(changed_inputs) and C(password_updated) as above.
  returned: when O(items) is given
  type: list
  elements: dict
  sample: [{"name": "quay.io", "organization": "Platform", "action": "none", "changed": false, "id": 3,
            "url": "https://awx.example.com/api/v2/credentials/3/", "credential_type": 18, "changed_inputs": [],
            "password_updated": false}]
applied:
  description:
    - With O(items), when a write fails after others were sent, the writes already done (the message names them too);
      running the task again sends the rest.
  returned: when a task with O(items) fails after some writes
  type: list
  elements: str
  sample: ["created registry credential 'quay.io'"]
"""

from ansible_collections.eeforge.builder.plugins.module_utils._awx_credential import (
    ENDPOINT,
    ITEM_ARGSPEC,
    KIND,
    Lookups,
    extra_result,
    plan,
    run_bulk,
)
from ansible_collections.eeforge.builder.plugins.module_utils._awx_module import AwxModule


def main():
    argument_spec = dict(ITEM_ARGSPEC)
    argument_spec["name"] = dict(ITEM_ARGSPEC["name"], required=False)
    argument_spec["organization"] = dict(ITEM_ARGSPEC["organization"], required=False)
    argument_spec["items"] = dict(type="list", elements="dict", options=ITEM_ARGSPEC)
    module = AwxModule(
        argument_spec=argument_spec,
        required_one_of=[("name", "items")],
        required_together=[("name", "organization")],
        mutually_exclusive=[("items", option) for option in ITEM_ARGSPEC],
    )
    if module.params["items"] is not None:
        try:
            run_bulk(module)
        finally:
            module.release_token()
    params = module.params
    lookups = Lookups(module.client)
    with module.failing("look up", KIND, params["name"]):
        existing = lookups.existing(params["name"], params["organization"])
    plan_ = module.apply(plan(module, params, existing, lookups), ENDPOINT, KIND)
    module.set_diff(plan_.before, plan_.after)
    if params["state"] == "absent":
        module.exit_with(existing)
    module.exit_with(plan_.obj, **extra_result(plan_))


if __name__ == "__main__":
    main()
