# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Base class of the build-family modules (ee_build, and modules that pull/push images).

``BuildModule`` is an ``AnsibleModule`` that adds the shared options (container runtime,
registry authentication, TLS, timeout; documented by the ``eeforge.builder.registry_auth``
doc fragment), a ``CommandRunner``, the container ``Engine`` and one way to fail:
``fail_from(exc)`` turns the collection's exceptions (and OSError/ValueError that escaped) into a
one-line ``msg`` plus ``log_tail``/``build_log`` when there is a log; the traceback goes to
``exception`` (shown with -vvv only).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.eeforge.builder.plugins.module_utils._engine import Engine
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError, CommandRunner

# Registry authentication, shared by every module that talks to a registry.
REGISTRY_AUTH_ARGSPEC = dict(
    registry_username=dict(type="str"),
    registry_password=dict(type="str", no_log=True),
    auth_file=dict(type="path"),
    tls_verify=dict(type="bool"),
)

BUILD_COMMON_ARGSPEC = dict(
    container_runtime=dict(type="str", default="podman", choices=["podman"]),
    timeout=dict(type="int", default=3600),
)


class BuildModule(AnsibleModule):
    """AnsibleModule + shared build/registry options + a CommandRunner + ``fail_from``."""

    def __init__(self, argument_spec=None, required_together=None, **kwargs):
        spec = copy.deepcopy(BUILD_COMMON_ARGSPEC)
        spec.update(copy.deepcopy(REGISTRY_AUTH_ARGSPEC))
        spec.update(argument_spec or {})
        together = [["registry_username", "registry_password"]] + list(required_together or [])
        super(BuildModule, self).__init__(argument_spec=spec, required_together=together, **kwargs)
        self._runner = None
        self._engine = None

    @property
    def runner(self):
        if self._runner is None:
            env = {}
            # The environment that decides podman's configuration is passed through explicitly.
            for key in ("CONTAINERS_CONF", "CONTAINERS_REGISTRIES_CONF", "CONTAINERS_STORAGE_CONF",
                        "REGISTRY_AUTH_FILE", "BUILDAH_ISOLATION", "XDG_RUNTIME_DIR"):
                if os.environ.get(key):
                    env[key] = os.environ[key]
            self._runner = CommandRunner(self, environ_update=env)
        return self._runner

    def runtime_bin(self):
        """Path of the container runtime binary, or fail with a one-line message."""
        name = self.params["container_runtime"]
        path = self.runner.get_bin(name)
        if not path:
            self.fail_json(msg="Failed to find container runtime '%s': it is not installed or not in PATH. Install %s "
                               "or set container_runtime." % (name, name))
        return path

    def engine(self):
        """The container engine (podman) for this task; fails with one line when podman is missing."""
        if self._engine is None:
            self._engine = Engine(self.runner, self.runtime_bin(), timeout=self.params["timeout"])
        return self._engine

    def push_auth(self, ref):
        """A context manager: the auth file for pushing to (and signing in) the registry of ``ref``, from
        registry_username/registry_password or auth_file (``_registry.registry_auth``)."""
        from ansible_collections.eeforge.builder.plugins.module_utils._registry import (  # pylint: disable=import-outside-toplevel
            registry_auth,
        )
        from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import (  # pylint: disable=import-outside-toplevel
            split_ref,
        )
        return registry_auth(self, split_ref(ref).registry, self.params["registry_username"],
                             self.params["registry_password"], self.params["auth_file"])

    def fail_from(self, exc, **result):
        """Fail with the one-line text of ``exc``; add the build log tail and path when known.

        The traceback is passed as ``exception`` (ansible shows it with -vvv only).
        """
        if isinstance(exc, CommandError):
            msg = "Failed to run %s: %s. See log_tail" % (exc.tool, exc.summary())
            result.setdefault("log_tail", exc.tail())
        elif isinstance(exc, EnvironmentError) and getattr(exc, "filename", None):
            msg = "Failed to use '%s': %s. Check the path and its permissions" % (exc.filename, exc.strerror or exc)
        else:
            msg = str(exc)
        # Credentials an input check found where they do not belong (extra_build_cli_args) are
        # masked in the whole result, the task's own arguments included.
        self.no_log_values.update(getattr(exc, "secrets", None) or [])
        tail = getattr(exc, "log_tail", None)
        if tail:
            result["log_tail"] = tail
        log_path = getattr(exc, "log_path", None)
        if log_path:
            result["build_log"] = log_path
        self.fail_json(msg=" ".join(msg.split("\n")).strip(), exception=traceback.format_exc(), **result)
