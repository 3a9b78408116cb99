# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sigstore signatures as containers/image 5.23 (podman 4.3, skopeo 1.9) stores and reads them.

Pure functions: the attachment tag and OCI manifest that containers/image reads
(``use-sigstore-attachments``), the payload it verifies, and (with ``cryptography`` and PyNaCl,
imported only when called) decrypting a cosign-format private key, signing and verifying.
Debian's podman and skopeo are built with sigstore disabled, which is why the collection does
this itself (see docs/trust.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import re

from ansible_collections.eeforge.builder.plugins.module_utils._signing import (
    SIGSTORE_SIGNATURE_TYPE,
    SigningError,
    _bytes,
    _check_digest,
)

SIGSTORE_PAYLOAD_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGSTORE_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
OCI_MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
# containers/image 5.23 reads only this PEM type; later releases also read "ENCRYPTED SIGSTORE PRIVATE KEY".
COSIGN_PRIVATE_KEY_PEM_TYPES = ("ENCRYPTED COSIGN PRIVATE KEY", "ENCRYPTED SIGSTORE PRIVATE KEY")


def _sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sigstore_attachment_tag(manifest_digest):
    """The tag containers/image and cosign give the signatures of ``manifest_digest``."""
    _check_digest(manifest_digest)
    return manifest_digest.replace(":", "-", 1) + ".sig"


def sigstore_payload(manifest_digest, docker_reference, creator=None, timestamp=None):
    """The JSON bytes a sigstore signature covers (cosign's simple signing format)."""
    _check_digest(manifest_digest)
    optional = {}
    if creator:
        optional["creator"] = creator
    if timestamp is not None:
        optional["timestamp"] = int(timestamp)
    doc = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": SIGSTORE_SIGNATURE_TYPE,
        },
        "optional": optional,
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")


def sigstore_attachment(signatures, existing_manifest=None):
    """The OCI attachment holding sigstore ``signatures`` (list of ``(payload, base64 signature)``).

    ``existing_manifest`` (bytes or dict) is the attachment already in the registry: its layers are
    kept and a signature already there is not added twice. Returns
    ``{"manifest": bytes, "config": bytes, "blobs": {digest: bytes}, "added": n}``; the blobs are
    the new payloads and the config (the existing payload blobs are already in the registry).
    """
    layers = []
    if existing_manifest:
        old = json.loads(existing_manifest) if isinstance(existing_manifest, (bytes, str)) else existing_manifest
        layers = [dict(layer) for layer in old.get("layers") or []]
    blobs = {}
    added = 0
    for payload, signature in signatures:
        layer = {
            "mediaType": SIGSTORE_PAYLOAD_MEDIA_TYPE,
            "digest": _sha256(payload),
            "size": len(payload),
            "annotations": {SIGSTORE_SIGNATURE_ANNOTATION: signature},
        }
        if layer in layers:
            continue
        layers.append(layer)
        blobs[layer["digest"]] = payload
        added += 1
    config = json.dumps({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
    }, separators=(",", ":")).encode("utf-8")
    blobs[_sha256(config)] = config
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": OCI_CONFIG_MEDIA_TYPE, "digest": _sha256(config), "size": len(config)},
        "layers": layers,
    }, separators=(",", ":")).encode("utf-8")
    return {"manifest": manifest, "config": config, "blobs": blobs, "added": added}


def oci_layout_files(manifest, blobs):
    """The files of an OCI image layout (``oci:`` transport) holding ``manifest`` and ``blobs``.

    Returns ``{relative path: bytes}``. ``skopeo copy --preserve-digests oci:DIR docker://...``
    pushes it unchanged (skopeo would otherwise compress the payload layers).
    """
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    for digest, data in blobs.items():
        files["blobs/sha256/" + digest.split(":", 1)[1]] = data
    files["blobs/sha256/" + hashlib.sha256(manifest).hexdigest()] = manifest
    files["index.json"] = json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_MANIFEST_MEDIA_TYPE, "digest": _sha256(manifest), "size": len(manifest)}],
    }, separators=(",", ":")).encode("utf-8")
    return files


def parse_sigstore_attachment(manifest):
    """The signatures an attachment manifest lists: ``[{"payload_digest", "signature"}]``."""
    doc = json.loads(manifest) if isinstance(manifest, (bytes, str)) else manifest
    found = []
    for layer in doc.get("layers") or []:
        sig = (layer.get("annotations") or {}).get(SIGSTORE_SIGNATURE_ANNOTATION)
        if layer.get("mediaType") == SIGSTORE_PAYLOAD_MEDIA_TYPE and sig:
            found.append({"payload_digest": layer.get("digest"), "signature": sig})
    return found


def _crypto():
    """``cryptography`` and PyNaCl, imported when a sigstore key is used (a clear error if missing)."""
    try:
        # pylint: disable=import-outside-toplevel
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
        import nacl.exceptions
        import nacl.secret
    except ImportError as exc:
        raise SigningError("Failed to use the sigstore key: the Python library '%s' is missing where the "
                           "module runs" % (getattr(exc, "name", None) or exc),
                           "Install cryptography and PyNaCl (pip install cryptography pynacl)")
    return {
        "InvalidSignature": InvalidSignature, "hashes": hashes, "serialization": serialization,
        "ec": ec, "ed25519": ed25519, "padding": padding, "rsa": rsa, "Scrypt": Scrypt,
        "CryptoError": nacl.exceptions.CryptoError, "SecretBox": nacl.secret.SecretBox,
    }


