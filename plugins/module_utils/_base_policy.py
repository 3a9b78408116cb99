# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_build's ``container_policy`` and ``container_keyring``: what the base image pull must prove.

``container_policy`` takes ansible-builder's three ``--container-policy`` values, or a file:

- ``system`` (and unset): podman's own policy (``/etc/containers/policy.json``, or
  ``~/.config/containers/policy.json`` when it exists). Nothing changes; today's behaviour.
- ``ignore_all``: the base is pulled under a private policy that accepts anything (for a build
  host whose system policy is stricter than the builds need).
- ``signature_required``: the base is pulled under a private policy that rejects everything but
  the base's repository signed by a key of ``container_keyring`` (a GPG public keyring) for the base
  as the definition names it (``exactReference``; ``matchRepoDigestOrExact`` for a base named by
  digest), as ansible-builder's generated policy does.
- a path: a containers-policy.json(5) file, used as it is (``--signature-policy``).

Signature checks need a registry: with ``signature_required`` or a policy file every build pulls the
base's exact digest through the policy, also when the image is already local, and a base that is
only local (``localhost/``, a short name, a registry that could not be asked) fails in one line.
The lookaside of simple signatures comes from podman's registries.d (``/etc/containers/registries.d``,
or ``~/.config/containers/registries.d``), as on an execution node (docs/trust.md).

The generated policy is written to a private temp file for the pull only; nothing under
``/etc/containers`` or ``~/.config/containers`` is read or changed for it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import json
import os

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError, BuildInputError, RegistryError
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import split_ref
from ansible_collections.eeforge.builder.plugins.module_utils._runner import private_tempdir


def _signing():
    """``_signing``, loaded on first use: a run under podman's own policy (and a no-op) never needs it."""
    from ansible_collections.eeforge.builder.plugins.module_utils import (  # pylint: disable=import-outside-toplevel
        _signing as signing,
    )
    return signing


SYSTEM = "system"
IGNORE_ALL = "ignore_all"
SIGNATURE_REQUIRED = "signature_required"
KEYWORDS = (SYSTEM, IGNORE_ALL, SIGNATURE_REQUIRED)


def _read(path, option, fix):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise BuildInputError("Failed to read %s '%s': %s" % (option, path, exc.strerror or exc), fix)


class BasePolicy(object):
    """The checked ``container_policy``: ``mode`` (a keyword, or ``file``), ``path`` (the policy file),
    ``keyring`` (the absolute keyring path) and ``fingerprint`` (what the definition digest covers,
    None when the policy cannot change what a build proves)."""

    def __init__(self, mode, path=None, keyring=None, fingerprint=None):
        self.mode = mode
        self.path = path
        self.keyring = keyring
        self.fingerprint = fingerprint

    @property
    def private(self):
        """Whether the base pull runs under a policy of its own instead of podman's."""
        return self.mode != SYSTEM

    @property
    def verifies(self):
        """Whether every build must pull the base through the policy (signatures need a registry)."""
        return self.mode in (SIGNATURE_REQUIRED, "file")

    def document(self, base_ref):
        """The generated policy for ``base_ref`` (``ignore_all`` / ``signature_required``)."""
        if self.mode == IGNORE_ALL:
            return {"default": [{"type": "insecureAcceptAnything"}]}
        ref = split_ref(base_ref, require_tag=False)
        if ref.digest:
            identity = {"type": "matchRepoDigestOrExact"}
        else:
            identity = {"type": "exactReference", "dockerReference": "%s:%s" % (ref.name, ref.tag)}
        return _signing().policy_document({ref.name: [_signing().gpg_requirement(self.keyring, identity)]})

    @contextlib.contextmanager
    def policy_file(self, base_ref):
        """The ``--signature-policy`` file for pulling ``base_ref``: None (podman's own), the user's
        file, or a generated one in a private temp dir removed afterwards."""
        if not self.private:
            yield None
        elif self.mode == "file":
            yield self.path
        else:
            with private_tempdir(prefix="ee-build-policy-") as directory:
                yield _signing().write_policy(directory, self.document(base_ref))

    def check_base(self, base_ref):
        """Refuse, before anything runs, a base that a verifying policy could never judge."""
        ref = split_ref(base_ref, require_tag=False)
        if self.verifies and (ref.registry == "localhost" or not ref.explicit_registry):
            raise BuildInputError(
                "Failed to verify base image '%s' under container_policy %s: %s" % (
                    base_ref, self.path or self.mode, "it is a local image" if ref.registry == "localhost"
                    else "a short name can come from any search registry"),
                "Name the base with its registry (registry.example.com/ee/base:tag), or set container_policy: system")

    def pull_ref(self, base):
        """What to pull so that the policy judges exactly the image the build starts from."""
        if "@" in base.build_ref:
            return base.build_ref
        if base.source not in ("registry", "recorded", "definition") or not base.digest:
            self.check_base(base.ref)
            raise BuildError("Failed to verify base image '%s' under container_policy %s: its registry could not "
                             "be asked for its digest" % (base.ref, self.path or self.mode),
                             "Make the base's registry reachable (base_registry_username/base_registry_password), "
                             "or set container_policy: system")
        return "%s@%s" % (split_ref(base.ref, require_tag=False).name, base.digest)

    def refusal(self, base, pulled, exc):
        """The one-line BuildError for a pull the policy refused, or None when ``exc`` is no refusal."""
        found = _signing().policy_error(getattr(exc, "detail", "") or "") if self.private else None
        if not found:
            return None
        named = "'%s'" % base.ref if pulled == base.ref else "'%s' (%s)" % (base.ref, pulled)
        fix = {
            "unsigned": "Sign the base image (podman push --sign-by) and publish its signature where registries.d's "
                        "lookaside for its registry points",
            "untrusted_key": "Add the signer's public key to %s, or sign the base with a trusted key"
                             % (self.keyring or "the policy's keyPath"),
            "identity_mismatch": "Sign the base under the name the definition uses",
        }.get(found["reason"], "Check container_policy and the base image's signatures")
        return BuildError("Failed to verify base image %s under container_policy %s: %s" % (
            named, self.path or self.mode, found["message"]), fix)


