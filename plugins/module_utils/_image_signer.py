# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_build's GPG (simple signing) signatures of pushed images: look them up, and add one.

A signature is a file in a lookaside store (``signature_store``, a directory a web server can
publish to the execution nodes): ``<store>/<repository>@sha256=<hex>/signature-<n>``, the layout
containers/image reads and writes. An image is signed when one of those files is a good
signature by the ``sign_by`` key whose payload names exactly the pushed reference and its
manifest digest.

Signing runs ``skopeo copy --sign-by`` from the pushed manifest (by digest) to its tag, with a
private ``--registries.d`` that points the repository at the store, so:

- nothing is pushed twice and the manifest is kept byte for byte (``--preserve-digests``);
- the signatures already in the store (other keys, other runs) are read and kept: the new one is
  added after them;
- no file under /etc/containers or the user's ~/.config/containers is read or changed for it.

The passphrase reaches gpg and skopeo only as a file path (``--passphrase-file``,
``--sign-passphrase-file``); without one, the key must be usable as is (no passphrase, or one
gpg-agent holds). ``check()`` makes a throw-away signature first: podman and skopeo push the manifest
before they sign, so a wrong passphrase would otherwise be found with the tag already pushed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.eeforge.builder.plugins.module_utils._build_plan import UNKNOWN
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import split_ref, tls_flags
from ansible_collections.eeforge.builder.plugins.module_utils._registry import resolve_digest
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError, private_tempdir
from ansible_collections.eeforge.builder.plugins.module_utils._signing import (
    SigningError,
    gpg_sign_check_argv,
    gpg_sign_check_error,
    lookaside_path,
    parse_gpg_status,
    parse_signing_payload,
    policy_error,
    registries_d_config,
    signature_scope,
    write_registries_d,
)

_SIGNATURE_FILE = re.compile(r"^signature-([0-9]+)$")


class PushedImageSigner(object):
    """What the signers of pushed tags share; each has ``kind``, ``fingerprint``, ``check()``, ``find(ref, digest)``
    (where its good signature of ``ref`` at ``digest`` is, or None) and ``sign(ref, digest, auth_file)``."""

    kind = None

    def __init__(self, runner, tls_verify=True, timeout=600):
        self.runner = runner
        self.tls_verify = tls_verify
        self.timeout = timeout

    def find(self, ref, digest):
        raise NotImplementedError

    def signed_state(self, refs, remote):
        """``{ref: where its signature by this key is, or None}`` for the pushed ``refs`` as the registry
        has them now (``remote``: ``inspect_remote`` facts; a tag not there has no signature)."""
        state = {}
        for ref in refs:
            facts = remote.get(ref)
            digest = facts.get("digest") if isinstance(facts, dict) else None
            state[ref] = self.find(ref, digest) if digest else None
        return state


