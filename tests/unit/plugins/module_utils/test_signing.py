# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import importlib.util
import json
import os
import stat

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._signing import (
    SigningError,
    gpg_requirement,
    gpg_sign_check_argv,
    gpg_sign_check_error,
    key_kind,
    lookaside_path,
    parse_gpg_status,
    parse_signing_payload,
    policy_document,
    policy_error,
    registries_d_config,
    registries_d_home,
    signature_scope,
    sigstore_requirement,
    write_policy,
    write_registries_d,
)
from ansible_collections.eeforge.builder.plugins.module_utils._sigstore import (
    decrypt_cosign_private_key,
    oci_layout_files,
    parse_sigstore_attachment,
    public_key_id,
    sign_sigstore_payload,
    sigstore_attachment,
    sigstore_attachment_tag,
    sigstore_payload,
    verify_sigstore_signature,
)

DIGEST = "sha256:" + "60" * 32
FPR = "37048151C8D8E88E4469A4705EAC781E77735FC9"
OTHER = "63984DDAF558A9828C15CEDA049FD2160BB5A292"

# What skopeo 1.9.3 / podman 4.3.1 printed in tests/integration/test_harness_signing.py.
SKOPEO_UNTRUSTED = (
    'time="2026-12-03T06:36:47Z" level=info msg="[graphdriver] using prior storage driver: overlay"\n'
    'time="2026-12-03T06:36:47Z" level=fatal msg="Source image rejected: Invalid GPG signature: '
    'gpgme.Signature{Summary:128, Fingerprint:\\"' + OTHER + '\\", Status:gpgme.Error{err:0x9}, '
    'Timestamp:time.Date(2026, time.December, 3, 6, 36, 22, 0, time.Local), PubkeyAlgo:303, HashAlgo:8}"\n'
)
PODMAN_UNTRUSTED = ('Error: Source image rejected: Invalid GPG signature: gpgme.Signature{Summary:128, '
                    'Fingerprint:"%s", Status:gpgme.Error{err:0x9}}\n' % OTHER)
PODMAN_UNSIGNED = "Error: Source image rejected: A signature was required, but no signature exists\n"
DEBIAN_SIGSTORE = "Error: Source image rejected: Debian-local change: sigstore disabled\n"


@pytest.mark.parametrize("ref, scope", [
    ("127.0.0.1:5000/eeforge/ee:1", "127.0.0.1:5000/eeforge/ee"),
    ("quay.io/a/b@" + DIGEST, "quay.io/a/b"),
    ("ubuntu", "docker.io/library/ubuntu"),
])
def test_signature_scope(ref, scope):
    assert signature_scope(ref) == scope


def test_signature_scope_of_a_bad_ref_is_one_line():
    with pytest.raises(SigningError, match="Failed to configure signatures for 'a b'"):
        signature_scope("a b")


def test_lookaside_path_is_containers_image_layout():
    assert lookaside_path("127.0.0.1:5000/ns/tiny:signed", DIGEST) == "ns/tiny@sha256=%s/signature-1" % ("60" * 32)
    assert lookaside_path("127.0.0.1:5000/tiny:1", DIGEST, 2).endswith("/signature-2")
    with pytest.raises(SigningError, match="not a sha256 manifest digest"):
        lookaside_path("127.0.0.1:5000/tiny:1", "latest")


def test_registries_d_config_urls():
    assert registries_d_config("r/x", lookaside="https://sigs.example.com", lookaside_staging="/srv/sigs") == {
        "docker": {"r/x": {"lookaside": "https://sigs.example.com", "lookaside-staging": "file:///srv/sigs"}}}
    assert registries_d_config("r", use_sigstore_attachments=True) == {
        "docker": {"r": {"use-sigstore-attachments": True}}}