def check_base_policy(params):
    """The BasePolicy of ``params`` (``container_policy``, ``container_keyring``); one-line errors."""
    value = params.get("container_policy") or SYSTEM
    keyring = params.get("container_keyring")
    if value != SIGNATURE_REQUIRED and keyring:
        raise BuildInputError("Failed to check container_policy: container_keyring is only used with "
                              "container_policy: signature_required (it is '%s')" % value,
                              "Set container_policy: signature_required, or remove container_keyring "
                              "(a policy file names its own keys)")
    if value in (SYSTEM, IGNORE_ALL):
        return BasePolicy(value)
    if value == SIGNATURE_REQUIRED:
        if not keyring:
            raise BuildInputError("Failed to check container_policy: signature_required needs container_keyring",
                                  "Give container_keyring: the GPG public keyring (gpg --export) the base image "
                                  "must be signed by")
        keyring = os.path.abspath(keyring)
        data = _read(keyring, "container_keyring", "Give a readable GPG public keyring (gpg --export FPR > file)")
        try:
            kind = _signing().key_kind(data)
        except _signing().SigningError as exc:
            raise BuildInputError("Failed to check container_keyring '%s': %s" % (
                keyring, exc.cause.replace("Failed to use the verification key: ", "")), exc.fix)
        if kind != "gpg":
            raise BuildInputError("Failed to check container_keyring '%s': it is a sigstore public key, which this "
                                  "podman cannot verify" % keyring,
                                  "Give a GPG public keyring (docs/trust.md says which podman builds verify sigstore)")
        return BasePolicy(SIGNATURE_REQUIRED, keyring=keyring,
                          fingerprint="%s:%s" % (SIGNATURE_REQUIRED, hashlib.sha256(data).hexdigest()))
    path = os.path.abspath(value)
    fix = "Give %s, or the path of a containers-policy.json(5) file" % ", ".join(KEYWORDS)
    if not os.path.isfile(path):
        raise BuildInputError("Failed to read container_policy '%s': no such file" % value, fix)
    data = _read(path, "container_policy", fix)
    try:
        document = json.loads(to_text(data, errors="surrogate_or_strict"))
    except (ValueError, UnicodeError) as exc:
        raise BuildInputError("Failed to read container_policy '%s': it is not valid JSON (%s)" % (value, exc), fix)
    if not isinstance(document, dict) or not isinstance(document.get("default"), list):
        raise BuildInputError("Failed to read container_policy '%s': a containers-policy.json(5) document is an "
                              "object with a 'default' list of requirements" % value, fix)
    return BasePolicy("file", path=path, fingerprint="file:%s" % hashlib.sha256(data).hexdigest())


def ensure_base(engine, policy, base, base_auth, tls_verify, check_mode, warnings):
    """Make sure ``base.build_ref`` is local: pull it when missing (not in check mode), under ``policy``.

    A policy that checks signatures pulls the base's exact digest through it on every build, also
    when the image is local. Returns ``(local, verified)``: whether the base is local now, and the
    references pulled through a verifying policy. Raises BuildError in one line.
    """
    if not base.pull and not (policy.verifies and not check_mode):
        return True, []
    if check_mode:
        warnings.append("Base image '%s' is not in local storage and check mode does not pull it: its package "
                        "manager is unknown, so the Debian adaptation is decided at build time" % base.ref)
        return False, []
    pulled = policy.pull_ref(base) if policy.verifies else base.build_ref
    with policy.policy_file(base.ref) as policy_path:
        try:
            engine.pull(pulled, auth_file=base_auth, tls_verify=tls_verify, signature_policy=policy_path)
        except RegistryError as exc:
            # The message names the base as the definition does, and the pinned reference that was pulled.
            named = "'%s'" % base.ref if pulled == base.ref else "'%s' (%s)" % (base.ref, pulled)
            cause = exc.cause.replace("Failed to pull image", "Failed to pull base image")
            raise policy.refusal(base, pulled, exc) or BuildError(
                cause.replace("'%s'" % pulled, named), exc.fix + " (base_registry_username/base_registry_password)")
    return True, [pulled] if policy.verifies else []
