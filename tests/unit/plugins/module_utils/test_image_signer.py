# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_build's GPG signer on a fake runner: the inputs it refuses, how it reads the store and the
skopeo command it signs with (the real gpg/skopeo/registry run is tests/integration/test_ee_build_signing.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildInputError
from ansible_collections.eeforge.builder.plugins.module_utils._build_inputs import check_signing_inputs
from ansible_collections.eeforge.builder.plugins.module_utils._image_signer import GpgSigner
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError
from ansible_collections.eeforge.builder.plugins.module_utils._signing import (
    DEFAULT_SIGNATURE_STORE,
    SigningError,
    lookaside_path,
)

FPR = "3A1F5C0E9B7D4E2F8A6C1B0D9E8F7A6B5C4D3E2F"
OTHER = "B" * 40
REF = "registry.example.com/ee/aws:1.0"
DIGEST = "sha256:" + "d" * 64


def payload(ref=REF, digest=DIGEST):
    return json.dumps({"critical": {"type": "atomic container signature", "image": {"docker-manifest-digest": digest},
                                    "identity": {"docker-reference": ref}}, "optional": {}}).encode()


class FakeRunner(object):
    """Answers gpg and skopeo from tables; records every argv."""

    def __init__(self, store, signatures=None, sign_fails=None):
        self.store = store
        self.signatures = signatures or {}  # file name -> (fingerprint, payload bytes)
        self.sign_fails = sign_fails
        self.argvs = []

    def get_bin(self, name, required=False):  # pylint: disable=unused-argument
        return "/usr/bin/" + name

    def run(self, argv, data=None, check=True, timeout=None, **kwargs):  # pylint: disable=unused-argument
        self.argvs.append(list(argv))
        if "--list-secret-keys" in argv:
            return 0, "sec:u:255:22:%s:1::::::scESC:::+:::23::0:\nfpr:::::::::%s:\n" % (FPR[-16:], FPR), ""
        if "--detach-sign" in argv:
            return 0, "-----BEGIN PGP SIGNATURE-----", ""
        if "--decrypt" in argv:
            fpr, data_out = self.signatures[os.path.basename(os.path.dirname(argv[-1])) + "/" +
                                            os.path.basename(argv[-1])]
            return 0, data_out, "[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG %s x\n[GNUPG:] VALIDSIG %s x\n" % (fpr[-16:], fpr)
        if os.path.basename(argv[0]) == "skopeo":
            if self.sign_fails:
                raise CommandError(argv, 1, "", self.sign_fails)
            self._write(FPR, payload())
            return 0, "", ""
        raise AssertionError(argv)

    def _write(self, fpr, data):
        directory = os.path.join(self.store, os.path.dirname(lookaside_path(REF, DIGEST)))
        os.makedirs(directory, exist_ok=True)
        index = len([n for n in os.listdir(directory) if n.startswith("signature-")]) + 1
        name = "signature-%d" % index
        with open(os.path.join(directory, name), "wb") as handle:
            handle.write(b"binary")
        self.signatures[os.path.basename(directory) + "/" + name] = (fpr, data)


def signer(tmp_path, **kwargs):
    runner = FakeRunner(str(tmp_path / "store"), **kwargs)
    return runner, GpgSigner(runner, "release@example.com", str(tmp_path / "store"), passphrase_file="/run/pp")


@pytest.mark.parametrize("params, fragment", [
    ({"sign_by": None, "signature_store": "/srv/s"}, "signature_store is set but sign_by is not"),
    ({"sign_by": None, "sign_passphrase_file": "/pp"}, "sign_passphrase_file is set but sign_by is not"),
    ({"sign_by": FPR, "push": False}, "push is false"),
    ({"sign_by": FPR, "push": True, "signature_store": "relative/dir"}, "not an absolute path"),
    ({"sign_by": FPR, "push": True, "sign_passphrase_file": "/nonexistent/pp"}, "does not exist"),
])
def test_signing_inputs_are_refused_in_one_line(params, fragment):
    with pytest.raises(BuildInputError) as err:
        check_signing_inputs(params)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_signature_store_defaults_to_containers_images_staging_dir():
    assert check_signing_inputs({"sign_by": FPR, "push": True}) == DEFAULT_SIGNATURE_STORE == "/var/lib/containers/sigstore"
    assert check_signing_inputs({"sign_by": None, "push": True}) is None


def test_a_store_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(BuildInputError, match="is not a directory"):
        check_signing_inputs({"sign_by": FPR, "push": True, "signature_store": str(path)})


def test_find_wants_this_key_this_tag_and_this_digest(tmp_path):
    runner, gpg = signer(tmp_path)
    assert gpg.find(REF, DIGEST) is None  # no store yet
    runner._write(OTHER, payload())  # pylint: disable=protected-access
    runner._write(FPR, payload(ref="registry.example.com/ee/aws:latest"))  # pylint: disable=protected-access
    runner._write(FPR, payload(digest="sha256:" + "e" * 64))  # pylint: disable=protected-access
    assert gpg.find(REF, DIGEST) is None
    runner._write(FPR, payload())  # pylint: disable=protected-access
    assert gpg.find(REF, DIGEST).endswith("/ee/aws@sha256=%s/signature-4" % ("d" * 64))
    assert gpg.fingerprint == FPR


def test_sign_copies_the_pushed_digest_to_its_tag_with_a_private_registries_d(tmp_path):
    runner, gpg = signer(tmp_path)
    path = gpg.sign(REF, DIGEST, auth_file="/run/auth.json")
    assert path.endswith("signature-1")
    skopeo = [a for a in runner.argvs if a[0].endswith("skopeo")][0]
    assert skopeo[-2:] == ["docker://registry.example.com/ee/aws@" + DIGEST, "docker://" + REF]
    for flag in ("--insecure-policy", "--preserve-digests", "--src-tls-verify=true", "--dest-tls-verify=true"):
        assert flag in skopeo
    assert skopeo[skopeo.index("--sign-by") + 1] == "release@example.com"  # as the user wrote it
    assert skopeo[skopeo.index("--sign-passphrase-file") + 1] == "/run/pp"
    assert skopeo[skopeo.index("--authfile") + 1] == "/run/auth.json"
    regd = skopeo[skopeo.index("--registries.d") + 1]
    assert not os.path.exists(regd)  # private, removed after the command


def test_sign_that_writes_no_signature_fails_in_one_line(tmp_path):
    runner, gpg = signer(tmp_path, sign_fails="time=x level=fatal msg=\"Error writing signature: denied\"")
    with pytest.raises(SigningError) as err:
        gpg.sign(REF, DIGEST)
    assert "Failed to sign image '%s'" % REF in str(err.value) and "\n" not in str(err.value)
    assert runner.argvs


def test_check_reports_a_bad_passphrase(tmp_path):
    runner, gpg = signer(tmp_path)

    def bad(argv, data=None, check=True, timeout=None, **kwargs):  # pylint: disable=unused-argument
        return 2, "", "gpg: signing failed: Bad passphrase\n[GNUPG:] BAD_PASSPHRASE %s\n" % FPR[-16:]
    runner.run = bad
    with pytest.raises(SigningError, match="passphrase does not unlock it"):
        gpg.check()
