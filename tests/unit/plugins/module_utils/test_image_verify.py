# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_info's verify_signature without gpg: which keys a key or policy file trusts, which signature files
are read, and which signed identities match (the gpg runs are in tests/integration/test_ee_build_signing.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._image_verify import (
    _identity_matches,
    read_signatures,
    trusted_keys,
    verify,
)
from ansible_collections.eeforge.builder.plugins.module_utils._signing import SigningError, lookaside_path

IMAGE = "registry.example.com/ee/aws:1.2"
DIGEST = "sha256:" + "a" * 64
GPG_KEY = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n-----END PGP PUBLIC KEY BLOCK-----\n"


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return str(path)


def test_a_gpg_key_file_is_trusted_as_is(tmp_path):
    key = write(tmp_path, "release.asc", GPG_KEY)
    assert trusted_keys(IMAGE, key) == ("keys", [GPG_KEY], key)


def test_a_sigstore_key_is_trusted_for_sigstore_signatures(tmp_path):
    pem = b"-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
    key = write(tmp_path, "cosign.pub", pem)
    assert trusted_keys(IMAGE, key) == ("sigstore", [(pem, None)], key)


def test_sigstore_signed_policy_requirements_keep_their_signed_identity(tmp_path):
    pem = b"-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
    key = write(tmp_path, "cosign.pub", pem)
    identity = {"type": "matchRepository"}
    policy = {"default": [{"type": "sigstoreSigned", "keyPath": key, "signedIdentity": identity},
                          {"type": "sigstoreSigned", "keyData": base64.b64encode(b"second").decode()}]}
    path = write(tmp_path, "p.json", policy)
    assert trusted_keys(IMAGE, path) == ("sigstore", [(pem, identity), (b"second", None)], "%s (scope default)" % path)


def test_the_most_specific_policy_scope_wins(tmp_path):
    key = write(tmp_path, "k.gpg", GPG_KEY)
    policy = {"default": [{"type": "reject"}], "transports": {"docker": {
        "registry.example.com": [{"type": "reject"}],
        "registry.example.com/ee": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": key}],
        "registry.example.com/ee/other": [{"type": "insecureAcceptAnything"}]}}}
    path = write(tmp_path, "policy.json", policy)
    assert trusted_keys(IMAGE, path) == ("keys", [GPG_KEY], "%s (scope registry.example.com/ee)" % path)
    assert trusted_keys("registry.example.com/ee/other:1", path)[0] == "accept"
    assert trusted_keys("registry.example.com/x:1", path)[0] == "reject"
    assert trusted_keys("quay.io/x/y:1", path) == ("reject", [], "%s (scope default)" % path)


def test_policy_key_data_and_key_paths(tmp_path):
    key = write(tmp_path, "k.gpg", GPG_KEY)
    policy = {"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": [key],
                           "keyData": base64.b64encode(b"second").decode()}]}
    assert trusted_keys(IMAGE, write(tmp_path, "p.json", policy))[1] == [GPG_KEY, b"second"]


@pytest.mark.parametrize("requirement, says", [
    ({"type": "sigstoreSigned", "keyPath": "/k.pub", "fulcio": {"caPath": "/ca"}}, "Fulcio or Rekor"),
    ({"type": "sigstoreSigned", "keyPath": "/no/such.pub"}, "cannot read the policy's keyPath '/no/such.pub'"),
    ({"type": "signedBy", "keyType": "X509Certificates", "keyPath": "/k"}, "keyType 'X509Certificates'"),
    ({"type": "somethingNew"}, "requirement type 'somethingNew' is not supported"),
])
def test_policy_requirements_it_cannot_judge_are_refused(tmp_path, requirement, says):
    with pytest.raises(SigningError, match=says):
        trusted_keys(IMAGE, write(tmp_path, "p.json", {"default": [requirement]}))


def test_a_file_that_is_neither_key_nor_policy(tmp_path):
    with pytest.raises(SigningError, match="neither an OpenPGP public key nor a PEM public key"):
        trusted_keys(IMAGE, write(tmp_path, "x", b"hello"))
    with pytest.raises(SigningError, match="cannot read verify_signature"):
        trusted_keys(IMAGE, str(tmp_path / "missing"))


def test_signatures_are_read_up_to_the_first_gap(tmp_path):
    store = str(tmp_path / "store")
    for index in (1, 2, 4):
        path = os.path.join(store, lookaside_path(IMAGE, DIGEST, index))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(b"sig%d" % index)
    found = read_signatures(IMAGE, DIGEST, store)
    assert [data for _loc, data in found] == [b"sig1", b"sig2"]
    assert read_signatures(IMAGE, DIGEST, "file://" + store) == found
    assert found[0][0].endswith("/ee/aws@sha256=%s/signature-1" % ("a" * 64))


@pytest.mark.parametrize("image, identity, matches", [
    (IMAGE, IMAGE, True),
    (IMAGE, "registry.example.com/ee/aws:latest", False),
    (IMAGE, "registry.example.com/ee/other:1.2", False),
    ("registry.example.com/ee/aws@" + DIGEST, IMAGE, True),
    ("registry.example.com/ee/aws@" + DIGEST, "registry.example.com/ee/other:1.2", False),
    ("docker.io/library/ubuntu:22.04", "ubuntu:22.04", True),
    (IMAGE, "not a reference", False),
])
def test_signed_identity_is_match_repo_digest_or_exact(image, identity, matches):
    assert _identity_matches(image, identity) is matches


def test_a_rejecting_policy_fails_before_reading_signatures(tmp_path):
    path = write(tmp_path, "p.json", {"default": [{"type": "reject"}]})
    with pytest.raises(SigningError, match="rejects it"):
        verify(None, IMAGE, DIGEST, path, str(tmp_path / "no-store"))


def test_an_accepting_policy_needs_no_signature(tmp_path):
    path = write(tmp_path, "p.json", {"default": [{"type": "insecureAcceptAnything"}]})
    result = verify(None, IMAGE, DIGEST, path, str(tmp_path / "no-store"))
    assert result["verified"] is True and result["signed_by"] == [] and result["signatures"] == []


def test_an_unsigned_image_fails_in_one_line(tmp_path):
    key = write(tmp_path, "k.asc", GPG_KEY)

    class Runner(object):
        def get_bin(self, name):
            return "/usr/bin/" + name

        def run(self, argv, **kwargs):  # pylint: disable=unused-argument
            return 0, "", ""
    with pytest.raises(SigningError) as err:
        verify(Runner(), IMAGE, DIGEST, key, str(tmp_path / "store"))
    assert str(err.value).startswith("Failed to verify the signature of '%s': it has no signature for %s in " % (IMAGE, DIGEST))
