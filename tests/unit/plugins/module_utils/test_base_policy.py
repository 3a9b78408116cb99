# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_policy / container_keyring: input checks, the generated policies, and the base pull."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._base_policy import check_base_policy, ensure_base
from ansible_collections.eeforge.builder.plugins.module_utils._build_base import BaseImage
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError, BuildInputError, RegistryError

BASE = "registry.example.com/ee/base:1"
DIGEST = "sha256:" + "b" * 64
LOCAL_ID = "c" * 64
# An armored OpenPGP public key block, as 'gpg --export --armor' starts it (key_kind reads the header).
GPG_PUBLIC = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n-----END PGP PUBLIC KEY BLOCK-----\n"
SIGSTORE_PUBLIC = b"-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----\n"


def _params(policy=None, keyring=None):
    return {"container_policy": policy, "container_keyring": keyring}


def _file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _one_line(exc_info):
    text = str(exc_info.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("value", [None, "system"])
def test_system_is_podmans_own_policy_and_changes_nothing(value):
    policy = check_base_policy(_params(value))
    assert policy.mode == "system" and not policy.private and not policy.verifies and policy.fingerprint is None
    with policy.policy_file(BASE) as path:
        assert path is None


def test_ignore_all_writes_an_accept_anything_policy_for_the_pull_only():
    policy = check_base_policy(_params("ignore_all"))
    assert policy.private and not policy.verifies and policy.fingerprint is None  # an unverified base stays unverified
    with policy.policy_file(BASE) as path:
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        with open(path) as handle:
            assert json.load(handle) == {"default": [{"type": "insecureAcceptAnything"}]}
    assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))


def test_signature_required_trusts_only_the_keyring_for_the_base_as_named(tmp_path):
    keyring = _file(tmp_path, "team.gpg", GPG_PUBLIC)
    policy = check_base_policy(_params("signature_required", os.path.relpath(keyring)))
    assert policy.verifies and policy.keyring == keyring  # made absolute: policy keyPaths must be
    doc = policy.document(BASE)
    assert doc["default"] == [{"type": "reject"}]
    assert doc["transports"]["docker"] == {"registry.example.com/ee/base": [{
        "type": "signedBy", "keyType": "GPGKeys", "keyPath": keyring,
        "signedIdentity": {"type": "exactReference", "dockerReference": BASE}}]}
    assert doc["transports"]["containers-storage"] == {"": [{"type": "insecureAcceptAnything"}]}
    by_digest = policy.document("registry.example.com/ee/base@" + DIGEST)
    assert by_digest["transports"]["docker"]["registry.example.com/ee/base"][0]["signedIdentity"] == {
        "type": "matchRepoDigestOrExact"}
    # The keyring's content is in the digest: another key is another verification.
    other = check_base_policy(_params("signature_required", _file(tmp_path, "other.gpg", GPG_PUBLIC + b"x")))
    assert policy.fingerprint.startswith("signature_required:") and other.fingerprint != policy.fingerprint


