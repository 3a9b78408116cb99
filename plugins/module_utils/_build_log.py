# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build logs: where they go, how many are kept, and which step a failed build log says failed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import time

from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError, path_error
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError

_STEP_KINDS = (
    ("ansible-galaxy collection install", "the galaxy step (installing collections)"),
    ("ansible-galaxy role install", "the galaxy step (installing roles)"),
    ("check_galaxy", "the galaxy check (ansible-galaxy missing in the base stage)"),
    ("introspect", "the introspect step (reading collection requirements)"),
    ("assemble", "the builder step (pip wheels and bindep)"),
    ("install-from-bindep", "the final install step (system packages and pip requirements)"),
    ("check_ansible", "the final check (ansible/ansible-runner missing)"),
    ("pip_install", "the pip bootstrap step (ensurepip)"),
    ("$ANSIBLE_INSTALL_REFS", "the pip step installing ansible-core/ansible-runner"),
    ("pip install", "a pip step"),
    ("install-ca", "the CA certificate step"),
    ("$PKGMGR install", "a system package step"),
)


def describe_failure(log_text):
    """``(cause, hint)`` from a build log: which step failed and the most telling error line before it."""
    lines = [line.rstrip() for line in log_text.splitlines() if line.strip()]
    step, index = None, len(lines)
    for number, line in enumerate(lines):
        match = re.search(r'building at STEP "(.*)": ', line)
        if match:
            step, index = match.group(1), number
    if step is None:
        pull = None
        for line in lines:
            if re.search(r"(?i)initializing source|unable to pull|pulling image|manifest unknown|"
                         r"repository .* not found|reading manifest", line):
                pull = line.strip()
        if pull:
            return ("the base image could not be pulled: %s" % pull[:300],
                    "Check images.base_image.name and base_registry_username/base_registry_password")
    window = [line.strip() for line in lines[max(0, index - 60):index]
              if not line.startswith("+") and not line.startswith("-->") and not re.match(r"^\[\d+/\d+\] STEP", line)
              and not set(line.strip()) <= set("*")]
    telling = [line for line in window if re.search(r"(?i)error|not found|no such|failed|denied|unable|refused", line)]
    detail = (telling or window or [lines[-1] if lines else ""])[-1]
    kind = "a build step"
    for needle, what in _STEP_KINDS:
        if step and needle in step:
            kind = what
            break
    hint = "See the build log"
    if "galaxy" in kind:
        hint = "Check dependencies.galaxy, galaxy_server_url/galaxy_token, and that collection tarballs are readable"
    elif "pip" in kind or "builder step" in kind or "final install" in kind:
        hint = "Check dependencies.python/system and pip_index_url; the log shows the failing package"
    cause = "%s failed: %s" % (kind, detail[:300]) if detail else "%s failed" % kind
    if step:
        cause += " (step: %s)" % step[:120]
    return cause, hint


def prune_log_dir(log_dir, keep=20):
    """Keep the ``keep`` newest ``*.log`` files in ``log_dir``."""
    try:
        logs = sorted((os.path.join(log_dir, n) for n in os.listdir(log_dir) if n.endswith(".log")),
                      key=os.path.getmtime)
    except OSError:
        return
    for path in logs[:-keep]:
        try:
            os.remove(path)
        except OSError:
            pass


def new_log_path(log_dir, primary):
    """A fresh log file path in ``log_dir`` (default ``~/.ansible/eeforge/build-logs``) for ``primary``."""
    if not log_dir:
        log_dir = os.path.join(os.path.expanduser("~"), ".ansible", "eeforge", "build-logs")
    try:
        if not os.path.isdir(log_dir):
            os.makedirs(log_dir, 0o700)
        prune_log_dir(log_dir)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", "%s-%s" % (primary.repository.rsplit("/", 1)[-1], primary.tag))
        path = os.path.join(log_dir, "%s-%s-%d.log" % (name, time.strftime("%Y%m%dT%H%M%S"), os.getpid()))
        with open(path, "a"):
            pass
    except (IOError, OSError) as exc:
        raise path_error("write build log in", log_dir, exc, option="build_log_dir")
    return path


def run_build(engine, options, timeout):
    """``engine.build(options)``; a failure becomes one BuildError line naming the failed step and the log."""
    log_path = options.log_path
    try:
        return engine.build(options, timeout=timeout)
    except CommandError as exc:
        with open(log_path, "a") as handle:
            handle.write(exc.stdout)
            handle.write(exc.stderr)
        with open(log_path) as handle:
            text = handle.read()
        tail = text.splitlines()[-30:]
        if exc.timed_out:
            raise BuildError("Failed to build image: the build did not finish within %s seconds" % timeout,
                             "Raise timeout or check the build log %s" % log_path, tail, log_path)
        cause, hint = describe_failure(text)
        raise BuildError("Failed to build image: %s" % cause, "%s (full log: %s)" % (hint, log_path), tail, log_path)
