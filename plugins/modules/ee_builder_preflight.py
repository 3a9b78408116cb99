#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ee_builder_preflight
short_description: Find the podman storage driver that can build images here (Podman in Podman)
version_added: 0.1.0
description:
  - Checks, before any build, that podman can build container images where the task runs, for example
    inside the builder execution environment that AWX starts for a job, and picks the storage driver that
    works with the privileges the job was given.
  - Probes instead of guessing. It first creates a user namespace (C(unshare(CLONE_NEWUSER)) in a child
    process), which podman needs inside an AWX job. Then each candidate of O(storage_drivers) is tried for real in a private,
    temporary store next to the real one (same filesystem), first a C(podman import) of a tiny layer with a file
    owned by uid 1000 (this needs a user namespace that maps 65536 ids), then a C(podman build) with one
    C(COPY) on top of it (this mounts the layer with the driver and commits a new one). The first driver
    that works is chosen.
  - V(overlay) is the kernel's native overlay. Inside an AWX job (root without C(CAP_SYS_ADMIN), so podman
    runs rootless) it needs no extra container option on kernel 5.13 or later, as long as
    C(/var/lib/containers) is a volume (the builder EE declares it). When the kernel refuses it (for example
    the store is on overlayfs), rootless podman quietly mounts with fuse-overlayfs instead; the module
    detects that and counts native overlay as refused.
  - V(fuse-overlayfs) needs a usable C(/dev/fuse) (C(--device /dev/fuse) in AWX's Container Run Options).
  - V(vfs) needs nothing but copies every layer, so builds are several times slower.
  - Writes a C(containers-storage.conf) for the chosen driver to O(storage_conf) and returns the environment
    (C(CONTAINERS_STORAGE_CONF), C(BUILDAH_ISOLATION)) to give the build tasks.
  - When nothing can build (no podman, no user namespace, no usable storage), fails with one line naming the
    missing piece and the AWX setting that adds it.
author:
  - eeforge contributors (@eeforge)
extends_documentation_fragment:
  - eeforge.builder.attributes
attributes:
  check_mode:
    support: full
    details:
      - The probes run in check mode too (they only use a private temporary store); O(storage_conf) is not written,
        and when it would change RV(environment) does not name it.
  diff_mode:
    support: full
    details:
      - Shows the old and new content of O(storage_conf).
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details:
      - Linux with podman.
options:
  storage_drivers:
    description:
      - The storage drivers to try, in order of preference. The first one that works is chosen.
      - Leave out a driver to forbid it, for example V([overlay]) to fail rather than build slowly.
      - When the store at O(graphroot) already holds layers of the V(vfs) driver, V(vfs) is tried first, so
        an existing store (a cache kept on a host path) is not made unreadable.
    type: list
    elements: str
    choices: [overlay, fuse-overlayfs, vfs]
    default: [overlay, fuse-overlayfs, vfs]
  graphroot:
    description:
      - Where podman keeps images and layers. The probes run in a temporary directory beside it, on the
        same filesystem.
      - Defaults to the C(graphroot) of the storage.conf podman reads here, else podman's default for the user
        (V(/var/lib/containers/storage) for root).
    type: path
  runroot:
    description:
      - Where podman keeps its runtime state. Defaults like O(graphroot).
    type: path
  storage_conf:
    description:
      - Path of the C(containers-storage.conf) to write for the chosen driver. Its parent directory is
        created when missing.
      - Pass RV(environment) to the tasks that build (C(environment:) keyword) so that podman reads it.
      - When not set, nothing is written and RV(environment) holds only C(BUILDAH_ISOLATION).
    type: path
  additional_image_stores:
    description:
      - Read-only image stores to add to the configuration (C(additionalimagestores)), for example a host
        path exposed to AWX jobs that holds base images, so that they are not pulled by every job.
    type: list
    elements: path
    default: []
  container_runtime:
    description:
      - The podman binary to use, a name looked up in C(PATH) or an absolute path (the same option as
        M(eeforge.builder.ee_build)'s, which takes the name only).
      - Only podman is supported.
    type: str
    default: podman
    aliases: [executable]
  timeout:
    description:
      - Seconds each probe command may take.
    type: int
    default: 120
  platforms:
    description:
      - Platforms the builds will target (M(eeforge.builder.ee_build)'s C(platforms)), for example V(linux/arm64).
      - For each one of another architecture than this host's, a tiny program of that architecture is run (inside an
        AWX job binfmt_misc cannot be read, but what it registered on the host works there). Without emulation the
        module fails in one line naming binfmt_misc and qemu-user-static and what to do on a podman execution node
        and for a container group.
    type: list
    elements: str
    default: []
notes:
  - The builder EE (C(execution-environment.yaml) at the root of this collection) sets up what the probes need
    inside an AWX job; see the collection's docs/pinp.md for the privileges on podman execution nodes and
    Kubernetes container groups.
seealso:
  - module: eeforge.builder.ee_build
  - name: Podman in Podman privileges
    description: What each storage driver needs on AWX podman nodes and Kubernetes container groups, and why.
    link: https://github.com/eeforge/builder/blob/main/docs/pinp.md
"""

EXAMPLES = r"""
- name: Find the storage driver this job can build with
  eeforge.builder.ee_builder_preflight:
    storage_conf: /tmp/eeforge-storage.conf
  register: preflight

- name: Build with it
  eeforge.builder.ee_build:
    definition_file: execution-environment.yml
    tags: [registry.example.com/ee/aws:1.0]
  environment: "{{ preflight.environment }}"

- name: Refuse the slow drivers
  eeforge.builder.ee_builder_preflight:
    storage_drivers: [overlay]
    storage_conf: /tmp/eeforge-storage.conf
"""

RETURN = r"""
storage_driver:
  description: The chosen driver.
  returned: success
  type: str
  sample: overlay
reason:
  description: Why this driver was chosen, with the reason each earlier candidate was refused.
  returned: success
  type: str
  sample: "native overlay mounts work in this user namespace (kernel 6.8.0): no extra privilege needed"
probes:
  description: Each driver tried, in order, whether it worked, why not, and how long the probe took.
  returned: always
  type: list
  elements: dict
  sample:
    - driver: overlay
      usable: false
      reason: "'overlay' is not supported over overlayfs, a mount_program is required"
      seconds: 0.41
    - driver: fuse-overlayfs
      usable: true
      reason: native overlay was refused; /dev/fuse is usable, so fuse-overlayfs mounts the layers
      seconds: 1.2
storage_conf:
  description: Path of the storage configuration written (or that would be written in check mode).
  returned: when O(storage_conf) is set
  type: str
  sample: /tmp/eeforge-storage.conf
storage_conf_content:
  description: The storage configuration for the chosen driver.
  returned: success
  type: str
platforms:
  description: Each of O(platforms) and how this host runs it, V(native) or V(emulated).
  returned: success
  type: dict
  sample: {"linux/amd64": native, "linux/arm64": emulated}
isolation:
  description:
    - Buildah isolation for C(RUN) steps. V(chroot) where podman runs without real root inside a container
      (an AWX job), since a nested OCI runtime cannot mount C(/proc) there.
  returned: success
  type: str
  sample: chroot
environment:
  description: Environment variables for the build tasks.
  returned: success
  type: dict
  sample:
    CONTAINERS_STORAGE_CONF: /tmp/eeforge-storage.conf
    BUILDAH_ISOLATION: chroot
graphroot:
  description: The image store the configuration points at.
  returned: always
  type: str
  sample: /var/lib/containers/storage
facts:
  description:
    - What the process was given, as found before probing.
    - C(rootless) is true without real root (no C(CAP_SYS_ADMIN)), which is the case of an AWX job run with
      C(--user=root) and no C(--privileged).
  returned: always
  type: dict
  sample:
    in_container: true
    rootless: true
    cap_sys_admin: false
    no_new_privs: false
    mapped_uids: 4294967295
    user_namespace: usable
    dev_fuse: missing
    store_filesystem: ext4
    kernel: 6.8.0-45-generic
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.eeforge.builder.plugins.module_utils._host_facts import (
    existing_driver,
    read_text,
    store_paths_from_conf,
)
from ansible_collections.eeforge.builder.plugins.module_utils._preflight import (
    DRIVERS,
    VFS,
    Preflight,
    PreflightError,
    storage_conf_text,
)
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError, path_error
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandRunner, private_tempdir


def current_store_paths():
    """(graphroot, runroot) podman uses here, read from its storage.conf or its defaults."""
    candidates = [os.environ.get("CONTAINERS_STORAGE_CONF")]
    if os.geteuid() != 0:
        config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.environ.get("HOME", "/"), ".config")
        candidates.append(os.path.join(config_home, "containers/storage.conf"))
    candidates += ["/etc/containers/storage.conf", "/usr/share/containers/storage.conf"]
    for path in candidates:
        paths = store_paths_from_conf(read_text(path)) if path else None
        if paths:
            return paths
    if os.geteuid() == 0:
        return "/var/lib/containers/storage", "/run/containers/storage"
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.environ.get("HOME", "/"), ".local/share")
    runtime = os.environ.get("XDG_RUNTIME_DIR") or "/tmp/containers-user-%d" % os.geteuid()
    return os.path.join(data_home, "containers/storage"), os.path.join(runtime, "containers")