def _pem_body(pem_text, types):
    lines = (pem_text or "").strip().splitlines()
    if len(lines) < 3:
        return None, None
    match = re.match(r"^-----BEGIN (.+)-----$", lines[0].strip())
    if not match or match.group(1) not in types or lines[-1].strip() != "-----END %s-----" % match.group(1):
        return None, match.group(1) if match else None
    try:
        return base64.b64decode("".join(line.strip() for line in lines[1:-1])), match.group(1)
    except (ValueError, TypeError):
        return None, match.group(1)


def decrypt_cosign_private_key(pem_text, passphrase):
    """The private key object of a cosign-format key (scrypt + NaCl secretbox around PKCS#8 DER).

    Raises SigningError, never naming the passphrase, on a wrong format or passphrase.
    """
    lib = _crypto()
    body, pem_type = _pem_body(pem_text, COSIGN_PRIVATE_KEY_PEM_TYPES)
    if body is None:
        raise SigningError("Failed to read the sigstore private key: it is a '%s' PEM block, not an encrypted "
                           "cosign key" % (pem_type or "no"),
                           "Give a key made by 'cosign generate-key-pair' (ENCRYPTED COSIGN PRIVATE KEY)")
    try:
        doc = json.loads(body.decode("utf-8"))
        kdf, cipher = doc["kdf"], doc["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox":
            raise ValueError("unsupported kdf or cipher")
        params = kdf["params"]
        key = lib["Scrypt"](salt=base64.b64decode(kdf["salt"]), length=32, n=int(params["N"]),
                            r=int(params["r"]), p=int(params["p"])).derive(_bytes(passphrase))
        nonce = base64.b64decode(cipher["nonce"])
        ciphertext = base64.b64decode(doc["ciphertext"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise SigningError("Failed to read the sigstore private key: its encrypted body is malformed (%s)"
                           % exc.__class__.__name__, "Give the key file exactly as cosign wrote it")
    try:
        der = lib["SecretBox"](key).decrypt(ciphertext, nonce)
    except lib["CryptoError"]:
        raise SigningError("Failed to decrypt the sigstore private key: the passphrase does not open it",
                           "Give the passphrase the key was made with")
    return lib["serialization"].load_der_private_key(der, password=None)


def sign_sigstore_payload(private_key, payload):
    """Sign ``payload`` as containers/image verifies it (SHA-256; ECDSA DER, RSA PKCS#1 v1.5, Ed25519).

    Returns the base64 signature for the attachment annotation.
    """
    lib = _crypto()
    if isinstance(private_key, lib["ec"].EllipticCurvePrivateKey):
        sig = private_key.sign(payload, lib["ec"].ECDSA(lib["hashes"].SHA256()))
    elif isinstance(private_key, lib["rsa"].RSAPrivateKey):
        sig = private_key.sign(payload, lib["padding"].PKCS1v15(), lib["hashes"].SHA256())
    elif isinstance(private_key, lib["ed25519"].Ed25519PrivateKey):
        sig = private_key.sign(payload)
    else:
        raise SigningError("Failed to sign: the sigstore key is a %s" % type(private_key).__name__,
                           "Use an ECDSA P-256, RSA or Ed25519 key")
    return base64.b64encode(sig).decode("ascii")


def verify_sigstore_signature(public_key_pem, payload, signature):
    """Whether ``signature`` (base64) over ``payload`` verifies with the PEM public key."""
    lib = _crypto()
    try:
        key = lib["serialization"].load_pem_public_key(_bytes(public_key_pem))
    except ValueError:
        raise SigningError("Failed to read the sigstore public key: it is not a PEM public key",
                           "Give the .pub file cosign wrote (BEGIN PUBLIC KEY)")
    try:
        raw = base64.b64decode(signature)
        if isinstance(key, lib["ec"].EllipticCurvePublicKey):
            key.verify(raw, payload, lib["ec"].ECDSA(lib["hashes"].SHA256()))
        elif isinstance(key, lib["rsa"].RSAPublicKey):
            key.verify(raw, payload, lib["padding"].PKCS1v15(), lib["hashes"].SHA256())
        elif isinstance(key, lib["ed25519"].Ed25519PublicKey):
            key.verify(raw, payload)
        else:
            return False
    except (lib["InvalidSignature"], ValueError, TypeError):
        return False
    return True


def public_key_id(public_key_pem):
    """A short stable name of a PEM public key: ``sha256:`` of its DER SubjectPublicKeyInfo."""
    lib = _crypto()
    key = lib["serialization"].load_pem_public_key(_bytes(public_key_pem))
    der = key.public_bytes(lib["serialization"].Encoding.DER, lib["serialization"].PublicFormat.SubjectPublicKeyInfo)
    return _sha256(der)
