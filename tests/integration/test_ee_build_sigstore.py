# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""issue 14, part 2 (sigstore): ee_build ``sigstore_private_key`` signs what it pushes, and podman verifies it.

A cosign-format key pair made in test code (``cryptography`` + PyNaCl: podman 4.3 and skopeo 1.9 have
no key generator); the harness registry; the signature pushed as an OCI attachment; ``podman pull``
under a ``sigstoreSigned`` policy by Debian 13's podman 5.4 in a container (Debian 12's podman is built
with sigstore disabled; tests/harness/sigstore_verifier.py), with ``use-sigstore-attachments`` in its
registries.d, as docs/trust.md tells a node to have it. An unsigned image, and one signed by another
key, are refused by the same pull; ee_info ``verify_signature`` judges the same.

Builds (CI time): one small build on the harness's ee-minimal image; the other runs sign or fail
before building.
"""

from __future__ import annotations

import os
import secrets
import uuid

from tests.harness.ee_minimal import ensure_ee_minimal_image
from tests.harness.podman_env import podman
from tests.harness.signing import attach_sigstore_signature, make_cosign_key_pair, signing_utils
from tests.harness.sigstore_verifier import ensure_verifier_image, sigstore_pull, verifier_version
from tests.integration.secret_grep import files_containing
from tests.integration.test_ee_build import run_ee_build
from tests.integration.test_ee_info import run_ee_info
from tests.integration.test_harness_signing import workdir  # noqa: F401  pylint: disable=unused-import

sg, ss = signing_utils()


def _definition(base, marker):
    return {"version": 3, "images": {"base_image": {"name": base}},
            "additional_build_steps": {"append_final": ["RUN echo %s > /etc/eeforge-t14-sigstore" % marker]}}


def _refusal(res):
    return sg.policy_error(res.stderr) or {"reason": None, "message": res.stderr.strip()[-300:]}


def test_sigstore_signed_push_is_verified_by_a_sigstore_pull(registry, base_image, workdir, tmp_path):
    # pylint: disable=redefined-outer-name,too-many-locals,too-many-statements
    minimal = ensure_ee_minimal_image(base_image)
    verifier = ensure_verifier_image()
    assert verifier_version(verifier).startswith("podman version 5."), verifier
    run = uuid.uuid4().hex[:8]
    passphrase = "t14-sigstore-" + secrets.token_hex(8)
    keys = os.path.join(workdir, "sigstore-keys-" + run)
    os.makedirs(keys)
    key, pub = make_cosign_key_pair(keys, passphrase, name="release")
    other_key, other_pub = make_cosign_key_pair(keys, "other-" + run, name="other")
    repo = "eeforge-t14-sigstore-%s" % run
    ref, unsigned, wrong = ("%s/%s/%s:1" % (registry.location, repo, name) for name in ("ee", "unsigned", "wrong"))
    args = {"definition": _definition(minimal, run), "tags": [ref], "push": True, "tls_verify": False,
            "sigstore_private_key": key, "sigstore_passphrase": passphrase, "build_log_dir": str(tmp_path / "logs")}
    with open(pub, "rb") as handle:
        key_id = ss.public_key_id(handle.read())
    try:
        first, output = run_ee_build(args, verbosity=3)
        assert first.get("changed") is True and not first.get("failed"), output
        digest = registry.manifest_digest(repo + "/ee", "1")
        assert first["actions"] == ["build", "push %s" % ref, "sign %s" % ref]
        attachment = "%s/%s/ee:%s" % (registry.location, repo, ss.sigstore_attachment_tag(digest))
        assert first["signatures"] == [{"image": ref, "digest": digest, "signed_by": key_id, "path": attachment,
                                        "new": True, "kind": "sigstore"}]
        assert ss.sigstore_attachment_tag(digest) in registry.tags(repo + "/ee")
        # Neither the passphrase nor the key material is in the result, the -vvv output or the build log.
        with open(key) as handle:
            key_body = handle.read().splitlines()[2]
        assert passphrase not in output and key_body not in output
        assert files_containing(passphrase, str(tmp_path / "logs"))[0] == []

        podman(["push", "--quiet", "--tls-verify=false", "--remove-signatures", ref, "docker://" + unsigned])
        podman(["push", "--quiet", "--tls-verify=false", "--remove-signatures", ref, "docker://" + wrong])
        accept = sg.write_policy(workdir, sg.policy_document({}, default=[{"type": "insecureAcceptAnything"}]))
        attach_sigstore_signature(wrong, other_key, "other-" + run, workdir, accept)

        # The node: registries.d reads sigstore attachments; the policy requires the release key.
        node = sg.registries_d_home(os.path.join(workdir, "sigstore-node-" + run), [
            sg.registries_d_config(registry.location, use_sigstore_attachments=True)])
        policy_dir = os.path.join(workdir, "sigstore-policy-" + run)
        os.makedirs(policy_dir)
        policy = sg.write_policy(policy_dir, sg.policy_document(
            {registry.location: [sg.sigstore_requirement(pub, {"type": "matchRepository"})]}))
        res = sigstore_pull(verifier, ref, policy, node, mounts=[keys])
        assert res.returncode == 0, res.stderr
        res = sigstore_pull(verifier, unsigned, policy, node, mounts=[keys])
        assert res.returncode != 0 and _refusal(res)["reason"] == "unsigned", res.stderr
        res = sigstore_pull(verifier, wrong, policy, node, mounts=[keys])
        assert res.returncode != 0 and _refusal(res)["reason"] in ("untrusted_key", "rejected"), res.stderr
        assert "signature" in res.stderr.lower(), res.stderr

        # ee_info verify_signature: the same judgement, from the public key or the same policy file.
        base = {"pull": "never", "tls_verify": False}
        for source in (pub, policy):
            info, output = run_ee_info(dict(base, image=ref, verify_signature=source))
            assert not info.get("failed"), output
            assert info["signature"]["signed_by"] == [key_id] and info["signature"]["digest"] == digest
        for image, says in ((unsigned, "it has no sigstore signature for %s" % digest),
                            (wrong, "none of its 1 sigstore signature(s) is a valid one by a key of %s" % pub)):
            info, output = run_ee_info(dict(base, image=image, pull="missing", verify_signature=pub))
            assert info.get("failed") and "\n" not in info["msg"].strip() and "Traceback" not in output, output
            assert says in info["msg"], info["msg"]
        info, output = run_ee_info(dict(base, image=ref, verify_signature=other_pub))
        assert info.get("failed") and "by a key that is not trusted" in info["msg"], output

        # Unchanged: nothing built, pushed or signed; the signature is reported as it was.
        again, output = run_ee_build(args)
        assert again.get("changed") is False and again["actions"] == [], output
        assert again["signatures"] == [dict(first["signatures"][0], new=False)]
        # The other key signs the same image too: only its signature is added, the release one stays.
        second, output = run_ee_build(dict(args, sigstore_private_key=other_key, sigstore_passphrase="other-" + run))
        assert second.get("changed") is True and second["actions"] == ["sign %s" % ref], output
        res = sigstore_pull(verifier, ref, policy, node, mounts=[keys])
        assert res.returncode == 0, res.stderr
        assert registry.manifest_digest(repo + "/ee", "1") == digest
    finally:
        podman(["rmi", "-f", ref, unsigned, wrong], check=False)


def test_a_wrong_sigstore_passphrase_fails_in_one_line_before_anything_is_built_or_pushed(
        registry, base_image, workdir, tmp_path):  # pylint: disable=redefined-outer-name
    minimal = ensure_ee_minimal_image(base_image)
    run = uuid.uuid4().hex[:8]
    passphrase = "t14-locked-" + secrets.token_hex(8)
    key, _pub = make_cosign_key_pair(workdir, passphrase, name="locked-" + run)
    repo = "eeforge-t14-sigstore-%s/locked" % run
    ref = "%s/%s:1" % (registry.location, repo)
    args = {"definition": _definition(minimal, run), "tags": [ref], "push": True, "tls_verify": False,
            "sigstore_private_key": key, "sigstore_passphrase": "not-" + passphrase,
            "build_log_dir": str(tmp_path / "logs")}
    try:
        result, output = run_ee_build(args)
        assert result.get("failed") and "\n" not in result["msg"].strip() and "Traceback" not in output, output
        assert result["msg"].startswith("Failed to decrypt the sigstore private key: the passphrase does not open it")
        assert passphrase not in output
        assert registry.tags(repo) == [] and podman(["image", "exists", ref], check=False).returncode != 0
        # Without push, and with a passphrase but no key: one line each, before anything runs.
        result, output = run_ee_build(dict(args, push=False))
        assert result.get("failed") and "signatures are made on push and push is false" in result["msg"], output
        result, output = run_ee_build(dict(args, sigstore_private_key=None))
        assert result.get("failed") and "sigstore_passphrase is set but sigstore_private_key is not" in result["msg"]
    finally:
        podman(["rmi", "-f", ref], check=False)
