# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sigstore signatures of pushed images as OCI attachments: read them, verify them, add one.

containers/image (``use-sigstore-attachments: true``) and cosign keep the signatures of manifest
``sha256:<hex>`` in the same repository, as the image ``<repository>:sha256-<hex>.sig``: one layer
per signature, the payload (``cosign container image signature``: the reference and the manifest
digest) as the blob, the base64 signature in the layer's annotation.

Debian 12's podman 4.3 and skopeo 1.9 are built with sigstore disabled, so the signature is made
here (``_sigstore``: a cosign-format key, decrypted in memory with ``cryptography`` and PyNaCl) and
the attachment is moved with skopeo between the registry and a private ``oci:`` layout
(``--preserve-digests``, so every byte is what was signed). Signing keeps the signatures already
there and adds the new one. The passphrase and the key reach no command, file or result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.eeforge.builder.plugins.module_utils import _sigstore as sigstore
from ansible_collections.eeforge.builder.plugins.module_utils._errors import classify
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import split_ref, tls_flags
from ansible_collections.eeforge.builder.plugins.module_utils._image_signer import PushedImageSigner
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError, private_tempdir
from ansible_collections.eeforge.builder.plugins.module_utils._signing import SigningError, parse_signing_payload


def attachment_ref(image, digest):
    """``<repository>:sha256-<hex>.sig``: where the sigstore signatures of ``image`` at ``digest`` are."""
    return "%s:%s" % (split_ref(image, require_tag=False).name, sigstore.sigstore_attachment_tag(digest))


def _skopeo_argv(runner, image):
    skopeo = runner.get_bin("skopeo")
    if not skopeo:
        raise SigningError("Failed to read the sigstore signatures of '%s': command 'skopeo' is not in PATH" % image,
                           "Install skopeo where the task runs")
    argv = [skopeo]
    registries_conf = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    if registries_conf and os.path.isfile(registries_conf):
        argv += ["--registries-conf", registries_conf]
    # The attachment is data about the image, judged here signature by signature: no policy applies to moving it.
    return argv + ["--insecure-policy", "copy", "--preserve-digests"]


def _read_layout(layout):
    """``(manifest bytes, {digest: bytes})`` of the one image in the ``oci:`` layout ``layout``."""
    blobs = {}
    blob_dir = os.path.join(layout, "blobs", "sha256")
    for name in os.listdir(blob_dir):
        with open(os.path.join(blob_dir, name), "rb") as handle:
            blobs["sha256:" + name] = handle.read()
    with open(os.path.join(layout, "index.json"), "rb") as handle:
        index = json.loads(to_text(handle.read()))
    return blobs[index["manifests"][0]["digest"]], blobs


def read_attachment(runner, image, digest, auth_file=None, tls_verify=True, timeout=300):
    """The attachment of ``image`` at ``digest``: ``(manifest bytes or None, {digest: blob bytes})``.

    None when the registry has no attachment (no signature yet). Raises SigningError in one line.
    """
    source = attachment_ref(image, digest)
    with private_tempdir(prefix="ee-sigstore-read-") as tmp:
        layout = os.path.join(tmp, "layout")
        argv = _skopeo_argv(runner, image) + [f.replace("--tls-verify", "--src-tls-verify") for f in tls_flags(tls_verify)]
        if auth_file:
            argv += ["--src-authfile", auth_file]
        try:
            runner.run(argv + ["docker://" + source, "oci:" + layout], timeout=timeout)
        except CommandError as exc:
            cause = exc.last_line()
            if classify(cause) == "not_found" or "manifest unknown" in cause.lower():
                return None, {}
            raise SigningError("Failed to read the sigstore signatures of '%s' (%s): %s" % (image, source, cause),
                               "Check that the registry is reachable and the credentials may read the repository")
        return _read_layout(layout)


def signatures_of(manifest, blobs):
    """``[(payload bytes, base64 signature)]`` in an attachment (layers whose payload blob is there)."""
    found = []
    for entry in sigstore.parse_sigstore_attachment(manifest) if manifest else []:
        payload = blobs.get(entry["payload_digest"])
        if payload is not None:
            found.append((payload, entry["signature"]))
    return found


