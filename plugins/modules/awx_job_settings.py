#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: awx_job_settings
short_description: Add or remove job container options and exposed host paths in AWX, keeping the others
version_added: 0.1.0
description:
  - Ensures options are in (or out of) AWX's C(DEFAULT_CONTAINER_RUN_OPTIONS) (the C(podman run) options of every
    job container) and host paths in (or out of) C(AWX_ISOLATION_SHOW_PATHS), without dropping what is already there.
  - AWX replaces a list setting as a whole on PATCH, so awx.awx's C(settings) module must be given the whole list,
    and a task that adds one option removes the options another team added. This module reads the current list,
    merges, and sends the merged list only when it differs.
  - "C(podman run) options are understood: an option podman takes once (C(--network)) replaces the one there (in
    place); a repeatable option (C(--device), C(--security-opt)) is added unless the same value is there; an option
    keyed by a name (C(--ulimit nofile=...), C(--env NAME=...), C(--sysctl)) replaces the value of that name."
options:
  container_run_options:
    description:
      - C(podman run) options, one per item, as V(--device=/dev/fuse), V(--device /dev/fuse) or V(--privileged), or
        as AWX itself stores and returns them, the option and its value as two items (V([--network,
        slirp4netns:enable_ipv6=true])); the spellings can be mixed.
      - They are sent as AWX writes them, the option and its value as two items.
    type: list
    elements: str
  isolation_show_paths:
    description:
      - Host paths exposed to job containers, as V(/host/path[:/container/path[:options]]).
      - An entry replaces the one mounted at the same container path.
    type: list
    elements: str
  state:
    description:
      - V(present) adds the options and paths (or updates them), V(absent) removes them.
      - With V(absent), an option named without value (V(--network)) removes that option whatever its value.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - eeforge.builder.awx
  - eeforge.builder.attributes
  - eeforge.builder.attributes.ACTIONGROUP_AWX
  - eeforge.builder.attributes.FULL_SUPPORT
notes:
  - Changing job settings needs a superuser. Both settings are in C(/api/v2/settings/jobs/).
  - Another client that changes the same list between this module's read and its write can be overwritten; AWX has
    no conditional update for settings.
seealso:
  - name: Podman in Podman privileges
    description: Which options the builder EE needs, and why (docs/pinp.md of this collection).
    link: https://github.com/eeforge/builder/blob/main/docs/pinp.md
author:
  - eeforge contributors (@eeforge)
"""

EXAMPLES = r"""
- name: Let job containers reach a registry on the execution node's loopback (10.0.2.2)
  eeforge.builder.awx_job_settings:
    container_run_options:
      - --network=slirp4netns:enable_ipv6=true,allow_host_loopback=true

- name: The same, written as AWX returns the setting (option and value as two items)
  eeforge.builder.awx_job_settings:
    container_run_options:
      - --network
      - slirp4netns:enable_ipv6=true,allow_host_loopback=true

- name: Expose the build cache to jobs
  eeforge.builder.awx_job_settings:
    isolation_show_paths:
      - /var/cache/eeforge:/var/cache/eeforge:z

- name: Withdraw /dev/fuse
  eeforge.builder.awx_job_settings:
    container_run_options:
      - --device=/dev/fuse
    state: absent
"""

RETURN = r"""
container_run_options:
  description: C(DEFAULT_CONTAINER_RUN_OPTIONS) after the task (predicted in check mode).
  returned: always
  type: list
  elements: str
  sample: ["--network", "slirp4netns:enable_ipv6=true", "--device", "/dev/fuse"]
isolation_show_paths:
  description: C(AWX_ISOLATION_SHOW_PATHS) after the task (predicted in check mode).
  returned: always
  type: list
  elements: str
  sample: ["/var/cache/eeforge:/var/cache/eeforge:z"]
previous:
  description: Both settings as they were before the task.
  returned: always
  type: dict
  sample: {"container_run_options": ["--network", "slirp4netns:enable_ipv6=true"], "isolation_show_paths": []}
id:
  description: Always null (settings have no id); returned like every AWX module of this collection returns it.
  returned: always
  type: int
  sample: null
url:
  description: API URL of the job settings.
  returned: always
  type: str
  sample: https://awx.example.com/api/v2/settings/jobs/
"""

from ansible_collections.eeforge.builder.plugins.module_utils._awx_job_settings import (
    OptionError,
    merge_run_options,
    merge_show_paths,
)
from ansible_collections.eeforge.builder.plugins.module_utils._awx_module import AwxModule

ENDPOINT = "settings/jobs/"
KIND = "AWX setting"
SETTINGS = (
    # option, setting, merge function
    ("container_run_options", "DEFAULT_CONTAINER_RUN_OPTIONS", merge_run_options),
    ("isolation_show_paths", "AWX_ISOLATION_SHOW_PATHS", merge_show_paths),
)


def main():
    module = AwxModule(
        argument_spec=dict(
            container_run_options=dict(type="list", elements="str"),
            isolation_show_paths=dict(type="list", elements="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_one_of=[("container_run_options", "isolation_show_paths")],
    )
    names = ", ".join(setting for option, setting, merge in SETTINGS if module.params[option] is not None)
    with module.failing("read", KIND, names):
        current = module.client.get(ENDPOINT)
    current["url"] = module.client.path(ENDPOINT)

    payload = {}
    before = {}
    after = {}
    for option, setting, merge in SETTINGS:
        before[option] = list(current.get(setting) or [])
        after[option] = before[option]
        if module.params[option] is None:
            continue
        try:
            after[option] = merge(before[option], module.params[option], module.params["state"])
        except OptionError as error:
            module.fail_action("update", KIND, setting, str(error), "Fix %s" % option)
        if after[option] != before[option]:
            payload[setting] = after[option]

    module.update(current, payload, KIND, names)
    module.set_diff(dict((setting, before[option]) for option, setting, merge in SETTINGS),
                    dict((setting, after[option]) for option, setting, merge in SETTINGS))
    module.exit_with(current, previous=before, **after)


if __name__ == "__main__":
    main()