@pytest.mark.parametrize("kwargs, message", [
    ({}, "no signature store given"),
    ({"lookaside_staging": "https://sigs.example.com"}, "only to local directories"),
    ({"lookaside": "relative/dir"}, "neither an absolute path nor"),
])
def test_registries_d_config_errors(kwargs, message):
    with pytest.raises(SigningError, match=message):
        registries_d_config("r/x", **kwargs)


def test_write_registries_d_and_home_are_private(tmp_path):
    cfg = [registries_d_config("r/a", lookaside="/srv/a"), registries_d_config("r/b", use_sigstore_attachments=True)]
    regd = write_registries_d(str(tmp_path / "t"), cfg)
    path = os.path.join(regd, "eeforge.yaml")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as handle:
        assert json.load(handle) == {"docker": {"r/a": {"lookaside": "file:///srv/a"},
                                                "r/b": {"use-sigstore-attachments": True}}}
    home = registries_d_home(str(tmp_path / "home"), cfg)
    assert os.path.isfile(os.path.join(home, ".config", "containers", "registries.d", "eeforge.yaml"))
    assert not os.path.exists(os.path.join(home, ".config", "containers", "policy.json"))
    home = registries_d_home(str(tmp_path / "home2"), cfg, policy=policy_document({"r/a": [gpg_requirement("/k")]}))
    with open(os.path.join(home, ".config", "containers", "policy.json")) as handle:
        assert json.load(handle)["transports"]["docker"]["r/a"][0]["keyPath"] == "/k"
    with pytest.raises(SigningError, match="given twice"):
        write_registries_d(str(tmp_path / "t2"), [cfg[0], cfg[0]])


def test_policy_document_rejects_by_default_and_reads_local_storage(tmp_path):
    doc = policy_document({"r/x": [gpg_requirement("/k.gpg")], "r": [sigstore_requirement("/k.pub")]})
    assert doc["default"] == [{"type": "reject"}]
    assert doc["transports"]["docker"] == {
        "r/x": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg"}],
        "r": [{"type": "sigstoreSigned", "keyPath": "/k.pub"}]}
    assert doc["transports"]["containers-storage"] == {"": [{"type": "insecureAcceptAnything"}]}
    path = write_policy(str(tmp_path), doc)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(SigningError, match="has no requirement"):
        policy_document({"r/x": []})
    ident = {"type": "matchRepository"}
    assert gpg_requirement("/k", ident)["signedIdentity"] == ident