def check_payload(payload, digest, accept_identity):
    """``(claims, reason)``: what a payload claims, and why it does not fit (None when it does)."""
    try:
        claims = parse_signing_payload(payload)
    except SigningError:
        return None, "its payload is not a container signature"
    if claims["format"] != "sigstore":
        return claims, "its payload is not a sigstore payload"
    if claims["manifest_digest"] != digest:
        return claims, "it signs another manifest (%s)" % claims["manifest_digest"]
    if not accept_identity(claims["docker_reference"]):
        return claims, "it names another image (%s)" % claims["docker_reference"]
    return claims, None


class SigstoreSigner(PushedImageSigner):
    """Signatures by one cosign-format key (``sigstore_private_key``) in the registry's attachments."""

    kind = "sigstore"

    def __init__(self, module, key_path, passphrase, tls_verify=True, timeout=600):
        super(SigstoreSigner, self).__init__(module.runner, tls_verify=tls_verify, timeout=timeout)
        self.module = module
        self.key_path = key_path
        self._passphrase = passphrase
        self._key = None
        self._public = None
        self.fingerprint = None

    def check(self):
        """Decrypt the key (in memory) before anything is pushed: a wrong passphrase fails first."""
        try:
            with open(self.key_path, "rb") as handle:
                pem = to_text(handle.read(), errors="surrogate_or_strict")
        except (IOError, OSError, UnicodeError) as exc:
            raise SigningError("Failed to read sigstore_private_key '%s': %s" % (
                self.key_path, getattr(exc, "strerror", None) or exc), "Give the key file cosign wrote (cosign.key)")
        try:
            self._key = sigstore.decrypt_cosign_private_key(pem, self._passphrase or "")
        except SigningError as exc:
            raise SigningError("%s ('%s')" % (exc.cause, self.key_path), exc.fix)
        from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
        self._public = self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)
        self.fingerprint = sigstore.public_key_id(self._public)
        return self.fingerprint

    def _auth(self, ref):
        return self.module.push_auth(ref)

    def _good(self, ref, digest, manifest, blobs):
        for payload, signature in signatures_of(manifest, blobs):
            claims, reason = check_payload(payload, digest, lambda identity: identity == ref)
            if reason is None and sigstore.verify_sigstore_signature(self._public, payload, signature):
                return claims
        return None

    def find(self, ref, digest, auth_file=None):
        """The attachment reference when ``ref`` at ``digest`` has a good signature by this key, else None."""
        with self._auth(ref) as auth_path:
            manifest, blobs = read_attachment(self.runner, ref, digest, auth_file or auth_path, self.tls_verify,
                                              self.timeout)
        return attachment_ref(ref, digest) if self._good(ref, digest, manifest, blobs) else None

    def sign(self, ref, digest, auth_file=None):
        """Add a signature of ``ref`` at ``digest`` to its attachment (keeping those there); return the attachment."""
        target = attachment_ref(ref, digest)
        with self._auth(ref) as own_auth:
            auth_path = auth_file or own_auth
            manifest, blobs = read_attachment(self.runner, ref, digest, auth_path, self.tls_verify, self.timeout)
            payload = sigstore.sigstore_payload(digest, ref, creator="eeforge.builder ee_build")
            signature = sigstore.sign_sigstore_payload(self._key, payload)
            attachment = sigstore.sigstore_attachment([(payload, signature)], existing_manifest=manifest)
            files = sigstore.oci_layout_files(attachment["manifest"], dict(blobs, **attachment["blobs"]))
            with private_tempdir(prefix="ee-sigstore-sign-") as tmp:
                layout = os.path.join(tmp, "layout")
                for relative, data in files.items():
                    path = os.path.join(layout, relative)
                    if not os.path.isdir(os.path.dirname(path)):
                        os.makedirs(os.path.dirname(path), 0o700)
                    with open(path, "wb") as handle:
                        handle.write(to_bytes(data))
                argv = _skopeo_argv(self.runner, ref) + [
                    f.replace("--tls-verify", "--dest-tls-verify") for f in tls_flags(self.tls_verify)]
                if auth_path:
                    argv += ["--dest-authfile", auth_path]
                try:
                    self.runner.run(argv + ["oci:" + layout, "docker://" + target], timeout=self.timeout)
                except CommandError as exc:
                    raise SigningError("Failed to push the sigstore signature of '%s' to %s: %s"
                                       % (ref, target, exc.last_line()),
                                       "Check that the credentials may push to the repository")
        if not self.find(ref, digest, auth_file):
            raise SigningError("Failed to sign image '%s': the registry does not serve the new signature at %s"
                               % (ref, target), "Check the registry's answer for '%s'" % target)
        return target
