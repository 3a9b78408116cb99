# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Registry authentication and container runtime options shared by the build-family modules."""

    DOCUMENTATION = r"""
options:
  registry_username:
    description:
      - User name for the registry the image is pushed to or read from.
      - Requires O(registry_password).
    type: str
  registry_password:
    description:
      - Password or token for O(registry_username).
      - It is written to a mode 0600 auth file in a private temporary directory that is removed
        when the task ends; it never appears on a command line, in the environment, in the log or in the result.
    type: str
  auth_file:
    description:
      - Path of a podman C(auth.json) or docker C(config.json) with registry credentials.
      - It is only read, never modified. With O(registry_username) and O(registry_password) a private copy
        gets the extra entry.
    type: path
  tls_verify:
    description:
      - V(true) requires HTTPS and a trusted certificate when talking to a registry; V(false) allows plain HTTP and
        self-signed certificates.
      - Not set (the default), podman's C(registries.conf) decides, as it does for C(podman pull) and C(podman push)
        without C(--tls-verify) - TLS is verified except for registries listed there as C(insecure).
    type: bool
  container_runtime:
    description:
      - The container engine that builds, tags, pushes and inspects images.
      - Only podman is supported (docker was removed in 0.2.0).
    type: str
    choices: [podman]
    default: podman
  timeout:
    description:
      - Seconds each long-running command (build, pull, push) may take before it is stopped.
    type: int
    default: 3600
requirements:
  - podman on the host the task runs on
  - skopeo to inspect images in a registry without pulling them (podman is used otherwise)
"""
