# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Podman configuration for the tests on these VMs.

The product never depends on this: it is handed to podman only through
``CONTAINERS_CONF`` / ``CONTAINERS_REGISTRIES_CONF`` in the test environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess

# Debian's /usr/share/containers/containers.conf grants these 11; podman's
# built-in defaults add MKNOD, NET_RAW and AUDIT_WRITE, more than a stock AWX
# execution node gives a job.  CONTAINERS_CONF replaces Debian's file, so the
# list is copied here.
DEFAULT_CAPABILITIES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
)

CONTAINERS_CONF = """\
# containers.conf for the eeforge test VMs (given through CONTAINERS_CONF).
# crun refuses the hybrid cgroup layout of these VMs, and they lack
# CAP_SYS_RESOURCE, so raising the default ulimits fails.
[containers]
default_capabilities = [
{caps}
]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]

[engine]
runtime = "runc"
"""


def containers_conf_text():
    caps = ",\n".join('  "%s"' % cap for cap in DEFAULT_CAPABILITIES)
    return CONTAINERS_CONF.format(caps=caps)


def registries_conf_text(insecure_locations=()):
    lines = [
        "# registries.conf for the eeforge tests (given through CONTAINERS_REGISTRIES_CONF).",
        "unqualified-search-registries = []",
        "short-name-mode = \"enforcing\"",
        "",
    ]
    for location in insecure_locations:
        lines += ["[[registry]]", 'location = "%s"' % location, "insecure = true", ""]
    return "\n".join(lines)


def write_podman_config(directory, insecure_locations=()):
    """Write containers.conf and registries.conf into ``directory``.

    Returns the environment variables that point podman, buildah and skopeo at them.
    """
    os.makedirs(directory, exist_ok=True)
    conf = os.path.join(directory, "containers.conf")
    reg = os.path.join(directory, "registries.conf")
    with open(conf, "w", encoding="utf-8") as handle:
        handle.write(containers_conf_text())
    with open(reg, "w", encoding="utf-8") as handle:
        handle.write(registries_conf_text(insecure_locations))
    return {"CONTAINERS_CONF": conf, "CONTAINERS_REGISTRIES_CONF": reg}


@contextlib.contextmanager
def environment(env):
    """Set ``env`` in ``os.environ`` for the duration, then put back what was there."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def podman(args, env=None, check=True, input_data=None, timeout=1800):
    """Run podman with a list of arguments and return the CompletedProcess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        ["podman"] + list(args),
        env=full_env,
        check=check,
        input=input_data,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def list_containers(env=None):
    """Every container podman knows, also the build (``storage``-only) containers buildah and
    ``podman build`` make, which ``podman ps -a`` alone does not show: a cut build leaves those."""
    out = podman(["ps", "-a", "--external", "--format", "{{.ID}} {{.Names}} {{.Status}}"], env=env).stdout
    return [line for line in out.splitlines() if line.strip()]


def kernel_version():
    match = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)
