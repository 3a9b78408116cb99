# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image signing and verification helpers for podman/skopeo (containers/image).

Pure functions, no podman or skopeo call here (the engine runs the commands):

- ``write_registries_d()`` / ``write_policy()`` write a private ``registries.d`` directory and a
  containers-policy.json(5) file into a directory the caller owns (a private temp dir removed after
  the command). Nothing here touches ``/etc/containers`` or the user's ``~/.config/containers``.
- ``policy_error()`` turns the one line podman/skopeo print when a policy refuses an image into a
  reason (``unsigned``, ``untrusted_key``, ``sigstore_unsupported``...) and the signer it names.
- ``parse_gpg_status()`` / ``parse_signing_payload()`` read what ``gpg --status-fd`` says about a
  simple-signing signature and what the signed payload claims (reference, manifest digest).
- sigstore signatures (attachments, cosign keys) are in ``_sigstore``.

How containers/image 5.23 (podman 4.3, skopeo 1.9) finds these files (see docs/trust.md):

- skopeo takes both as global flags: ``skopeo --policy FILE --registries.d DIR copy ...``.
- podman has a hidden ``--signature-policy FILE`` on ``pull``/``push`` and no registries.d flag: it
  reads ``$HOME/.config/containers/registries.d`` when that exists, else ``/etc/containers/registries.d``.
  ``registries_d_home()`` lays out such a private HOME.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildFamilyError
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import ImageRefError, split_ref

# containers/image's own default lookaside staging (registries.d/default.yaml of Debian and Fedora).
DEFAULT_SIGNATURE_STORE = "/var/lib/containers/sigstore"
REGISTRIES_D_FILE = "eeforge.yaml"
POLICY_FILE = "policy.json"

ATOMIC_SIGNATURE_TYPE = "atomic container signature"
SIGSTORE_SIGNATURE_TYPE = "cosign container image signature"

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class SigningError(BuildFamilyError):
    """A signing or verification step that failed, with ``cause`` and ``fix``."""


def signature_scope(image):
    """The policy/registries.d scope of ``image``: ``registry/repository`` (no tag, no digest).

    containers/image matches a ``docker`` transport scope against the fully expanded name
    (``docker.io/library/ubuntu``), so the scope is written that way.
    """
    try:
        return split_ref(image).name
    except ImageRefError as exc:
        raise SigningError("Failed to configure signatures for '%s': %s" % (image, exc),
                           "Give a reference like 'registry.example.com/ee/name:1.0'")


def lookaside_path(image, manifest_digest, index=1):
    """Where a simple signing signature of ``image`` lives under a lookaside root (relative path).

    ``<repository>@sha256=<hex>/signature-<index>``: containers/image's layout, counted from 1;
    the registry host is not part of it.
    """
    _check_digest(manifest_digest)
    repository = split_ref(image).repository
    return "%s@%s/signature-%d" % (repository, manifest_digest.replace(":", "=", 1), index)


def registries_d_config(scope, lookaside=None, lookaside_staging=None, use_sigstore_attachments=None):
    """The registries.d document for one scope (a dict).

    ``lookaside``: URL signatures are read from (``https://...``, ``file:///...``);
    ``lookaside_staging``: a ``file://`` URL signatures are written to when it differs from the
    read URL; ``use_sigstore_attachments``: read and write sigstore signatures as OCI attachments.
    """
    entry = {}
    for key, value in (("lookaside", lookaside), ("lookaside-staging", lookaside_staging)):
        if value:
            entry[key] = _signature_url(value, key)
    if use_sigstore_attachments is not None:
        entry["use-sigstore-attachments"] = bool(use_sigstore_attachments)
    if not entry:
        raise SigningError("Failed to configure signatures for '%s': no signature store given" % scope,
                           "Give a lookaside URL, a staging directory or sigstore attachments")
    return {"docker": {scope: entry}}