@pytest.mark.parametrize("data, kind", [
    (b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...", "gpg"),
    (b"\x98\x33\x04\x65", "gpg"),
    (b"\xc6\x33\x04\x65", "gpg"),
    ("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n", "sigstore"),
])
def test_key_kind(data, kind):
    assert key_kind(data) == kind


@pytest.mark.parametrize("data, message", [
    (b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n", "it is a private key"),
    (b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n", "it is a private key"),
    (b"hello", "neither an OpenPGP public key nor a PEM public key"),
    (b"", "neither"),
])
def test_key_kind_errors(data, message):
    with pytest.raises(SigningError, match=message):
        key_kind(data)


@pytest.mark.parametrize("stderr, reason, signer", [
    (SKOPEO_UNTRUSTED, "untrusted_key", OTHER),
    (PODMAN_UNTRUSTED, "untrusted_key", OTHER),
    (PODMAN_UNSIGNED, "unsigned", None),
    (DEBIAN_SIGSTORE, "sigstore_unsupported", None),
    ("Error: Source image rejected: Signature for identity r/other is not accepted\n", "identity_mismatch", "r/other"),
    ("Error: Source image rejected: Running image docker://r/x:1 is rejected by policy.\n", "rejected", None),
])
def test_policy_error(stderr, reason, signer):
    found = policy_error(stderr)
    assert found["reason"] == reason and found["signer"] == signer
    assert "\n" not in found["message"] and not found["message"].startswith(("Error", "time="))


def test_policy_error_message_of_skopeo_is_the_msg_field():
    assert policy_error(SKOPEO_UNTRUSTED)["message"].startswith('Source image rejected: Invalid GPG signature: '
                                                                'gpgme.Signature{Summary:128, Fingerprint:"')


def test_policy_error_ignores_other_failures():
    assert policy_error("Error: initializing source docker://r/x:1: pinging container registry r: connection refused") is None
    assert policy_error("") is None


def test_parse_gpg_status():
    good = ("[GNUPG:] NEWSIG\n[GNUPG:] KEY_CONSIDERED %s 0\n[GNUPG:] SIG_ID x 2026-12-03 1\n"
            "[GNUPG:] GOODSIG 5EAC781E77735FC9 eeforge test <t@eeforge.invalid>\n"
            "[GNUPG:] VALIDSIG %s 2026-12-03 1796277371 0 4 0 22 8 00 %s\n[GNUPG:] TRUST_ULTIMATE 0 pgp\n") % (FPR, FPR, FPR)
    missing = ("[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG 049FD2160BB5A292 22 8 00 1796277371 9 %s\n"
               "[GNUPG:] NO_PUBKEY 049FD2160BB5A292\n") % OTHER
    assert parse_gpg_status(good) == [{"key_id": "5EAC781E77735FC9", "fingerprint": FPR, "valid": True,
                                       "status": "GOODSIG"}]
    assert parse_gpg_status(missing) == [{"key_id": "049FD2160BB5A292", "fingerprint": OTHER, "valid": False,
                                          "status": "ERRSIG", "missing_key": True}]
    assert parse_gpg_status("[GNUPG:] BADSIG 049FD2160BB5A292 x\n")[0]["valid"] is False
    assert parse_gpg_status("gpg: Signature made ...\n") == []


def test_gpg_sign_check_argv_names_the_file_never_the_passphrase():
    argv = gpg_sign_check_argv(FPR, "/run/secret/pp")
    assert argv[:3] == ["gpg", "--batch", "--no-tty"] and argv[-2:] == ["--armor", "--detach-sign"]
    assert argv[argv.index("--passphrase-file") + 1] == "/run/secret/pp" and "--output" not in argv
    assert "--passphrase-file" not in gpg_sign_check_argv(FPR)


@pytest.mark.parametrize("stderr, message", [
    ("[GNUPG:] BAD_PASSPHRASE 5EAC781E77735FC9\ngpg: signing failed: Bad passphrase\n", "does not unlock it"),
    ('gpg: skipped "%s": No secret key\n[GNUPG:] INV_SGNR 9 %s\n' % (FPR, FPR), "no secret key"),
    ("gpg: signing failed: Inappropriate ioctl for device\n", "needs a passphrase and none was given"),
    ("gpg: keyblock resource: No such file\n[GNUPG:] FAILURE sign 1\n", "No such file"),
])
def test_gpg_sign_check_error(stderr, message):
    error = gpg_sign_check_error(FPR, stderr)
    assert message in str(error) and str(error).startswith("Failed to sign with GPG key %s" % FPR)


def test_parse_signing_payload():
    atomic = json.dumps({"critical": {"identity": {"docker-reference": "r/x:1"}, "image": {"docker-manifest-digest": DIGEST},
                                      "type": "atomic container signature"},
                         "optional": {"creator": "atomic 2.0.0", "timestamp": 1796277371}}).encode()
    assert parse_signing_payload(atomic) == {"format": "simple-signing", "docker_reference": "r/x:1",
                                             "manifest_digest": DIGEST, "creator": "atomic 2.0.0",
                                             "timestamp": 1796277371}
    cosign = sigstore_payload(DIGEST, "r/x")
    assert parse_signing_payload(cosign)["format"] == "sigstore"
    with pytest.raises(SigningError, match="not a container signature"):
        parse_signing_payload(b"\x00binary")
    with pytest.raises(SigningError, match="unknown signature type 'x'"):
        parse_signing_payload(json.dumps({"critical": {"type": "x", "image": {"docker-manifest-digest": DIGEST},
                                                       "identity": {"docker-reference": "r"}}}))


def test_sigstore_attachment_layout_and_dedup():
    assert sigstore_attachment_tag(DIGEST) == "sha256-%s.sig" % ("60" * 32)
    payload = sigstore_payload(DIGEST, "r/x", creator="eeforge", timestamp=1)
    assert json.loads(payload)["critical"]["type"] == "cosign container image signature"
    first = sigstore_attachment([(payload, "c2ln")])
    manifest = json.loads(first["manifest"])
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert manifest["layers"][0]["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert parse_sigstore_attachment(first["manifest"]) == [{"payload_digest": manifest["layers"][0]["digest"],
                                                            "signature": "c2ln"}]
    again = sigstore_attachment([(payload, "c2ln")], existing_manifest=first["manifest"])
    assert again["added"] == 0 and again["manifest"] == first["manifest"]
    more = sigstore_attachment([(payload, "b3RoZXI=")], existing_manifest=first["manifest"])
    assert more["added"] == 1 and len(parse_sigstore_attachment(more["manifest"])) == 2
    files = oci_layout_files(first["manifest"], first["blobs"])
    index = json.loads(files["index.json"])
    digest = index["manifests"][0]["digest"]
    assert files["blobs/sha256/" + digest.split(":")[1]] == first["manifest"]
    assert files["blobs/sha256/" + manifest["layers"][0]["digest"].split(":")[1]] == payload


@pytest.fixture
def cosign_key(tmp_path):
    pytest.importorskip("nacl", reason="PyNaCl is not installed (test-requirements)")
    # The harness writes the key (the writer side); the collection only reads it.  It is loaded from
    # its file: which ``ansible_collections`` tree a test run imports from (ansible-test's copy, the
    # pytest-ansible link farm, an installed release without tests/) is not this test's business.
    harness = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "harness", "signing.py")
    spec = importlib.util.spec_from_file_location("eeforge_test_harness_signing", harness)
    signing = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(signing)

    key, pub = signing.make_cosign_key_pair(str(tmp_path), "right-passphrase")
    with open(key) as khandle, open(pub) as phandle:
        return khandle.read(), phandle.read()


def test_cosign_key_round_trip_sign_and_verify(cosign_key):  # pylint: disable=redefined-outer-name
    pem, pub = cosign_key
    assert pem.startswith("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n")
    envelope = json.loads(base64.b64decode("".join(pem.strip().splitlines()[1:-1])))
    assert envelope["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert len(base64.b64decode(envelope["kdf"]["salt"])) == 32
    assert len(base64.b64decode(envelope["cipher"]["nonce"])) == 24
    key = decrypt_cosign_private_key(pem, "right-passphrase")
    payload = sigstore_payload(DIGEST, "r/x")
    sig = sign_sigstore_payload(key, payload)
    assert verify_sigstore_signature(pub, payload, sig)
    assert not verify_sigstore_signature(pub, payload + b" ", sig)
    assert public_key_id(pub).startswith("sha256:")


def test_cosign_key_errors_never_show_the_passphrase(cosign_key):  # pylint: disable=redefined-outer-name
    pem, pub = cosign_key
    with pytest.raises(SigningError) as err:
        decrypt_cosign_private_key(pem, "wrong-passphrase")
    assert "passphrase does not open it" in str(err.value) and "wrong-passphrase" not in str(err.value)
    with pytest.raises(SigningError, match="'PUBLIC KEY' PEM block, not an encrypted cosign key"):
        decrypt_cosign_private_key(pub, "x")
    broken = pem.replace(pem.strip().splitlines()[1], "bm90IGpzb24=")
    with pytest.raises(SigningError, match="malformed"):
        decrypt_cosign_private_key(broken, "right-passphrase")
    with pytest.raises(SigningError, match="not a PEM public key"):
        verify_sigstore_signature("nope", b"x", "c2ln")
