# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_build's input checks, as pure functions of the module parameters.

Each raises ``BuildInputError`` (one line: what is wrong and how to fix it) before anything runs.
``extra_build_cli_args`` is screened for credentials written inline: ``--creds``, ``--password``,
``--secret`` whose ``src`` is not a file, and ``--build-arg`` with a token/password/secret name,
each with its own message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.eeforge.builder.plugins.module_utils._definition import (
    DEFINITION_LABEL,
    DIGEST_LABEL,
    DefinitionError,
    load_definition_file,
)
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildInputError, path_error
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import ImageRef, ImageRefError, split_ref

_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_NAME = re.compile(r"(?i)(token|passw(or)?d|passwd|secret|api_?key|credential)")


def parse_tags(tags):
    """The tags as ImageRefs (unqualified names become ``localhost/...``, as podman stores them)."""
    if not tags:
        raise BuildInputError("Failed to build image: 'tags' is empty",
                              "Give at least one image reference, e.g. 'registry.example.com/ee/name:1.0'")
    refs, seen = [], set()
    for tag in tags:
        try:
            ref = split_ref(tag, allow_digest=False)
        except ImageRefError as exc:
            raise BuildInputError("Failed to build image: tags: %s" % exc, "Fix the tag")
        if not ref.explicit_registry:
            typed = tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag
            ref = ImageRef("localhost", typed, ref.tag, None, explicit_registry=False)
        if str(ref) in seen:
            raise BuildInputError("Failed to build image: tag '%s' is listed twice" % ref, "Remove the duplicate")
        seen.add(str(ref))
        refs.append(ref)
    return refs


def load_definition(params):
    """``(definition, base_dir, name)`` from definition_file or the inline definition + project_dir."""
    if params["definition_file"]:
        path = os.path.abspath(params["definition_file"])
        return load_definition_file(path), os.path.dirname(path), path
    project_dir = params["project_dir"]
    if project_dir and not os.path.isdir(project_dir):
        raise DefinitionError("Failed to resolve files of 'inline definition': project_dir '%s' is not a directory. "
                              "Fix project_dir" % project_dir)
    return params["definition"], project_dir, "inline definition"


def check_signing_inputs(params):
    """One-line errors for the signing options (before anything is looked up or built)."""
    if not params.get("sign_by"):
        for name in ("sign_passphrase_file", "signature_store"):
            if params.get(name):
                raise BuildInputError("Failed to sign the image: %s is set but sign_by is not" % name,
                                      "Give sign_by (the GPG key's fingerprint), or remove %s" % name)
        return None
    if not params.get("push"):
        raise BuildInputError("Failed to sign the image: signatures are made on push and push is false",
                              "Set push: true, or remove sign_by")
    # containers/image's default staging directory; _signing is loaded only when something is signed.
    from ansible_collections.eeforge.builder.plugins.module_utils._signing import (  # pylint: disable=import-outside-toplevel
        DEFAULT_SIGNATURE_STORE,
    )
    store = params.get("signature_store") or DEFAULT_SIGNATURE_STORE
    if not os.path.isabs(store):
        raise BuildInputError("Failed to use signature_store '%s': it is not an absolute path" % store,
                              "Give the directory's absolute path, e.g. /srv/sigstore")
    if os.path.exists(store) and not os.path.isdir(store):
        raise BuildInputError("Failed to use signature_store '%s': it exists and is not a directory" % store,
                              "Give a directory (it is created when missing)")
    passphrase_file = params.get("sign_passphrase_file")
    if passphrase_file and not os.path.isfile(passphrase_file):
        raise BuildInputError("Failed to read sign_passphrase_file '%s': it does not exist or is not a file"
                              % passphrase_file, "Give the path of a file that holds the key's passphrase")
    return store


def check_sigstore_inputs(params):
    """The absolute path of ``sigstore_private_key`` (None without one); one-line errors before anything runs."""
    key = params.get("sigstore_private_key")
    if not key:
        if params.get("sigstore_passphrase"):
            raise BuildInputError("Failed to sign the image: sigstore_passphrase is set but sigstore_private_key is not",
                                  "Give sigstore_private_key (the cosign.key file), or remove sigstore_passphrase")
        return None
    if not params.get("push"):
        raise BuildInputError("Failed to sign the image: signatures are made on push and push is false",
                              "Set push: true, or remove sigstore_private_key")
    if not os.path.isfile(key):
        raise BuildInputError("Failed to read sigstore_private_key '%s': it does not exist or is not a file" % key,
                              "Give the path of the private key 'cosign generate-key-pair' wrote (cosign.key)")
    return os.path.abspath(key)


