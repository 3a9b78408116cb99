# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signing material for the tests: GPG keys in a throw-away GNUPGHOME, cosign-format sigstore keys,
a loopback HTTP server publishing a lookaside signature directory, and a tiny image to sign.

Nothing here touches ``/etc/containers``, ``~/.gnupg`` or ``~/.config/containers``:
- ``GpgHome`` makes keys in a temp GNUPGHOME (0700) and, on ``close()``, stops its gpg-agent
  (``gpgconf --kill all`` with that GNUPGHOME) and removes it.
- ``LookasideServer`` serves a directory on 127.0.0.1 from a thread (http.server).
- ``make_cosign_key_pair`` writes cosign's encrypted private key format with ``cryptography``
  and PyNaCl: podman 4.3 and skopeo 1.9 have no key generator.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import importlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import sys
import threading

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_ROOT = os.path.join(REPO_ROOT, ".cache", "collections")

GPG_KEY_SPEC = """\
Key-Type: EDDSA
Key-Curve: ed25519
Key-Usage: sign
Name-Real: {name}
Name-Email: {email}
Expire-Date: 0
{protection}%commit
"""

# cosign's scrypt parameters ("standard" in go-tuf's encrypted package).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1


class GpgHome:
    """A temporary GNUPGHOME. Use as a context manager or call ``close()``.

    ``make_key(name, passphrase=None)`` returns the key's 40-hex fingerprint. A passphrase goes to
    gpg on stdin (``--pinentry-mode loopback --passphrase-fd 0``), never on argv.
    """

    def __init__(self, prefix="eeforge-gnupg-"):
        # Short path: gpg-agent's socket lives in it (sun_path is 108 bytes).
        self.path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        os.chmod(self.path, 0o700)
        with open(os.path.join(self.path, "gpg-agent.conf"), "w", encoding="utf-8") as handle:
            handle.write("allow-loopback-pinentry\n")
        self.env = dict(os.environ, GNUPGHOME=self.path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def gpg(self, args, input_data=None, check=True):
        return subprocess.run(
            ["gpg", "--batch", "--no-tty"] + list(args),
            input=input_data, env=self.env, capture_output=True, check=check, timeout=120,
        )

    def make_key(self, name="eeforge test", passphrase=None):
        email = "%s@eeforge.invalid" % name.replace(" ", "-")
        spec = GPG_KEY_SPEC.format(name=name, email=email, protection="" if passphrase else "%no-protection\n")
        spec_path = os.path.join(self.path, "keyspec-%s" % email)
        with open(spec_path, "w", encoding="utf-8") as handle:
            handle.write(spec)
        try:
            if passphrase:
                self.gpg(["--pinentry-mode", "loopback", "--passphrase-fd", "0", "--gen-key", spec_path],
                         input_data=passphrase.encode() + b"\n")
            else:
                self.gpg(["--gen-key", spec_path])
        finally:
            os.unlink(spec_path)
        out = self.gpg(["--with-colons", "--list-secret-keys", email]).stdout.decode()
        fprs = [line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")]
        return fprs[0]

    def export_public(self, fingerprint, path, armor=False):
        """Write the public key to ``path`` (a keyring file for a ``signedBy`` policy)."""
        data = self.gpg(["--export"] + (["--armor"] if armor else []) + [fingerprint]).stdout
        with open(path, "wb") as handle:
            handle.write(data)
        return path

    def export_secret(self, fingerprint, passphrase=None):
        """The armored secret key (for leak greps): bytes."""
        args = ["--armor", "--export-secret-keys", fingerprint]
        if passphrase:
            return self.gpg(["--pinentry-mode", "loopback", "--passphrase-fd", "0"] + args,
                            input_data=passphrase.encode() + b"\n").stdout
        return self.gpg(args).stdout

    def forget_passphrases(self):
        """Stop the agent so that the next signature must be given its passphrase again."""
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=self.env, capture_output=True, check=False)

    def agent_running(self):
        res = subprocess.run(["pgrep", "-f", "gpg-agent --homedir %s" % self.path], capture_output=True, check=False)
        return res.returncode == 0

    def close(self):
        if self.path and os.path.isdir(self.path):
            subprocess.run(["gpgconf", "--kill", "all"], env=self.env, capture_output=True, check=False)
            shutil.rmtree(self.path, ignore_errors=True)
        self.path = None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  pylint: disable=redefined-builtin
        self.server.requests.append(self.path)


class LookasideServer:
    """Serve ``directory`` read-only over HTTP on 127.0.0.1 from a thread; ``url``; ``stop()``.

    ``requests`` lists the paths asked for (a test can see that the pull looked up a signature).
    """

    def __init__(self, directory):
        self.directory = directory
        handler = functools.partial(_QuietHandler, directory=directory)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.requests = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    @property
    def requests(self):
        return self.httpd.requests

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def collection_module_utils(name):
    """One of the collection's module_utils (found as ansible_collections.eeforge.builder under .cache)."""
    link = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "eeforge", "builder")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO_ROOT, link)
    if COLLECTIONS_ROOT not in sys.path:
        sys.path.insert(0, COLLECTIONS_ROOT)
    return importlib.import_module("ansible_collections.eeforge.builder.plugins.module_utils." + name)