def write_storage_conf(module, path, content):
    """Write storage.conf atomically; an OSError is one line naming the path."""
    try:
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            handle.write(content)
        os.chmod(tmp, 0o644)
    except (IOError, OSError) as exc:
        error = path_error("write storage configuration", getattr(exc, "filename", None) or path, exc,
                           option="storage_conf")
        module.fail_json(msg=str(error), exception=traceback.format_exc())
    module.atomic_move(tmp, path)


def check_platforms(module, runner, values):
    """``{platform: native|emulated}``; fails in one line for a bad platform or one this host cannot run."""
    if not values:
        return {}
    from ansible_collections.eeforge.builder.plugins.module_utils import _platforms  # pylint: disable=import-outside-toplevel
    try:
        platforms = _platforms.parse_platforms(values)
        found = {}
        with private_tempdir(prefix="ee-preflight-probe-") as workdir:
            for platform in platforms:
                reason = _platforms.emulation_problem(runner, platform.arch, workdir)
                if reason:
                    raise _platforms.emulation_error(platform, reason)
                found[platform.text] = "native" if platform.arch == _platforms.host_arch() else "emulated"
    except BuildError as exc:
        module.fail_json(msg=str(exc).replace("Failed to build image", "Failed to check platforms"))
    return found


def main():
    module = AnsibleModule(
        argument_spec=dict(
            storage_drivers=dict(type="list", elements="str", choices=list(DRIVERS), default=list(DRIVERS)),
            graphroot=dict(type="path"),
            runroot=dict(type="path"),
            storage_conf=dict(type="path"),
            additional_image_stores=dict(type="list", elements="path", default=[]),
            container_runtime=dict(type="str", default="podman", aliases=["executable"]),
            timeout=dict(type="int", default=120),
            platforms=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params["storage_drivers"]:
        module.fail_json(msg="Failed to check storage drivers: storage_drivers is empty. List at least one of %s."
                         % ", ".join(DRIVERS))
    default_graph, default_run = current_store_paths()
    graphroot = params["graphroot"] or default_graph
    runroot = params["runroot"] or default_run
    drivers = list(dict.fromkeys(params["storage_drivers"]))
    if existing_driver(graphroot) == VFS and VFS in drivers:
        drivers.remove(VFS)
        drivers.insert(0, VFS)

    if not os.path.basename(params["container_runtime"]).startswith("podman"):
        module.fail_json(msg="Failed to check storage drivers: container_runtime '%s' is not podman. Only podman is "
                             "supported; give podman or the path of a podman binary." % params["container_runtime"])
    runner = CommandRunner(module)
    emulation = check_platforms(module, runner, params["platforms"])
    podman = runner.get_bin(params["container_runtime"])
    preflight = Preflight(runner, podman, graphroot, runroot, drivers=drivers,
                          image_stores=params["additional_image_stores"], timeout=params["timeout"],
                          fuse_program=runner.get_bin("fuse-overlayfs"))
    facts = preflight.gather_facts()
    result = dict(changed=False, graphroot=graphroot, facts=facts, probes=[], platforms=emulation)
    try:
        driver, reason, probes = preflight.select()
    except PreflightError as exc:
        result["probes"] = [probe.as_dict() for probe in exc.probes]
        module.fail_json(msg=str(exc), **result)

    content = storage_conf_text(driver, graphroot, runroot, mount_program=preflight.fuse_program,
                                image_stores=params["additional_image_stores"])
    isolation = preflight.isolation()
    environment = {"BUILDAH_ISOLATION": isolation}
    result.update(storage_driver=driver, reason=reason, probes=[probe.as_dict() for probe in probes],
                  storage_conf_content=content, isolation=isolation, environment=environment)
    path = params["storage_conf"]
    if path:
        before = read_text(path)
        result["storage_conf"] = path
        if before != content:
            result["changed"] = True
            if module._diff:
                result["diff"] = {"before": before or "", "after": content,
                                  "before_header": path, "after_header": path}
            if not module.check_mode:
                write_storage_conf(module, path, content)
        # In check mode a file that would change is not written: the tasks that follow use podman's own
        # storage configuration rather than a file that does not hold what the probe chose.
        if before == content or not module.check_mode:
            environment["CONTAINERS_STORAGE_CONF"] = path
    module.exit_json(**result)


if __name__ == "__main__":
    main()
