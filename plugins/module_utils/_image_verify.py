# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_info's ``verify_signature``: which keys signed an image, as a podman node would judge it.

The signatures are simple signing (GPG) signatures in a lookaside store (``signature_store``: a
directory, or the ``http(s)://`` / ``file://`` URL the nodes' registries.d names), read the way
containers/image reads them: ``<store>/<repository>@sha256=<hex>/signature-1``, ``-2``... up to the
first one missing. A signature counts when gpg finds it good by one of the trusted keys and its
payload names the image's manifest digest and the image (``matchRepoDigestOrExact``: the exact tag, or
for a reference by digest any tag of the repository), what a ``signedBy`` policy requires.

The trusted keys come from ``verify_signature``: a GPG public key file (binary or armored), or a
containers-policy.json(5) file, whose requirements for the image (the most specific ``docker`` scope,
else ``default``) are followed: ``signedBy`` (``keyPath``, ``keyPaths``, ``keyData``),
``insecureAcceptAnything`` (accepted, no signature needed) and ``reject``; or a sigstore public key
(PEM), or ``sigstoreSigned`` requirements (``keyPath``, ``keyPaths``, ``keyData``; ``signedIdentity``), whose
signatures are read from the registry's attachment ``<repository>:sha256-<hex>.sig`` and verified here
(Debian 12's podman and skopeo are built without sigstore; see ``_sigstore_signer``).

The keys are imported into a private GNUPGHOME that is removed afterwards; nothing of the user's
keyring is read or changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os

from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import ImageRefError, split_ref
from ansible_collections.eeforge.builder.plugins.module_utils._runner import private_tempdir, write_private_file
from ansible_collections.eeforge.builder.plugins.module_utils._signing import (
    SigningError,
    key_kind,
    lookaside_path,
    parse_gpg_status,
    parse_signing_payload,
)

MAX_SIGNATURES = 64


def _fail(image, cause, fix):
    return SigningError("Failed to verify the signature of '%s': %s" % (image, cause), fix)


def _read_file(image, path, what):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise _fail(image, "cannot read %s '%s' (%s)" % (what, path, exc.strerror or exc),
                    "Give a readable file")


# -- what verify_signature names ------------------------------------------------------------

def _scope_requirements(policy, image):
    """The requirements of ``policy`` (a dict) for ``image``: its most specific docker scope, else default."""
    ref = split_ref(image)
    scopes = (policy.get("transports") or {}).get("docker") or {}
    candidates = [ref.name]
    parts = ref.name.split("/")
    candidates += ["/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]
    for scope in candidates:
        if scope in scopes:
            return scope, scopes[scope]
    return "default", policy.get("default") or []


def trusted_keys(image, source):
    """``(mode, keys, where)`` for ``verify_signature`` = ``source``.

    ``mode``: ``keys`` (a signature by one of ``keys``, a list of OpenPGP key bytes, is required),
    ``accept`` (the policy accepts the image unsigned) or ``reject``. ``where``: what set them
    (the key file, or the policy scope).
    """
    data = _read_file(image, source, "verify_signature")
    stripped = data.lstrip()
    if stripped[:1] == b"{":
        try:
            policy = json.loads(to_text(data))
        except ValueError as exc:
            raise _fail(image, "'%s' is neither a key nor valid JSON (%s)" % (source, exc),
                        "Give a GPG public key file or a containers-policy.json(5) file")
        return _policy_keys(image, source, policy)
    try:
        kind = key_kind(data)
    except SigningError as exc:
        raise _fail(image, "'%s': %s" % (source, exc.cause), exc.fix)
    if kind == "sigstore":
        return "sigstore", [(data, None)], source
    return "keys", [data], source


def _policy_keys(image, source, policy):
    if not isinstance(policy, dict):
        raise _fail(image, "'%s' is not a containers-policy.json(5) document" % source, "Give a policy file")
    scope, requirements = _scope_requirements(policy, image)
    where = "%s (scope %s)" % (source, scope)
    keys, sigstore_keys, accept = [], [], False
    for req in requirements if isinstance(requirements, list) else []:
        kind = req.get("type") if isinstance(req, dict) else None
        if kind == "reject":
            return "reject", [], where
        if kind == "insecureAcceptAnything":
            accept = True
        elif kind == "signedBy":
            if req.get("keyType", "GPGKeys") != "GPGKeys":
                raise _fail(image, "%s: signedBy keyType '%s' is not supported" % (where, req.get("keyType")),
                            "Use keyType GPGKeys")
            paths = list(req.get("keyPaths") or []) + ([req["keyPath"]] if req.get("keyPath") else [])
            keys += [_read_file(image, p, "the policy's keyPath") for p in paths]
            if req.get("keyData"):
                keys.append(base64.b64decode(req["keyData"]))
        elif kind == "sigstoreSigned":
            if req.get("fulcio") or req.get("rekorPublicKeyPath") or req.get("rekorPublicKeyData"):
                raise _fail(image, "%s: sigstoreSigned with Fulcio or Rekor (keyless) is not supported" % where,
                            "Use sigstoreSigned with keyPath or keyData")
            identity = req.get("signedIdentity")
            paths = list(req.get("keyPaths") or []) + ([req["keyPath"]] if req.get("keyPath") else [])
            sigstore_keys += [(_read_file(image, p, "the policy's keyPath"), identity) for p in paths]
            if req.get("keyData"):
                sigstore_keys.append((base64.b64decode(req["keyData"]), identity))
        else:
            raise _fail(image, "%s: requirement type '%s' is not supported" % (where, kind),
                        "Use signedBy, sigstoreSigned, insecureAcceptAnything or reject")
    if keys and sigstore_keys:
        raise _fail(image, "%s requires both a GPG and a sigstore signature, which one verify_signature cannot check"
                    % where, "Verify each kind with its own key file")
    if sigstore_keys:
        return "sigstore", sigstore_keys, where
    if keys:
        return "keys", keys, where
    if accept:
        return "accept", [], where
    raise _fail(image, "%s has no requirement for the image" % where, "Add a signedBy requirement for its scope")


# -- the store ------------------------------------------------------------------------------

def read_signatures(image, digest, store, timeout=30):
    """``[(location, bytes)]``: the image's signatures at ``digest`` in ``store``, in index order."""
    found = []
    for index in range(1, MAX_SIGNATURES + 1):
        relative = lookaside_path(image, digest, index)
        if store.startswith(("http://", "https://")):
            location = store.rstrip("/") + "/" + relative
            data = _http_get(image, location, timeout)
        else:
            root = store[len("file://"):] if store.startswith("file://") else store
            location = os.path.join(root, relative)
            data = _read_file(image, location, "the signature") if os.path.isfile(location) else None
        if data is None:
            break
        found.append((location, data))
    return found


def _http_get(image, url, timeout):
    """The body at ``url``, or None for a 404 (the end of the list, as containers/image reads it)."""
    from ansible.module_utils.urls import open_url  # pylint: disable=import-outside-toplevel
    from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError  # pylint: disable=import-outside-toplevel
    try:
        return open_url(url, timeout=timeout, follow_redirects="all").read()
    except HTTPError as exc:
        if exc.code == 404:
            return None
        raise _fail(image, "the signature store answered HTTP %d for %s" % (exc.code, url),
                    "Check signature_store")
    except (URLError, IOError, OSError) as exc:
        raise _fail(image, "cannot read %s (%s)" % (url, getattr(exc, "reason", None) or exc),
                    "Check that signature_store is reachable from where the task runs")


# -- gpg ------------------------------------------------------------------------------------

def _identity_matches(image, identity):
    """matchRepoDigestOrExact: by tag, the same reference; by digest, the same repository."""
    try:
        want, got = split_ref(image, require_tag=False), split_ref(identity, require_tag=False)
    except ImageRefError:
        return False
    if want.digest:
        return want.name == got.name
    return str(want) == str(got)


def identity_rule(image, signed_identity):
    """The check of a payload's reference that a ``signedIdentity`` asks for (default ``matchRepoDigestOrExact``)."""
    kind = (signed_identity or {}).get("type", "matchRepoDigestOrExact")
    if kind == "matchRepository":
        name = split_ref(image, require_tag=False).name
        return lambda identity: _same_repository(name, identity)
    if kind == "exactReference":
        return lambda identity: identity == signed_identity.get("dockerReference")
    if kind in ("matchRepoDigestOrExact", "matchExact"):
        return lambda identity: _identity_matches(image, identity)
    raise _fail(image, "signedIdentity type '%s' is not supported" % kind,
                "Use matchRepoDigestOrExact, matchRepository, matchExact or exactReference")


def _same_repository(name, identity):
    try:
        return split_ref(identity, require_tag=False).name == name
    except ImageRefError:
        return False


def verify(runner, image, digest, source, store, timeout=60, auth_file=None, tls_verify=True):
    """What signed ``image`` (manifest ``digest``) by the keys ``source`` names; raises SigningError in one
    line when no signature by one of them is there. Returns the ``signature`` result dict."""
    mode, keys, where = trusted_keys(image, source)
    result = {"verified": mode != "reject", "trusted_by": where, "digest": digest, "signed_by": [],
              "signatures": []}
    if mode == "reject":
        raise _fail(image, "%s rejects it" % where, "Change the policy, or do not run this image")
    if mode == "accept":
        return result  # the policy asks for no signature: none is read
    if mode == "sigstore":
        return _verify_sigstore(runner, image, digest, keys, where, result, auth_file, tls_verify, timeout)
    signatures = read_signatures(image, digest, store, timeout=timeout)
    gpg = runner.get_bin("gpg")
    if signatures and not gpg:
        raise _fail(image, "command 'gpg' is not in PATH", "Install gnupg where the task runs")
    with private_tempdir(prefix="ee-info-gnupg-") as home:
        env = {"GNUPGHOME": home}
        for number, key in enumerate(keys if signatures else []):
            path = write_private_file(home, "key-%d" % number, key)
            rc, _out, err = runner.run([gpg, "--batch", "--no-tty", "--no-autostart", "--import", path],
                                       check=False, environ_update=env, timeout=timeout)
            if rc != 0:
                raise _fail(image, "the key in %s cannot be imported (%s)" % (where, _last(err)),
                            "Give an OpenPGP public key ('gpg --export FPR')")
        for location, data in signatures:
            result["signatures"].append(_check_one(runner, gpg, env, image, digest, location, data, timeout))
    result["signed_by"] = sorted(set(s["signed_by"] for s in result["signatures"] if s["valid"]))
    if not signatures:
        raise _fail(image, "it has no signature for %s in %s" % (digest, store),
                    "Sign it (ee_build sign_by), or point signature_store at the store its signatures are in")
    if not result["signed_by"]:
        others = sorted(set(s["signed_by"] for s in result["signatures"] if s["signed_by"]))
        reasons = sorted(set(s["reason"] for s in result["signatures"] if s["reason"]))
        raise _fail(image, "none of its %d signature(s) is a valid one by a key of %s (%s)"
                    % (len(signatures), where, "; ".join(
                        (["signed by %s" % ", ".join(others)] if others else []) + reasons)),
                    "Sign it with a trusted key, or trust the key that signed it")
    return result


def _verify_sigstore(runner, image, digest, keys, where, result, auth_file, tls_verify, timeout):
    """``verify`` for sigstore keys (``[(PEM public key, signedIdentity)]``): the registry's attachment."""
    # pylint: disable=too-many-arguments,import-outside-toplevel
    from ansible_collections.eeforge.builder.plugins.module_utils import _sigstore as sigstore
    from ansible_collections.eeforge.builder.plugins.module_utils import _sigstore_signer as attachments
    manifest, blobs = attachments.read_attachment(runner, image, digest, auth_file, tls_verify, timeout)
    signatures = attachments.signatures_of(manifest, blobs)
    if not signatures:
        raise _fail(image, "it has no sigstore signature for %s in %s" % (digest, attachments.attachment_ref(image, digest)),
                    "Sign it (ee_build sigstore_private_key), or verify the tag that was signed")
    location = attachments.attachment_ref(image, digest)
    for number, (payload, signature) in enumerate(signatures):
        entry = {"location": "%s#%d" % (location, number + 1), "signed_by": None, "valid": False, "identity": None,
                 "reason": "by a key that is not trusted"}
        for key, signed_identity in keys:
            try:
                good = sigstore.verify_sigstore_signature(key, payload, signature)
            except SigningError as exc:
                raise _fail(image, "%s: %s" % (where, exc.cause), exc.fix)
            if not good:
                continue
            claims, reason = attachments.check_payload(payload, digest, identity_rule(image, signed_identity))
            entry.update(signed_by=sigstore.public_key_id(key), identity=(claims or {}).get("docker_reference"),
                         reason=reason, valid=reason is None)
            if entry["valid"]:
                break
        result["signatures"].append(entry)
    result["signed_by"] = sorted(set(s["signed_by"] for s in result["signatures"] if s["valid"]))
    if not result["signed_by"]:
        reasons = sorted(set(s["reason"] for s in result["signatures"] if s["reason"]))
        raise _fail(image, "none of its %d sigstore signature(s) is a valid one by a key of %s (%s)"
                    % (len(signatures), where, "; ".join(reasons)),
                    "Sign it with a trusted key, or trust the key that signed it")
    return result


def _check_one(runner, gpg, env, image, digest, location, data, timeout):
    rc, out, err = runner.run([gpg, "--batch", "--no-tty", "--no-autostart", "--status-fd", "2", "--decrypt"],
                              data=to_bytes(data), check=False, environ_update=env, timeout=timeout)
    sigs = parse_gpg_status(to_text(err))
    entry = {"location": location, "signed_by": None, "valid": False, "identity": None, "reason": None}
    if sigs:
        entry["signed_by"] = sigs[0]["fingerprint"] or sigs[0]["key_id"]
    good = [s for s in sigs if s["valid"]]
    if rc != 0 or not good:
        entry["reason"] = "by a key that is not trusted" if any(s.get("missing_key") for s in sigs) else \
            "not a good signature (%s)" % (sigs[0]["status"] if sigs else _last(err) or "unreadable")
        return entry
    try:
        claims = parse_signing_payload(out)
    except SigningError:
        entry["reason"] = "its payload is not a container signature"
        return entry
    entry["identity"] = claims["docker_reference"]
    if claims["manifest_digest"] != digest:
        entry["reason"] = "it signs another manifest (%s)" % claims["manifest_digest"]
    elif not _identity_matches(image, claims["docker_reference"]):
        entry["reason"] = "it names another image (%s)" % claims["docker_reference"]
    else:
        entry["valid"] = True
    return entry


def _last(text):
    lines = [line for line in to_text(text).splitlines() if line.strip() and not line.startswith("[GNUPG:]")]
    return lines[-1].strip() if lines else ""