def signing_utils():
    """The collection's ``_signing`` and ``_sigstore`` module_utils."""
    return collection_module_utils("_signing"), collection_module_utils("_sigstore")


def make_cosign_key_pair(directory, passphrase, name="cosign", pem_type="ENCRYPTED COSIGN PRIVATE KEY"):
    """Write ``name.key`` (cosign's encrypted format) and ``name.pub`` into ``directory``.

    The private key is ECDSA P-256 PKCS#8 DER sealed with NaCl secretbox under a scrypt key
    (N=32768, r=8, p=1, 32-byte salt, 24-byte nonce), the JSON envelope go-tuf's ``encrypted``
    package reads, base64 in a PEM block. Returns ``(key_path, pub_path)``.
    """
    # pylint: disable=import-outside-toplevel
    import nacl.secret
    import nacl.utils
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt = nacl.utils.random(32)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    secret = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase.encode())
    sealed = nacl.secret.SecretBox(secret).encrypt(der, nonce).ciphertext
    envelope = json.dumps({
        "kdf": {"name": "scrypt", "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
                "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }, separators=(",", ":")).encode()
    body = base64.encodebytes(envelope).decode()
    key_path = os.path.join(directory, name + ".key")
    pub_path = os.path.join(directory, name + ".pub")
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("-----BEGIN %s-----\n%s-----END %s-----\n" % (pem_type, body, pem_type))
    with open(pub_path, "wb") as handle:
        handle.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_path, pub_path


def write_secret_file(directory, name, secret):
    """A 0600 file holding ``secret`` (for ``--sign-passphrase-file``); returns its path."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return path


def make_tiny_image(ref, workdir, content="eeforge signing test\n"):
    """``podman import`` a one-file tar as ``ref`` (a few hundred bytes; the base image is big)."""
    tar_path = os.path.join(workdir, "tiny.tar")
    src = os.path.join(workdir, "hello.txt")
    with open(src, "w", encoding="utf-8") as handle:
        handle.write(content)
    with tarfile.open(tar_path, "w") as tar:
        tar.add(src, arcname="hello.txt")
    subprocess.run(["podman", "import", "--change", 'CMD ["/hello.txt"]', tar_path, ref],
                   check=True, capture_output=True, timeout=120)
    return ref


def skopeo(args, env=None, check=True, timeout=300):
    """Run skopeo with a list of arguments; returns the CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    res = subprocess.run(["skopeo"] + list(args), env=full_env, check=False, capture_output=True,
                         text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise RuntimeError("skopeo %s failed (rc=%d): %s" % (" ".join(args), res.returncode, (res.stderr.strip() + " " + res.stdout.strip()[-500:]).strip()))
    return res


def attach_sigstore_signature(image, key_path, passphrase, workdir, policy, tls_verify=False):
    """Sign ``image`` (in a registry) with a cosign-format key and push the OCI attachment.

    Debian's podman 4.3.1 and skopeo 1.9.3 refuse to make sigstore signatures ("Debian-local
    change: sigstore disabled"), so the signature is made with the collection's helpers and the
    attachment goes to the registry through ``skopeo copy --preserve-digests oci:DIR docker://``.
    Returns the manifest digest that was signed.
    """
    _signing, _sigstore = signing_utils()
    tls = "--tls-verify=%s" % str(tls_verify).lower()
    digest = skopeo(["--policy", policy, "inspect", tls, "--format", "{{.Digest}}", "docker://" + image]).stdout.strip()
    with open(key_path, encoding="utf-8") as handle:
        private_key = _sigstore.decrypt_cosign_private_key(handle.read(), passphrase)
    name = _signing.signature_scope(image)
    payload = _sigstore.sigstore_payload(digest, name, creator="eeforge tests")
    attachment = _sigstore.sigstore_attachment([(payload, _sigstore.sign_sigstore_payload(private_key, payload))])
    layout = tempfile.mkdtemp(prefix="oci-attach-", dir=workdir)
    try:
        for rel, data in _sigstore.oci_layout_files(attachment["manifest"], attachment["blobs"]).items():
            path = os.path.join(layout, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)
        target = "docker://%s:%s" % (name, _sigstore.sigstore_attachment_tag(digest))
        skopeo(["--policy", policy, "copy", "--preserve-digests", "--dest-tls-verify=%s" % str(tls_verify).lower(),
                "oci:" + layout, target])
    finally:
        shutil.rmtree(layout, ignore_errors=True)
    return digest