def _signature_url(value, key):
    if value.startswith("/"):
        return "file://" + value
    if re.match(r"^(file|https?)://", value):
        if key == "lookaside-staging" and not value.startswith("file://"):
            raise SigningError("Failed to configure signature staging at '%s': podman and skopeo "
                               "write signatures only to local directories" % value,
                               "Give a directory (or file:// URL) and publish it with a web server")
        return value
    raise SigningError("Failed to configure signature store '%s': it is neither an absolute path nor "
                       "a file://, http:// or https:// URL" % value,
                       "Give for example /srv/sigstore or https://sigstore.example.com")


def write_registries_d(directory, configs):
    """Write ``configs`` (registries.d documents) into ``directory``/registries.d, return that dir.

    The file is JSON, which is YAML, so no value needs quoting rules. It is created 0600.
    """
    regd = os.path.join(directory, "registries.d")
    if not os.path.isdir(regd):
        os.makedirs(regd, 0o700)
    merged = {"docker": {}}
    for config in configs:
        for scope, entry in config.get("docker", {}).items():
            if scope in merged["docker"]:
                raise SigningError("Failed to configure signatures: scope '%s' given twice" % scope,
                                   "Give one signature store per registry repository")
            merged["docker"][scope] = entry
    _write_private(os.path.join(regd, REGISTRIES_D_FILE), json.dumps(merged, indent=2, sort_keys=True) + "\n")
    return regd


def registries_d_home(directory, configs, policy=None):
    """Lay out ``directory`` as a HOME whose ``.config/containers/registries.d`` holds ``configs``.

    podman 4.3 has no registries.d flag; run it with ``HOME=directory`` for that one command.
    With ``policy`` (a policy document) the HOME also gets ``.config/containers/policy.json``, which
    podman reads instead of ``/etc/containers/policy.json`` (no hidden ``--signature-policy`` needed).
    Returns the HOME path.
    """
    containers = os.path.join(directory, ".config", "containers")
    if not os.path.isdir(containers):
        os.makedirs(containers, 0o700)
    write_registries_d(containers, configs)
    if policy is not None:
        write_policy(containers, policy)
    return directory


def gpg_requirement(key_path, signed_identity=None):
    """A ``signedBy`` requirement: GPG keys (a keyring file, binary or armored) in ``key_path``."""
    req = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": key_path}
    if signed_identity:
        req["signedIdentity"] = signed_identity
    return req


def sigstore_requirement(key_path, signed_identity=None):
    """A ``sigstoreSigned`` requirement: a PEM public key in ``key_path``."""
    req = {"type": "sigstoreSigned", "keyPath": key_path}
    if signed_identity:
        req["signedIdentity"] = signed_identity
    return req


def key_kind(data):
    """What a verification key file holds: ``gpg`` (a binary or armored OpenPGP keyring) or ``sigstore``
    (a PEM public key). Raises SigningError for a private key or anything else.
    """
    head = _bytes(data)[:64]
    text = head.decode("latin-1")
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" in text:
        return "gpg"
    if "-----BEGIN PUBLIC KEY-----" in text:
        return "sigstore"
    if "PRIVATE KEY" in text:
        raise SigningError("Failed to use the verification key: it is a private key",
                           "Give the public key (gpg --export FPR, or the .pub file of the key pair)")
    # A binary OpenPGP packet: new format (0xC6 = public key) or old format public key tags (0x98, 0x99).
    if head[:1] and head[0] in (0x98, 0x99, 0xC6):
        return "gpg"
    raise SigningError("Failed to use the verification key: it is neither an OpenPGP public key nor a PEM public key",
                       "Give 'gpg --export FPR' output (binary or --armor) or a sigstore .pub file")