class GpgSigner(PushedImageSigner):
    """Signatures by one GPG key in one lookaside store (see the module docstring)."""

    kind = "gpg"

    def __init__(self, runner, key, store, passphrase_file=None, tls_verify=True, timeout=600):
        super(GpgSigner, self).__init__(runner, tls_verify=tls_verify, timeout=timeout)
        self.key = key
        self.store = store
        self.passphrase_file = passphrase_file
        self._fingerprint = None

    # -- the key ------------------------------------------------------------------------------
    def _gpg(self):
        gpg = self.runner.get_bin("gpg")
        if not gpg:
            raise SigningError("Failed to sign with GPG key %s: command 'gpg' is not in PATH" % self.key,
                               "Install gnupg where the task runs")
        return gpg

    @property
    def fingerprint(self):
        """The fingerprint ``sign_by`` names (a fingerprint, key id or user id of one secret key)."""
        if self._fingerprint is None:
            rc, out, err = self.runner.run([self._gpg(), "--batch", "--no-tty", "--with-colons",
                                            "--list-secret-keys", "--", self.key], check=False, timeout=60)
            fingerprints = []
            seen_sec = False
            for line in to_text(out).splitlines():
                fields = line.split(":")
                if fields[0] == "sec":
                    seen_sec = True
                elif fields[0] == "fpr" and seen_sec:
                    fingerprints.append(fields[9].upper())
                    seen_sec = False
            if rc != 0 or not fingerprints:
                raise gpg_sign_check_error(self.key, "No secret key\n" + to_text(err))
            if len(fingerprints) > 1:
                raise SigningError("Failed to sign with GPG key %s: it names %d secret keys (%s)"
                                   % (self.key, len(fingerprints), ", ".join(fingerprints)),
                                   "Give sign_by as the fingerprint of one of them")
            self._fingerprint = fingerprints[0]
        return self._fingerprint

    def check(self):
        """Prove that the key signs (and its passphrase works) before anything is pushed."""
        argv = gpg_sign_check_argv(self.key, self.passphrase_file)
        argv[0] = self._gpg()
        rc, _out, err = self.runner.run(argv, data=b"eeforge signing check", check=False, timeout=60)
        if rc != 0:
            raise gpg_sign_check_error(self.key, to_text(err))
        return self.fingerprint

    # -- the store ----------------------------------------------------------------------------
    def signature_files(self, ref, digest):
        """The store's signature files of ``ref``'s repository at ``digest``, in index order."""
        directory = os.path.join(self.store, os.path.dirname(lookaside_path(ref, digest)))
        try:
            names = os.listdir(directory)
        except OSError:
            return []
        found = sorted((int(m.group(1)), name) for m, name in ((_SIGNATURE_FILE.match(n), n) for n in names) if m)
        return [os.path.join(directory, name) for _index, name in found]

    def read_signature(self, path):
        """What one signature file says: its signers (``parse_gpg_status``) and its payload claims."""
        rc, out, err = self.runner.run([self._gpg(), "--batch", "--no-tty", "--status-fd", "2", "--decrypt", path],
                                       check=False, timeout=60)
        signers = parse_gpg_status(to_text(err))
        try:
            claims = parse_signing_payload(out) if rc == 0 else None
        except SigningError:
            claims = None
        return signers, claims

    def find(self, ref, digest):
        """The path of a good signature of ``ref`` at ``digest`` by this key, or None."""
        for path in self.signature_files(ref, digest):
            signers, claims = self.read_signature(path)
            if not claims or claims["manifest_digest"] != digest or claims["docker_reference"] != ref:
                continue
            if any(s["valid"] and s["fingerprint"] == self.fingerprint for s in signers):
                return path
        return None

    def sign(self, ref, digest, auth_file=None):
        """Add a signature of ``ref`` at ``digest`` to the store; return its path."""
        skopeo = self.runner.get_bin("skopeo")
        if not skopeo:
            raise SigningError("Failed to sign image '%s': command 'skopeo' is not in PATH" % ref,
                               "Install skopeo where the task runs (sign_by signs with 'skopeo copy --sign-by')")
        before = set(self.signature_files(ref, digest))
        if not os.path.isdir(self.store):
            os.makedirs(self.store, 0o755)
        name = split_ref(ref).name
        with private_tempdir(prefix="ee-build-sign-") as tmp:
            regd = write_registries_d(tmp, [registries_d_config(signature_scope(ref), lookaside=self.store)])
            argv = [skopeo]
            registries_conf = os.environ.get("CONTAINERS_REGISTRIES_CONF")
            if registries_conf and os.path.isfile(registries_conf):
                argv += ["--registries-conf", registries_conf]
            # The copy's source is the manifest this run pushed or found, by digest: no policy applies to it.
            argv += ["--insecure-policy", "--registries.d", regd, "copy", "--preserve-digests", "--sign-by", self.key]
            if self.passphrase_file:
                argv += ["--sign-passphrase-file", self.passphrase_file]
            flags = tls_flags(self.tls_verify)
            argv += [f.replace("--tls-verify", "--src-tls-verify") for f in flags]
            argv += [f.replace("--tls-verify", "--dest-tls-verify") for f in flags]
            if auth_file:
                argv += ["--authfile", auth_file]
            argv += ["docker://%s@%s" % (name, digest), "docker://%s" % ref]
            try:
                self.runner.run(argv, timeout=self.timeout)
            except CommandError as exc:
                refusal = policy_error(exc.stderr) or {}
                raise SigningError("Failed to sign image '%s': %s" % (ref, refusal.get("message") or exc.last_line()),
                                   "Check the key with 'gpg --list-secret-keys %s' and the registry's answer"
                                   % self.key)
        added = [p for p in self.signature_files(ref, digest) if p not in before]
        path = self.find(ref, digest)
        if not added or not path:
            raise SigningError("Failed to sign image '%s': skopeo wrote no signature by %s under %s"
                               % (ref, self.fingerprint, self.store),
                               "Check that the registry serves '%s@%s'" % (name, digest))
        return path


def make_signers(build, given):
    """ee_build's signers (a GpgSigner for ``sign_by``, a SigstoreSigner for ``sigstore_private_key``),
    each proven (``check()``) before anything is pushed."""
    params = build.params
    signers = []
    if given["signature_store"]:
        signers.append(GpgSigner(build.runner, params["sign_by"], given["signature_store"],
                                 params["sign_passphrase_file"], tls_verify=params["tls_verify"],
                                 timeout=params["timeout"]))
    if given["sigstore_key"]:
        from ansible_collections.eeforge.builder.plugins.module_utils._sigstore_signer import (  # pylint: disable=import-outside-toplevel
            SigstoreSigner,
        )
        signers.append(SigstoreSigner(build.module, given["sigstore_key"], params["sigstore_passphrase"],
                                      tls_verify=params["tls_verify"], timeout=params["timeout"]))
    for signer in signers:
        signer.check()
    return signers


def sign_pushed(build, result, signer, push_refs, to_sign, remote, signed):
    """ee_build's signing step (``build`` an EEBuild): sign what the plan says (``to_sign``); list
    every pushed tag's signature in ``result`` (in check mode, those that are there already)."""
    params = build.params
    check_mode = build.module.check_mode
    for ref in push_refs:
        if check_mode or ref not in build.pushed_digests:
            digest = (remote.get(ref) or {}).get("digest") if remote.get(ref) != UNKNOWN else None
            path = signed.get(ref)
        else:
            digest = build.pushed_digests[ref] or resolve_digest(
                build.module, ref, username=params["registry_username"], password=params["registry_password"],
                auth_file=params["auth_file"], tls_verify=params["tls_verify"])
            path = signer.find(ref, digest)
        new = False
        if path is None and ref in to_sign:
            if check_mode:
                continue
            with build.module.push_auth(ref) as auth_path:
                path = signer.sign(ref, digest, auth_path)
            new = True
        result["signatures"].append({"image": ref, "digest": digest, "signed_by": signer.fingerprint,
                                     "path": path, "new": new, "kind": signer.kind})