def galaxy_signature_args(params):
    """ansible-builder's collection signature options (``ansible-builder create``) for ee_build's
    ``galaxy_keyring``, ``galaxy_required_valid_signature_count`` and ``galaxy_ignore_signature_status_codes``,
    as written. One-line errors for a keyring that is not a file, or the other two without a keyring."""
    keyring = params.get("galaxy_keyring")
    count = params.get("galaxy_required_valid_signature_count")
    codes = params.get("galaxy_ignore_signature_status_codes") or []
    if not keyring:
        for name, value in (("galaxy_required_valid_signature_count", count),
                            ("galaxy_ignore_signature_status_codes", codes)):
            if value:
                raise BuildInputError("Failed to verify collection signatures: %s is set but galaxy_keyring is not"
                                      % name, "Give galaxy_keyring (the public keys the signatures are checked "
                                              "against), or remove %s" % name)
        return []
    if not os.path.isfile(keyring):
        raise BuildInputError("Failed to read galaxy_keyring '%s': the file does not exist" % keyring,
                              "Give a GPG keyring file (gpg --export KEYS > keyring.gpg)")
    if count is not None and not re.match(r"^\+?([1-9][0-9]*|all|-1)$", str(count)):
        raise BuildInputError("Failed to verify collection signatures: galaxy_required_valid_signature_count '%s' "
                              "is not a count" % count,
                              "Give a positive number or all, optionally with a leading '+' (fail when a collection "
                              "has no signature), e.g. +1")
    # ansible-builder runs in a staging directory: a relative path is taken from where the task runs.
    args = ["--galaxy-keyring", os.path.abspath(keyring)]
    for code in codes:
        args += ["--galaxy-ignore-signature-status-codes", code]
    if count is not None:
        args += ["--galaxy-required-valid-signature-count", str(count)]
    return args


def check_ca_files(paths):
    files = []
    for path in paths or []:
        if not os.path.isfile(path):
            raise BuildInputError("Failed to read CA certificate '%s': the file does not exist" % path,
                                  "Fix ca_certificates")
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except (IOError, OSError) as exc:
            raise path_error("read CA certificate", path, exc, option="ca_certificates")
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise BuildInputError("Failed to read CA certificate '%s': it holds no PEM certificate "
                                  "('-----BEGIN CERTIFICATE-----')" % path, "Convert it to PEM")
        files.append(path)
    return files


def check_build_args(build_args):
    args = {}
    for key, value in (build_args or {}).items():
        if not _ARG_NAME.match(str(key)):
            raise BuildInputError("Failed to build image: build_args key '%s' is not a valid ARG name" % key,
                                  "Use letters, digits and '_'")
        if isinstance(value, (dict, list)):
            raise BuildInputError("Failed to build image: build_args '%s' is a %s, not a string" %
                                  (key, type(value).__name__), "Quote it")
        args[str(key)] = "" if value is None else ("%s" % value if not isinstance(value, bool) else str(value).lower())
    return args


def _option_value(args, index, name):
    """The value of ``--name=value`` or ``--name value`` at ``args[index]`` (None when it is not that option)."""
    arg = args[index]
    if arg == name:
        return args[index + 1] if index + 1 < len(args) else ""
    if arg.startswith(name + "="):
        return arg[len(name) + 1:]
    return None


def _secret_source(spec):
    """``(src, env)`` of a ``--secret`` spec (``id=x,src=/path`` or ``id=x,env=VAR``)."""
    fields = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    return fields.get("src") or fields.get("source"), fields.get("env")


def _refuse(secrets, cause, fix):
    """BuildInputError whose ``secrets`` the module masks in its result (the task's own arguments included)."""
    error = BuildInputError(cause, fix)
    error.secrets = [value for value in secrets if value]
    return error


def check_extra_args(extra_args):
    """Refuse credentials written inline in extra_build_cli_args (they would show in the process
    list, the build log, and for build args the image history)."""
    args = [str(a) for a in extra_args or []]
    inline = "which would show in the process list and the build log"
    for index in range(len(args)):
        creds = _option_value(args, index, "--creds")
        if creds is not None:
            raise _refuse([creds, creds.partition(":")[2]],
                          "Failed to build image: extra_build_cli_args passes registry credentials inline (--creds), "
                          + inline, "Use base_registry_username and base_registry_password (kept in a private auth "
                          "file)")
        password = _option_value(args, index, "--password")
        if password is not None:
            raise _refuse([password], "Failed to build image: extra_build_cli_args passes a password inline "
                          "(--password), " + inline, "Use base_registry_password, or registry_password for the push")
        spec = _option_value(args, index, "--secret")
        if spec is not None:
            src, env = _secret_source(spec)
            if not env and not (src and os.path.isfile(src)):
                raise _refuse([src], "Failed to build image: extra_build_cli_args passes --secret '%s' whose src is "
                              "not an existing file" % spec.split(",", 1)[0],
                              "Write the secret to a 0600 file and give its path as src=, or use galaxy_token and "
                              "pip_index_url, which ee_build passes as a build secret itself")
        value = _option_value(args, index, "--build-arg")
        if value and "=" in value and _SECRET_NAME.search(value.split("=", 1)[0]):
            name, _sep, secret = value.partition("=")
            raise _refuse([secret], "Failed to build image: extra_build_cli_args passes '%s' as a build arg, which "
                          "stays in the image history" % name, "Use galaxy_token, or a --secret with a file")
    return args


def check_labels(labels):
    out = {}
    for key, value in (labels or {}).items():
        if key in (DIGEST_LABEL, DEFINITION_LABEL):
            raise BuildInputError("Failed to build image: label '%s' is set by ee_build itself" % key,
                                  "Remove it from labels")
        if not key or re.search(r"\s|=", key):
            raise BuildInputError("Failed to build image: label key '%s' is not valid" % key,
                                  "Use a key without spaces or '='")
        out[key] = "" if value is None else str(value)
    return out