def policy_document(scopes, default=None):
    """A containers-policy.json(5) document.

    ``scopes`` maps a ``docker`` scope (``registry/repository`` or ``registry``) to its list of
    requirements; everything else gets ``default`` (``reject`` when not given). Local transports
    used by podman itself (``containers-storage``, ``docker-daemon``, ``oci``, ``dir``) accept
    anything, so a push from local storage is not refused by the policy meant for the pull.
    """
    docker = {}
    for scope, reqs in scopes.items():
        if not reqs:
            raise SigningError("Failed to write the signature policy: scope '%s' has no requirement" % scope,
                               "Give at least one requirement")
        docker[scope] = list(reqs)
    accept = [{"type": "insecureAcceptAnything"}]
    transports = {"docker": docker}
    for local in ("containers-storage", "docker-daemon", "oci", "dir", "docker-archive", "oci-archive"):
        transports[local] = {"": accept}
    return {"default": list(default or [{"type": "reject"}]), "transports": transports}


def write_policy(directory, document):
    """Write ``document`` as ``directory``/policy.json (0600), return its path."""
    path = os.path.join(directory, POLICY_FILE)
    _write_private(path, json.dumps(document, indent=2, sort_keys=True) + "\n")
    return path


def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


# What containers/image 5.23 prints when a policy refuses an image, most specific first.
_POLICY_ERRORS = (
    ("sigstore_unsupported", re.compile(r"Debian-local change: sigstore disabled")),
    ("unsigned", re.compile(r"A signature was required, but no signature exists")),
    ("untrusted_key", re.compile(r"Invalid GPG signature: .*?Fingerprint:\s*\\?\"(?P<signer>[0-9A-Fa-f]+)")),
    ("untrusted_key", re.compile(r"cryptographic signature verification failed")),
    ("untrusted_key", re.compile(r"Signature by key (?P<signer>[0-9A-Fa-f]+) is not accepted")),
    ("identity_mismatch", re.compile(r"Signature for identity (?P<signer>\S+) is not accepted")),
    ("digest_mismatch", re.compile(r"Signature for docker digest \S+ does not match")),
    ("rejected", re.compile(r"Running image \S+ is rejected by policy")),
    ("rejected", re.compile(r"Source image rejected: (?P<signer>.*)")),
)


def policy_error(stderr):
    """Classify a policy refusal in podman/skopeo ``stderr``.

    Returns ``{"reason": ..., "signer": fingerprint or None, "message": one line}`` or None when
    ``stderr`` holds no policy refusal (a network or auth error, for example).
    """
    text = stderr or ""
    for reason, pattern in _POLICY_ERRORS:
        match = pattern.search(text)
        if match:
            signer = match.groupdict().get("signer")
            if reason == "rejected":
                signer = None
            line = _message_line(text, match.start())
            return {"reason": reason, "signer": signer.upper() if signer and reason == "untrusted_key" else signer,
                    "message": line}
    return None


def _message_line(text, pos):
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start:end if end >= 0 else len(text)]
    match = re.search(r'msg="(.*)"\s*$', line)
    if match:
        line = match.group(1).replace('\\"', '"')
    line = re.sub(r"^Error:\s*", "", line.strip())
    return line


def gpg_sign_check_argv(fingerprint, passphrase_file=None):
    """argv of a throw-away GPG signature that proves the key and passphrase work before a push.

    podman and skopeo push the manifest before they sign, so a wrong passphrase would leave the tag
    pushed unsigned. Run it with GNUPGHOME in the environment and a few bytes on stdin; the signature
    goes to stdout (never ``--output /dev/null``: gpg replaces or unlinks its output file). Exit
    status 0: signing will work (a passphrase the agent holds counts, as it does for podman).
    """
    argv = ["gpg", "--batch", "--no-tty", "--status-fd", "2", "--local-user", fingerprint]
    if passphrase_file:
        argv += ["--pinentry-mode", "loopback", "--passphrase-file", passphrase_file]
    return argv + ["--armor", "--detach-sign"]