def test_a_policy_file_is_used_as_it_is(tmp_path):
    doc = {"default": [{"type": "reject"}], "transports": {"docker": {"registry.example.com": [
        {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/etc/pki/team.gpg"}]}}}
    path = _file(tmp_path, "policy.json", json.dumps(doc).encode())
    policy = check_base_policy(_params(path))
    assert policy.mode == "file" and policy.verifies and policy.path == path
    with policy.policy_file(BASE) as used:
        assert used == path
    assert os.path.exists(path) and policy.fingerprint.startswith("file:")


@pytest.mark.parametrize("policy, keyring, message, fix", [
    ("signature_required", None, "signature_required needs container_keyring", "Give container_keyring"),
    ("system", "KEY", "container_keyring is only used with container_policy: signature_required (it is 'system')",
     "remove container_keyring"),
    ("ignore_all", "KEY", "(it is 'ignore_all')", "Set container_policy: signature_required"),
    ("POLICY", "KEY", "container_keyring is only used with", "a policy file names its own keys"),
    ("signature_required", "missing.gpg", "Failed to read container_keyring", "readable GPG public keyring"),
    ("signature_required", "SIGSTORE", "it is a sigstore public key, which this podman cannot verify", "docs/trust.md"),
    ("signature_required", "PRIVATE", "it is a private key", "Give the public key"),
    ("signature_required", "JUNK", "neither an OpenPGP public key nor a PEM public key", "gpg --export"),
    ("no-such-policy.json", None, "Failed to read container_policy 'no-such-policy.json': no such file",
     "Give system, ignore_all, signature_required, or the path"),
    ("NOTJSON", None, "it is not valid JSON", "containers-policy.json(5)"),
    ("NODEFAULT", None, "an object with a 'default' list of requirements", "containers-policy.json(5)"),
])
def test_bad_inputs_fail_in_one_line_with_a_fix(tmp_path, policy, keyring, message, fix):
    files = {
        "KEY": _file(tmp_path, "k.gpg", GPG_PUBLIC), "SIGSTORE": _file(tmp_path, "k.pub", SIGSTORE_PUBLIC),
        "PRIVATE": _file(tmp_path, "k.key", b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n"),
        "JUNK": _file(tmp_path, "k.txt", b"hello"),
        "POLICY": _file(tmp_path, "p.json", b'{"default": [{"type": "reject"}]}'),
        "NOTJSON": _file(tmp_path, "bad.json", b"{default"),
        "NODEFAULT": _file(tmp_path, "nodefault.json", b'{"transports": {}}'),
    }
    with pytest.raises(BuildInputError) as exc_info:
        check_base_policy(_params(files.get(policy, policy), files.get(keyring, keyring and str(tmp_path / keyring))))
    assert message in _one_line(exc_info) and fix in exc_info.value.fix


@pytest.mark.parametrize("base, why", [
    ("localhost/ee/base:1", "it is a local image"),
    ("base:1", "a short name can come from any search registry"),
])
def test_a_verifying_policy_refuses_a_base_it_could_never_judge(tmp_path, base, why):
    policy = check_base_policy(_params("signature_required", _file(tmp_path, "k.gpg", GPG_PUBLIC)))
    with pytest.raises(BuildInputError) as exc_info:
        policy.check_base(base)
    assert exc_info.value.cause == "Failed to verify base image '%s' under container_policy signature_required: %s" % (
        base, why) and "Name the base with its registry" in _one_line(exc_info)
    check_base_policy(_params("ignore_all")).check_base(base)  # nothing to verify: fine


class Engine(object):
    def __init__(self, error=None):
        self.pulls = []
        self.error = error

    def pull(self, ref, auth_file=None, tls_verify=True, signature_policy=None):
        policy = None
        if signature_policy:
            with open(signature_policy) as handle:
                policy = json.load(handle)
        self.pulls.append((ref, auth_file, tls_verify, policy))
        if self.error:
            raise self.error
        return LOCAL_ID


def _base(source="registry", build_ref=LOCAL_ID, pull=False, digest=DIGEST):
    return BaseImage(BASE, digest, build_ref, source, pull=pull)


def test_a_verifying_policy_pulls_the_exact_digest_on_every_build_even_when_local(tmp_path):
    policy = check_base_policy(_params("signature_required", _file(tmp_path, "k.gpg", GPG_PUBLIC)))
    engine, warnings = Engine(), []
    assert ensure_base(engine, policy, _base(), "/auth.json", False, False, warnings) == (
        True, ["registry.example.com/ee/base@" + DIGEST])
    [(ref, auth, tls, used)] = engine.pulls
    assert (ref, auth, tls) == ("registry.example.com/ee/base@" + DIGEST, "/auth.json", False)
    assert used == policy.document(BASE)
    # Check mode pulls nothing and verifies nothing.
    engine = Engine()
    assert ensure_base(engine, policy, _base(), None, True, True, warnings) == (True, []) and engine.pulls == []
    # Without a verifying policy a local base is not pulled; a missing one is, under the private policy.
    engine = Engine()
    assert ensure_base(engine, check_base_policy(_params("ignore_all")), _base(), None, True, False, []) == (True, [])
    pinned = _base(build_ref="registry.example.com/ee/base@" + DIGEST, pull=True)
    assert ensure_base(engine, check_base_policy(_params("ignore_all")), pinned, None, True, False, []) == (True, [])
    assert [p[3] for p in engine.pulls] == [{"default": [{"type": "insecureAcceptAnything"}]}]


def test_a_base_whose_registry_could_not_be_asked_is_not_verified(tmp_path):
    policy = check_base_policy(_params("signature_required", _file(tmp_path, "k.gpg", GPG_PUBLIC)))
    engine = Engine()
    with pytest.raises(BuildError) as exc_info:
        ensure_base(engine, policy, _base(source="local", digest="sha256:" + LOCAL_ID), None, True, False, [])
    assert "its registry could not be asked for its digest" in _one_line(exc_info) and engine.pulls == []


@pytest.mark.parametrize("stderr, reason, fix", [
    ('Error: Source image rejected: A signature was required, but no signature exists', "A signature was required",
     "Sign the base image"),
    ('Error: Source image rejected: Invalid GPG signature: &{... Fingerprint:"ABCDEF0123" ...}', "Invalid GPG signature",
     "Add the signer's public key to"),
])
def test_a_refused_pull_fails_in_one_line_naming_base_policy_and_fix(tmp_path, stderr, reason, fix):
    keyring = _file(tmp_path, "k.gpg", GPG_PUBLIC)
    policy = check_base_policy(_params("signature_required", keyring))
    error = RegistryError("Failed to pull image 'x': %s" % stderr.splitlines()[-1], detail=stderr)
    with pytest.raises(BuildError) as exc_info:
        ensure_base(Engine(error), policy, _base(), None, True, False, [])
    text = _one_line(exc_info)
    assert text.startswith("Failed to verify base image '%s' (registry.example.com/ee/base@%s) under container_policy "
                           "signature_required: " % (BASE, DIGEST)) and reason in text, text
    assert fix in exc_info.value.fix
    # A network error is no refusal: the pull's own message, as before.
    other = RegistryError("Failed to pull image 'registry.example.com/ee/base@%s': connection refused" % DIGEST,
                          detail="dial tcp: connection refused")
    with pytest.raises(BuildError) as exc_info:
        ensure_base(Engine(other), policy, _base(), None, True, False, [])
    assert _one_line(exc_info).startswith("Failed to pull base image '%s' (" % BASE)
