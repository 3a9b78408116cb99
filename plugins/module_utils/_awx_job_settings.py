# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge options into AWX's list settings of job containers, keeping what is already there (pure functions).

AWX replaces a list setting as a whole on PATCH (``DEFAULT_CONTAINER_RUN_OPTIONS``,
``AWX_ISOLATION_SHOW_PATHS``; contract exchanges 72-74), so adding one option means sending the
current list with the option added. These functions compute that list.

``DEFAULT_CONTAINER_RUN_OPTIONS`` is a list of ``podman run`` arguments, AWX's default being
``["--network", "slirp4netns:enable_ipv6=true"]``: an option (``--flag``) is followed by its value
unless the value is inline (``--flag=value``) or the option takes none (``--privileged``). An
option that podman accepts once (``--network``) replaces the one there; a repeatable one
(``--device``, ``--security-opt``) is added unless the same value is there; options keyed by a name
(``--ulimit nofile=...``, ``--sysctl``, ``--env``) replace the value of the same name.

``AWX_ISOLATION_SHOW_PATHS`` entries are ``host_path[:container_path[:options]]``; an entry replaces
the one mounted at the same container path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.six import string_types

# podman run options given once (a second one replaces the first, or is an error).
SINGLE = frozenset([
    "--network", "--net", "--user", "-u", "--userns", "--ipc", "--pid", "--uts", "--cgroupns", "--hostname", "-h",
    "--memory", "-m", "--memory-swap", "--cpus", "--cpu-shares", "--pids-limit", "--shm-size", "--init-path",
    "--log-driver", "--pull", "--platform", "--workdir", "-w", "--entrypoint", "--stop-signal", "--stop-timeout",
    "--timeout", "--umask", "--cgroup-parent", "--cgroups", "--restart", "--tz",
])
# Repeatable options whose value starts with a name: a new value replaces the one of the same name.
KEYED = frozenset(["--ulimit", "--sysctl", "--env", "-e", "--label", "-l", "--annotation", "--add-host"])
# Options that take no value.
FLAGS = frozenset([
    "--privileged", "--rm", "--init", "--read-only", "--no-hosts", "--no-healthcheck", "--tty", "-t", "--interactive",
    "-i", "--detach", "-d", "--oom-kill-disable", "--read-only-tmpfs", "--replace", "--http-proxy", "--quiet", "-q",
    "--env-host", "--rootfs", "--sig-proxy",
])
ALIASES = {"--net": "--network", "-u": "--user", "-h": "--hostname", "-m": "--memory", "-w": "--workdir",
           "-e": "--env", "-l": "--label", "-v": "--volume"}


class OptionError(ValueError):
    """An option that cannot be parsed; the text is one line."""


def _canonical(flag):
    return ALIASES.get(flag, flag)


def parse_options(tokens):
    """``[(flag, value, tokens)]`` of a ``podman run`` argument list; ``value`` is None for a flag
    without value, ``tokens`` the original spelling (kept when the option stays)."""
    options = []
    index = 0
    tokens = list(tokens or [])
    while index < len(tokens):
        token = tokens[index]
        if not isinstance(token, string_types) or not token.startswith("-"):
            raise OptionError("'%s' is not an option (options start with '-'); the list is %s" % (token, tokens))
        if "=" in token and token.startswith("--"):
            flag, value = token.split("=", 1)
            options.append((_canonical(flag), value, [token]))
            index += 1
        elif token in FLAGS or index + 1 >= len(tokens) or tokens[index + 1].startswith("-"):
            options.append((_canonical(token), None, [token]))
            index += 1
        else:
            options.append((_canonical(token), tokens[index + 1], [token, tokens[index + 1]]))
            index += 2
    return options


def parse_wanted(items):
    """Options as a user writes them: one per item (``--device=/dev/fuse``, ``--device /dev/fuse``,
    ``--privileged``), or as AWX stores them, the option and its value as two items (``['--network',
    'slirp4netns:enable_ipv6=true']``, what GET /api/v2/settings/jobs/ returns); returned like
    ``parse_options``, spelled as AWX does (flag and value apart)."""
    wanted = []
    for item in items or []:
        if not isinstance(item, string_types):
            raise OptionError("%r is not a podman run option (options are strings)" % (item,))
        item = item.strip()
        if not item.startswith("-"):
            previous = wanted[-1] if wanted else None
            if previous is not None and previous[1] is None and previous[0] not in FLAGS:
                # AWX's own format: the value of the option before it.
                wanted[-1] = (previous[0], item, [previous[0], item])
                continue
            if previous is not None and previous[1] is None:
                raise OptionError("'%s' follows %s, which takes no value" % (item, previous[0]))
            raise OptionError("'%s' is not a podman run option (it must start with '-', e.g. '--device=/dev/fuse', "
                              "or be the value after its option, as in ['--device', '/dev/fuse'])" % item)
        if item.startswith("--") and "=" in item.split(" ", 1)[0]:
            flag, value = item.split("=", 1)
        elif " " in item:
            flag, value = item.split(None, 1)
        else:
            flag, value = item, None
        flag = _canonical(flag)
        wanted.append((flag, value, [flag] if value is None else [flag, value]))
    return wanted


def _key(flag, value):
    """What makes two options "the same" option (the one to replace)."""
    if flag in SINGLE:
        return (flag,)
    if flag in KEYED and value is not None:
        return (flag, value.split("=", 1)[0].split(":", 1)[0] if flag != "--add-host" else value.split(":", 1)[0])
    return (flag, value)


def merge_run_options(current, items, state="present"):
    """The ``DEFAULT_CONTAINER_RUN_OPTIONS`` list to send: ``current`` with the options ``items``
    present (added, or replacing the one of the same key in place) or absent (removed)."""
    options = parse_options(current)
    for flag, value, spelled in parse_wanted(items):
        key = _key(flag, value)
        if state == "absent":
            # "--network" removes any network option; "--network=host" only that one.
            options = [opt for opt in options if _key(opt[0], opt[1]) != key
                       or (flag in SINGLE and value is not None and opt[1] != value)]
            continue
        for index, opt in enumerate(options):
            if _key(opt[0], opt[1]) == key:
                if opt[1] != value:
                    options[index] = (flag, value, spelled)
                break
        else:
            options.append((flag, value, spelled))
    merged = []
    for opt in options:
        merged.extend(opt[2])
    return merged


def _mount_key(entry):
    parts = entry.split(":")
    return parts[1] if len(parts) > 1 and parts[1] else parts[0]


def merge_show_paths(current, items, state="present"):
    """The ``AWX_ISOLATION_SHOW_PATHS`` list to send: ``current`` with the entries ``items`` present
    (replacing the entry mounted at the same container path) or absent (entries at that path removed)."""
    paths = list(current or [])
    for item in items or []:
        item = item.strip()
        if not item.startswith("/"):
            raise OptionError("'%s' is not an absolute host path (AWX_ISOLATION_SHOW_PATHS entries are "
                              "/host/path[:/container/path[:options]])" % item)
        key = _mount_key(item)
        if state == "absent":
            paths = [path for path in paths if _mount_key(path) != key]
            continue
        for index, path in enumerate(paths):
            if _mount_key(path) == key:
                paths[index] = item
                break
        else:
            paths.append(item)
    return paths