def gpg_sign_check_error(fingerprint, stderr):
    """Why ``gpg_sign_check_argv`` failed, as one ``SigningError``."""
    text = stderr or ""
    if "Bad passphrase" in text or "BAD_PASSPHRASE" in text:
        return SigningError("Failed to sign with GPG key %s: the passphrase does not unlock it" % fingerprint,
                            "Give the key's passphrase in sign_passphrase_file")
    if "No secret key" in text or "INV_SGNR" in text:
        return SigningError("Failed to sign with GPG key %s: the keyring holds no secret key for it" % fingerprint,
                            "Import the secret key into the GNUPGHOME the module uses, or give its fingerprint")
    if "No passphrase given" in text or "Inappropriate ioctl" in text or "MISSING_PASSPHRASE" in text:
        return SigningError("Failed to sign with GPG key %s: the key needs a passphrase and none was given" % fingerprint,
                            "Give sign_passphrase_file, or unlock the key in gpg-agent first")
    last = [line for line in text.splitlines() if line.strip() and not line.startswith("[GNUPG:]")]
    return SigningError("Failed to sign with GPG key %s: %s" % (fingerprint, last[-1] if last else "gpg failed"),
                        "Check the key with 'gpg --list-secret-keys %s'" % fingerprint)


def parse_gpg_status(status_text):
    """The signatures ``gpg --status-fd`` reported, as a list of dicts.

    Each has ``key_id`` (16 hex), ``fingerprint`` (40 hex or None), ``valid`` (a good signature by
    a key in the keyring) and ``status`` (GOODSIG, BADSIG, EXPSIG, EXPKEYSIG, REVKEYSIG, ERRSIG).
    ``NO_PUBKEY`` marks a signature by a key that is not in the keyring (``status`` ``ERRSIG``).
    """
    sigs = []
    current = None
    for raw in (status_text or "").splitlines():
        if not raw.startswith("[GNUPG:] "):
            continue
        parts = raw[len("[GNUPG:] "):].split()
        if not parts:
            continue
        keyword, args = parts[0], parts[1:]
        if keyword in ("NEWSIG",):
            current = None
        elif keyword in ("GOODSIG", "BADSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG") and args:
            current = {"key_id": args[0].upper(), "fingerprint": None, "valid": False, "status": keyword}
            sigs.append(current)
        elif keyword == "ERRSIG" and args:
            fpr = args[6].upper() if len(args) > 6 and re.match(r"^[0-9A-Fa-f]{40}$", args[6]) else None
            current = {"key_id": args[0].upper(), "fingerprint": fpr, "valid": False, "status": "ERRSIG"}
            sigs.append(current)
        elif keyword == "VALIDSIG" and args and current is not None:
            current["fingerprint"] = args[0].upper()
            current["valid"] = current["status"] == "GOODSIG"
        elif keyword == "NO_PUBKEY" and current is not None:
            current["missing_key"] = True
    return sigs


def parse_signing_payload(data):
    """What a simple-signing or sigstore payload claims: reference, manifest digest, creator, time.

    ``data`` is the JSON bytes (gpg's decrypted output, or a sigstore attachment layer).
    Raises SigningError when it is not such a payload.
    """
    try:
        doc = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
        critical = doc["critical"]
        kind = critical["type"]
        digest = critical["image"]["docker-manifest-digest"]
        reference = critical["identity"]["docker-reference"]
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise SigningError("Failed to read a signature: its payload is not a container signature (%s)"
                           % exc.__class__.__name__, "Check the signature store holds signatures of images")
    if kind not in (ATOMIC_SIGNATURE_TYPE, SIGSTORE_SIGNATURE_TYPE):
        raise SigningError("Failed to read a signature: unknown signature type '%s'" % kind,
                           "Only simple signing and sigstore signatures are supported")
    optional = doc.get("optional") or {}
    return {
        "format": "simple-signing" if kind == ATOMIC_SIGNATURE_TYPE else "sigstore",
        "docker_reference": reference,
        "manifest_digest": digest,
        "creator": optional.get("creator"),
        "timestamp": optional.get("timestamp"),
    }


def _check_digest(manifest_digest):
    if not _DIGEST_RE.match(manifest_digest or ""):
        raise SigningError("Failed to locate signatures: '%s' is not a sha256 manifest digest" % manifest_digest,
                           "Give the digest the registry reports, sha256: and 64 hex digits")


def _bytes(value):
    if value is None:
        return b""
    return value if isinstance(value, bytes) else value.encode("utf-8")
