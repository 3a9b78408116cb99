# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signing and verification with the real podman/skopeo of these machines and the harness registry.

Groundwork for issue 14: proves the flags and file formats that podman 4.3.1 and skopeo 1.9.3
accept (see docs/trust.md) with the collection's pure helpers (plugins/module_utils/_signing.py):
- GPG simple signing to a lookaside staging directory (``skopeo --registries.d``), the directory
  served over loopback HTTP, ``podman pull --signature-policy`` with a ``signedBy`` policy and a
  private HOME for registries.d: the signed image passes, unsigned and other-key images are refused;
- sigstore: a cosign-format key made here, the signature pushed as an OCI attachment; what
  Debian's builds do with it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile

import pytest

from tests.harness.podman_env import podman
from tests.harness.signing import (
    GpgHome,
    LookasideServer,
    attach_sigstore_signature,
    make_cosign_key_pair,
    make_tiny_image,
    signing_utils,
    skopeo,
    write_secret_file,
)

sg, ss = signing_utils()


def _debian_build(package):
    res = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True, check=False)
    return res.returncode == 0 and "+ds" in res.stdout


@pytest.fixture(scope="module")
def workdir():
    path = tempfile.mkdtemp(prefix="eeforge-signing-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def gpg(workdir):  # pylint: disable=unused-argument,redefined-outer-name
    home = GpgHome()
    try:
        yield home
    finally:
        path = home.path
        home.close()
        assert not os.path.exists(path)


@pytest.fixture(scope="module")
def tiny_image(workdir):  # pylint: disable=redefined-outer-name
    ref = "localhost/eeforge-sign-tiny-%s:1" % secrets.token_hex(4)
    make_tiny_image(ref, workdir)
    try:
        yield ref
    finally:
        podman(["rmi", "-f", ref], check=False)


def _policy(workdir, name, registry, requirement):
    directory = os.path.join(workdir, name)
    os.makedirs(directory, exist_ok=True)
    return sg.write_policy(directory, sg.policy_document({registry.location: [requirement]}))


def _pull(ref, policy, home):
    """``podman pull`` under ``policy`` with registries.d from the private ``home``; (ok, refusal)."""
    res = podman(["pull", "--signature-policy", policy, ref], env={"HOME": home}, check=False, timeout=300)
    if res.returncode == 0:
        # By name: the pulled image has the tiny image's ID, which must stay.
        podman(["rmi", ref], check=False)
        return True, None
    return False, sg.policy_error(res.stderr)


def test_gpg_signature_satisfies_signed_by_pull_and_others_are_refused(registry, workdir, gpg, tiny_image):
    # pylint: disable=redefined-outer-name,too-many-locals
    trusted = gpg.make_key("eeforge trusted")
    passphrase = "pp-" + secrets.token_hex(8)
    other = gpg.make_key("eeforge other", passphrase=passphrase)
    keyring = gpg.export_public(trusted, os.path.join(workdir, "trusted.gpg"))
    armored = gpg.export_public(trusted, os.path.join(workdir, "trusted.asc"), armor=True)
    for path in (keyring, armored):
        with open(path, "rb") as handle:
            assert sg.key_kind(handle.read()) == "gpg"
    staging = os.path.join(workdir, "staging")
    os.makedirs(staging)
    run = secrets.token_hex(4)
    signed = "%s/sign-%s/tiny:signed" % (registry.location, run)
    by_other = "%s/sign-%s/other:1" % (registry.location, run)
    unsigned = "%s/sign-%s/unsigned:1" % (registry.location, run)

    # The verification policy for the pull also lets the pushes read local storage. The pushes drop
    # the signatures a verified pull stored with the local image (same ID): skopeo would otherwise
    # refuse to recompress the layers ("Would invalidate signatures").
    policy = _policy(workdir, "gpg-policy", registry, sg.gpg_requirement(keyring))
    push_regd = sg.write_registries_d(os.path.join(workdir, "push"), [
        sg.registries_d_config(registry.location, lookaside_staging=staging)])
    pp_file = write_secret_file(workdir, "sign-passphrase", passphrase)
    gpg_env = {"GNUPGHOME": gpg.path}
    base = ["--policy", policy, "--registries.d", push_regd, "copy", "--dest-tls-verify=false"]
    skopeo(base + ["--sign-by", trusted, "--remove-signatures", "containers-storage:" + tiny_image, "docker://" + signed], env=gpg_env)
    gpg.forget_passphrases()
    skopeo(base + ["--sign-by", other, "--sign-passphrase-file", pp_file,
                   "--remove-signatures", "containers-storage:" + tiny_image, "docker://" + by_other], env=gpg_env)
    skopeo(base + ["--remove-signatures", "containers-storage:" + tiny_image, "docker://" + unsigned])

    digest = registry.manifest_digest("sign-%s/tiny" % run, "signed")
    sig_file = os.path.join(staging, sg.lookaside_path(signed, digest))
    assert os.path.isfile(sig_file), sorted(os.listdir(staging))
    status = gpg.gpg(["--status-fd", "1", "--decrypt", sig_file]).stdout.decode()
    claims = sg.parse_signing_payload(gpg.gpg(["--decrypt", sig_file]).stdout)
    assert [s["fingerprint"] for s in sg.parse_gpg_status(status) if s["valid"]] == [trusted]
    assert claims == {"format": "simple-signing", "docker_reference": signed, "manifest_digest": digest,
                      "creator": claims["creator"], "timestamp": claims["timestamp"]}
    assert claims["creator"].startswith("atomic ")
    assert passphrase.encode() not in open(os.path.join(staging, sg.lookaside_path(by_other, digest)), "rb").read()

    with LookasideServer(staging) as server:
        home = sg.registries_d_home(os.path.join(workdir, "pull-home"), [
            sg.registries_d_config(registry.location, lookaside=server.url)])
        assert _pull(signed, policy, home) == (True, None)
        assert any(path.endswith("/signature-1") for path in server.requests)

        ok, refusal = _pull(by_other, policy, home)
        assert not ok and refusal["reason"] == "untrusted_key" and refusal["signer"] == other, refusal
        ok, refusal = _pull(unsigned, policy, home)
        assert not ok and refusal["reason"] == "unsigned", refusal

        # An armored keyring works the same; skopeo takes both files as global flags.
        asc_policy = _policy(workdir, "asc-policy", registry, sg.gpg_requirement(armored))
        pull_regd = os.path.join(home, ".config", "containers", "registries.d")
        dest = os.path.join(workdir, "verified")
        skopeo(["--policy", asc_policy, "--registries.d", pull_regd, "copy", "--src-tls-verify=false",
                "docker://" + signed, "dir:" + dest])
        assert os.path.isfile(os.path.join(dest, "signature-1"))
        res = skopeo(["--policy", asc_policy, "--registries.d", pull_regd, "copy", "--src-tls-verify=false",
                      "docker://" + unsigned, "dir:" + dest + "-2"], check=False)
        assert res.returncode != 0 and sg.policy_error(res.stderr)["reason"] == "unsigned"

        # Without the private registries.d the pull finds no signature at all.
        ok, refusal = _pull(signed, policy, os.path.join(workdir, "empty-home"))
        assert not ok and refusal["reason"] == "unsigned"


def test_podman_push_signs_and_pull_verifies_with_a_private_home(registry, workdir, gpg, tiny_image):
    # pylint: disable=redefined-outer-name
    passphrase = "pp-" + secrets.token_hex(8)
    key = gpg.make_key("eeforge podman", passphrase=passphrase)
    keyring = gpg.export_public(key, os.path.join(workdir, "podman.gpg"))
    store = os.path.join(workdir, "store-podman")
    run = secrets.token_hex(4)
    signed = "%s/podman-%s/tiny:1" % (registry.location, run)
    unsigned = "%s/podman-%s/unsigned:1" % (registry.location, run)
    push_home = sg.registries_d_home(os.path.join(workdir, "podman-push-home"), [
        sg.registries_d_config(registry.location, lookaside_staging=store)])
    pp_file = write_secret_file(workdir, "podman-passphrase", passphrase)
    gpg.forget_passphrases()
    env = {"HOME": push_home, "GNUPGHOME": gpg.path}
    podman(["push", "--remove-signatures", "--sign-by", key, "--sign-passphrase-file", pp_file, tiny_image,
            "docker://" + signed], env=env)
    podman(["push", "--remove-signatures", tiny_image, "docker://" + unsigned], env=env)
    digest = registry.manifest_digest("podman-%s/tiny" % run, "1")
    status = gpg.gpg(["--status-fd", "1", "--decrypt", os.path.join(store, sg.lookaside_path(signed, digest))]).stdout
    assert [s["fingerprint"] for s in sg.parse_gpg_status(status.decode()) if s["valid"]] == [key]

    # policy.json in the private HOME replaces /etc/containers/policy.json: no --signature-policy.
    pull_home = sg.registries_d_home(
        os.path.join(workdir, "podman-pull-home"), [sg.registries_d_config(registry.location, lookaside=store)],
        policy=sg.policy_document({registry.location: [sg.gpg_requirement(keyring)]}))
    res = podman(["pull", signed], env={"HOME": pull_home}, check=False)
    assert res.returncode == 0, res.stderr
    podman(["rmi", signed], check=False)
    res = podman(["pull", unsigned], env={"HOME": pull_home}, check=False)
    assert res.returncode != 0 and sg.policy_error(res.stderr)["reason"] == "unsigned"


def test_gpg_resign_in_place_keeps_existing_signatures(registry, workdir, gpg, tiny_image):
    # pylint: disable=redefined-outer-name
    first = gpg.make_key("eeforge first")
    second = gpg.make_key("eeforge second")
    store = os.path.join(workdir, "store-resign")
    os.makedirs(store)
    ref = "%s/resign-%s/tiny:1" % (registry.location, secrets.token_hex(4))
    accept = os.path.join(workdir, "accept")
    os.makedirs(accept, exist_ok=True)
    accept_policy = sg.write_policy(accept, sg.policy_document({}, default=[{"type": "insecureAcceptAnything"}]))
    # Read and write the same directory: the copy reads the signatures already there.
    regd = sg.write_registries_d(os.path.join(workdir, "resign"), [
        sg.registries_d_config(registry.location, lookaside=store)])
    env = {"GNUPGHOME": gpg.path}
    flags = ["--policy", accept_policy, "--registries.d", regd, "copy", "--src-tls-verify=false",
             "--dest-tls-verify=false"]
    skopeo(flags + ["--sign-by", first, "--remove-signatures", "containers-storage:" + tiny_image, "docker://" + ref], env=env)
    skopeo(flags + ["--sign-by", second, "docker://" + ref, "docker://" + ref], env=env)
    digest = registry.manifest_digest(ref.split("/", 1)[1].split(":")[0], "1")
    signers = []
    for index in (1, 2):
        sig_file = os.path.join(store, sg.lookaside_path(ref, digest, index))
        status = gpg.gpg(["--status-fd", "1", "--decrypt", sig_file]).stdout.decode()
        signers += [s["fingerprint"] for s in sg.parse_gpg_status(status) if s["valid"]]
    assert signers == [first, second]
    assert not os.path.exists(os.path.join(store, sg.lookaside_path(ref, digest, 3)))

    # A copy from local storage (which holds no signature) replaces what the store had.
    skopeo(flags + ["--sign-by", second, "--remove-signatures", "containers-storage:" + tiny_image, "docker://" + ref], env=env)
    assert not os.path.exists(os.path.join(store, sg.lookaside_path(ref, digest, 2)))


def test_gpg_wrong_passphrase_fails_after_the_manifest_is_pushed(registry, workdir, gpg, tiny_image):
    # pylint: disable=redefined-outer-name
    passphrase = "pp-" + secrets.token_hex(8)
    key = gpg.make_key("eeforge locked", passphrase=passphrase)
    gpg.forget_passphrases()
    wrong = write_secret_file(workdir, "wrong-passphrase", "not-" + passphrase)
    repo = "wrongpp-%s/tiny" % secrets.token_hex(4)
    policy = _policy(workdir, "wrongpp-policy", registry, {"type": "insecureAcceptAnything"})
    regd = sg.write_registries_d(os.path.join(workdir, "wrongpp"), [
        sg.registries_d_config(registry.location, lookaside_staging=os.path.join(workdir, "store-wrongpp"))])
    res = skopeo(["--policy", policy, "--registries.d", regd, "copy", "--dest-tls-verify=false", "--sign-by", key,
                  "--sign-passphrase-file", wrong, "--remove-signatures", "containers-storage:" + tiny_image,
                  "docker://%s/%s:1" % (registry.location, repo)], env={"GNUPGHOME": gpg.path}, check=False)
    assert res.returncode != 0 and "Bad passphrase" in res.stderr
    assert passphrase not in res.stderr + res.stdout
    # containers/image writes the manifest before it signs: the tag is there, unsigned.
    assert registry.tags(repo) == ["1"]

    # A throw-away signature catches it before anything is pushed.
    check = subprocess.run(sg.gpg_sign_check_argv(key, wrong), input=b"probe", env=gpg.env, capture_output=True,
                           check=False)
    assert check.returncode != 0
    assert "passphrase does not unlock it" in str(sg.gpg_sign_check_error(key, check.stderr.decode()))
    right = write_secret_file(workdir, "right-passphrase", passphrase)
    check = subprocess.run(sg.gpg_sign_check_argv(key, right), input=b"probe", env=gpg.env, capture_output=True,
                           check=False)
    assert check.returncode == 0 and check.stdout.startswith(b"-----BEGIN PGP SIGNATURE-----")
    gpg.forget_passphrases()
    check = subprocess.run(sg.gpg_sign_check_argv(key), input=b"probe", env=gpg.env, capture_output=True, check=False)
    assert check.returncode != 0
    assert "needs a passphrase and none was given" in str(sg.gpg_sign_check_error(key, check.stderr.decode())), \
        check.stderr
    missing = "0" * 40
    check = subprocess.run(sg.gpg_sign_check_argv(missing), input=b"probe", env=gpg.env, capture_output=True,
                           check=False)
    assert "no secret key" in str(sg.gpg_sign_check_error(missing, check.stderr.decode()))


def test_sigstore_attachment_is_found_by_pull_policy(registry, workdir, tiny_image):
    # pylint: disable=redefined-outer-name
    passphrase = "sp-" + secrets.token_hex(8)
    key, pub = make_cosign_key_pair(workdir, passphrase)
    other_pub = make_cosign_key_pair(workdir, passphrase, name="other")[1]
    with open(key, encoding="utf-8") as handle:
        assert handle.readline().strip() == "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----"
    pp_file = write_secret_file(workdir, "sigstore-passphrase", passphrase)
    run = secrets.token_hex(4)
    signed = "%s/sigstore-%s/tiny:1" % (registry.location, run)
    unsigned = "%s/sigstore-%s/unsigned:1" % (registry.location, run)
    with open(pub, "rb") as handle:
        assert sg.key_kind(handle.read()) == "sigstore"
    policy = _policy(workdir, "sigstore-policy", registry, sg.sigstore_requirement(pub, {"type": "matchRepository"}))
    regd_config = sg.registries_d_config(registry.location, use_sigstore_attachments=True)
    regd = sg.write_registries_d(os.path.join(workdir, "sigstore-push"), [regd_config])

    res = skopeo(["--policy", policy, "--registries.d", regd, "copy", "--dest-tls-verify=false",
                  "--sign-by-sigstore-private-key", key, "--sign-passphrase-file", pp_file,
                  "--remove-signatures", "containers-storage:" + tiny_image, "docker://" + signed], check=False)
    debian = _debian_build("skopeo")
    if debian:
        # Debian's skopeo 1.9.3+ds1 is built with sigstore signing stubbed out.
        assert res.returncode != 0
        assert sg.policy_error(res.stderr)["reason"] == "sigstore_unsupported", res.stderr
    else:
        assert res.returncode == 0, res.stderr
    skopeo(["--policy", policy, "copy", "--dest-tls-verify=false", "--remove-signatures", "containers-storage:" + tiny_image,
            "docker://" + unsigned])
    digest = attach_sigstore_signature(signed, key, passphrase, workdir, policy)

    tag = ss.sigstore_attachment_tag(digest)
    assert tag in registry.tags("sigstore-%s/tiny" % run)
    raw = skopeo(["--policy", policy, "inspect", "--raw", "--tls-verify=false",
                  "docker://%s:%s" % (sg.signature_scope(signed), tag)]).stdout
    found = ss.parse_sigstore_attachment(raw)
    assert len(found) == 1
    payload_dir = os.path.join(workdir, "attachment")
    accept = _policy(workdir, "sigstore-accept", registry, {"type": "insecureAcceptAnything"})
    skopeo(["--policy", accept, "copy", "--src-tls-verify=false", "--preserve-digests",
            "docker://%s:%s" % (sg.signature_scope(signed), tag), "oci:" + payload_dir])
    with open(os.path.join(payload_dir, "blobs", "sha256", found[0]["payload_digest"].split(":")[1]), "rb") as handle:
        payload = handle.read()
    assert sg.parse_signing_payload(payload)["manifest_digest"] == digest
    with open(pub, encoding="utf-8") as handle:
        assert ss.verify_sigstore_signature(handle.read(), payload, found[0]["signature"])
    with open(other_pub, encoding="utf-8") as handle:
        assert not ss.verify_sigstore_signature(handle.read(), payload, found[0]["signature"])

    home = sg.registries_d_home(os.path.join(workdir, "sigstore-home"), [regd_config])
    ok, refusal = _pull(unsigned, policy, home)
    assert not ok and refusal["reason"] == "unsigned", refusal
    ok, refusal = _pull(signed, policy, home)
    if _debian_build("podman"):
        # The attachment is found (not "no signature exists"); Debian's verifier is stubbed out too.
        assert not ok and refusal["reason"] == "sigstore_unsupported", refusal
    else:
        assert ok, refusal


def test_gpg_home_is_removed_with_its_agent(workdir):  # pylint: disable=redefined-outer-name
    home = GpgHome()
    fpr = home.make_key("eeforge short-lived", passphrase="x-" + secrets.token_hex(4))
    assert len(fpr) == 40
    path = home.path
    assert home.agent_running()
    home.close()
    assert not os.path.exists(path)
    res = subprocess.run(["pgrep", "-f", "gpg-agent --homedir %s" % path], capture_output=True, check=False)
    assert res.returncode == 1
