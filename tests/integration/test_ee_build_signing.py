# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""issue 14, part 2 (GPG): ee_build ``sign_by`` signs what it pushes, and podman verifies it.

A key made in a temporary GNUPGHOME (with a passphrase the agent is made to forget, so only
``sign_passphrase_file`` can unlock it); the harness registry; the signature store served over
loopback HTTP as the nodes' lookaside; ``podman pull`` under a policy that requires ``signedBy``
that key (policy.json and registries.d in a private HOME, as docs/trust.md tells a node to have
them in /etc/containers).

Builds (CI time): one small build on the harness's ee-minimal image (no pip install runs); every
other run is a no-op or a signature only. The wrong-passphrase case fails before its build.
"""

from __future__ import annotations

import os
import secrets
import uuid

from tests.harness.ee_minimal import ensure_ee_minimal_image
from tests.harness.podman_env import podman
from tests.harness.signing import LookasideServer, signing_utils, write_secret_file
from tests.integration.secret_grep import files_containing
from tests.integration.test_ee_build import run_ee_build
from tests.integration.test_ee_info import run_ee_info
# The module-scoped signing fixtures: a private work dir and a GNUPGHOME with a fresh key (removed afterwards).
from tests.integration.test_harness_signing import gpg, workdir  # noqa: F401  pylint: disable=unused-import

sg, _sigstore = signing_utils()


def _definition(base, marker):
    return {"version": 3, "images": {"base_image": {"name": base}},
            "additional_build_steps": {"append_final": ["RUN echo %s > /etc/eeforge-t14-signed" % marker]}}


def _pull(ref, home):
    """``podman pull`` with policy.json and registries.d from the private ``home``: (ok, refusal)."""
    res = podman(["pull", ref], env={"HOME": home}, check=False, timeout=300)
    return (True, None) if res.returncode == 0 else (False, sg.policy_error(res.stderr))


def _node_home(workdir, name, registry, lookaside_url, keyring):
    """What a podman execution node would have in /etc/containers: a lookaside for the registry and
    a policy that accepts its images only when signed by ``keyring``'s key."""
    return sg.registries_d_home(
        os.path.join(workdir, name), [sg.registries_d_config(registry.location, lookaside=lookaside_url)],
        policy=sg.policy_document({registry.location: [sg.gpg_requirement(keyring)]}))


def _signature_files(store):
    found = []
    for dirpath, _dirs, files in os.walk(store):
        found += sorted(os.path.join(dirpath, name) for name in files if name.startswith("signature-"))
    return found


def test_signed_push_is_verified_by_a_signed_by_pull_and_signing_is_idempotent(
        registry, base_image, workdir, gpg, tmp_path):  # pylint: disable=redefined-outer-name,too-many-locals
    minimal = ensure_ee_minimal_image(base_image)
    passphrase = "t14-pp-" + secrets.token_hex(8)
    key = gpg.make_key("eeforge t14 release", passphrase=passphrase)
    other = gpg.make_key("eeforge t14 other")
    keyring = gpg.export_public(key, os.path.join(workdir, "release.gpg"))
    pp_file = write_secret_file(workdir, "release-passphrase", passphrase)
    gpg.forget_passphrases()  # only sign_passphrase_file can unlock the key now
    store = os.path.join(workdir, "sigstore")
    run = uuid.uuid4().hex[:8]
    ref = "%s/eeforge-t14-sign-%s/ee:1" % (registry.location, run)
    unsigned = "%s/eeforge-t14-sign-%s/unsigned:1" % (registry.location, run)
    args = {"definition": _definition(minimal, run), "tags": [ref], "push": True, "tls_verify": False,
            "sign_by": key, "sign_passphrase_file": pp_file, "signature_store": store,
            "build_log_dir": str(tmp_path / "logs")}
    env = {"GNUPGHOME": gpg.path}
    try:
        first, output = run_ee_build(args, env=env, verbosity=3)
        assert first.get("changed") is True and not first.get("failed"), output
        digest = registry.manifest_digest("eeforge-t14-sign-%s/ee" % run, "1")
        assert first["actions"] == ["build", "push %s" % ref, "sign %s" % ref]
        [sig] = first["signatures"]
        assert sig == {"image": ref, "digest": digest, "signed_by": key, "new": True, "kind": "gpg",
                       "path": os.path.join(store, sg.lookaside_path(ref, digest))}
        assert _signature_files(store) == [sig["path"]]
        # Neither the passphrase nor the key material is in the result, the -vvv output or the build log.
        assert passphrase not in output
        assert files_containing(passphrase, str(tmp_path / "logs"))[0] == []
        secret_key = gpg.export_secret(key, passphrase=passphrase)
        assert secret_key[60:120].decode("latin-1") not in output

        podman(["push", "--quiet", "--tls-verify=false", "--remove-signatures", ref, "docker://" + unsigned])
        with LookasideServer(store) as lookaside:
            node = _node_home(workdir, "node-home", registry, lookaside.url, keyring)
            ok, refusal = _pull(ref, node)
            assert ok, refusal
            assert any(path.endswith("/signature-1") for path in lookaside.requests), lookaside.requests
            ok, refusal = _pull(unsigned, node)
            assert not ok and refusal["reason"] == "unsigned", refusal
            _check_ee_info(workdir, gpg, key, other, keyring, registry, ref, unsigned, digest, store, lookaside.url)

            # Unchanged: nothing built, pushed or signed; the signature is reported as it was.
            again, output = run_ee_build(args, env=env)
            assert again.get("changed") is False and again["actions"] == [], output
            assert again["signatures"] == [dict(sig, new=False)]
            assert _signature_files(store) == [sig["path"]]

            # Another key signs the same image: only a signature is added, the first one is kept.
            second, output = run_ee_build(dict(args, sign_by=other, sign_passphrase_file=None), env=env)
            assert second.get("changed") is True and second["actions"] == ["sign %s" % ref], output
            assert [s["signed_by"] for s in second["signatures"]] == [other]
            assert len(_signature_files(store)) == 2
            ok, refusal = _pull(ref, node)  # signature-1 (the release key) still satisfies the policy
            assert ok, refusal

            # The release key's signature is lost: the up-to-date image is signed again, not rebuilt or pushed.
            os.unlink(sig["path"])
            ok, refusal = _pull(ref, node)
            assert not ok and refusal["reason"] in ("untrusted_key", "unsigned", "rejected"), refusal
            resigned, output = run_ee_build(args, env=env)
            assert resigned.get("changed") is True and resigned["actions"] == ["sign %s" % ref], output
            assert resigned["signatures"][0]["new"] is True and resigned["signatures"][0]["digest"] == digest
            assert registry.manifest_digest("eeforge-t14-sign-%s/ee" % run, "1") == digest
            ok, refusal = _pull(ref, node)
            assert ok, refusal
    finally:
        podman(["rmi", "-f", ref, unsigned], check=False)


def _check_ee_info(workdir, gpg, key, other, keyring, registry, ref, unsigned, digest, store, url):
    # pylint: disable=redefined-outer-name,too-many-arguments
    """ee_info verify_signature: the same judgement as the pull, from a key file or a policy file."""
    base = {"pull": "never", "tls_verify": False}
    for source in (store, url):
        info, output = run_ee_info(dict(base, image=ref, verify_signature=keyring, signature_store=source))
        assert not info.get("failed"), output
        assert info["signature"]["signed_by"] == [key] and info["signature"]["digest"] == digest, info["signature"]
    by_digest = "%s@%s" % (ref.rsplit(":", 1)[0], digest)
    info, output = run_ee_info(dict(base, image=by_digest, pull="missing", verify_signature=keyring,
                                    signature_store=url))
    assert not info.get("failed") and info["signature"]["signed_by"] == [key], output

    info, output = run_ee_info(dict(base, image=unsigned, pull="missing", verify_signature=keyring, signature_store=url))
    assert info.get("failed") and "\n" not in info["msg"].strip(), output
    assert info["msg"].startswith("Failed to verify the signature of '%s': it has no signature for sha256:" % unsigned)

    other_keyring = gpg.export_public(other, os.path.join(workdir, "other.gpg"), armor=True)
    info, output = run_ee_info(dict(base, image=ref, verify_signature=other_keyring, signature_store=url))
    assert info.get("failed") and "\n" not in info["msg"].strip(), output
    assert "none of its 1 signature(s) is a valid one by a key of %s" % other_keyring in info["msg"], info["msg"]
    assert key in info["msg"], info["msg"]  # who did sign it

    policy_dir = os.path.join(workdir, "ee-info-policy")
    os.makedirs(policy_dir, exist_ok=True)
    policy = sg.write_policy(policy_dir, sg.policy_document(
        {registry.location: [sg.gpg_requirement(keyring)],
         "%s/%s" % (registry.location, unsigned.split("/", 1)[1].rsplit(":", 1)[0]): [{"type": "insecureAcceptAnything"}]}))
    info, output = run_ee_info(dict(base, image=ref, verify_signature=policy, signature_store=url))
    assert not info.get("failed") and info["signature"]["signed_by"] == [key], output
    assert info["signature"]["trusted_by"] == "%s (scope %s)" % (policy, registry.location)
    info, output = run_ee_info(dict(base, image=unsigned, pull="missing", verify_signature=policy,
                                    signature_store=url))
    assert not info.get("failed") and info["signature"]["signed_by"] == [], output


def test_a_wrong_passphrase_fails_in_one_line_before_anything_is_built_or_pushed(
        registry, base_image, workdir, gpg, tmp_path):  # pylint: disable=redefined-outer-name
    minimal = ensure_ee_minimal_image(base_image)
    passphrase = "t14-locked-" + secrets.token_hex(8)
    key = gpg.make_key("eeforge t14 locked", passphrase=passphrase)
    gpg.forget_passphrases()
    wrong = write_secret_file(workdir, "wrong-passphrase", "not-" + passphrase)
    run = uuid.uuid4().hex[:8]
    repo = "eeforge-t14-sign-%s/locked" % run
    ref = "%s/%s:1" % (registry.location, repo)
    store = os.path.join(workdir, "sigstore-locked")
    args = {"definition": _definition(minimal, run), "tags": [ref], "push": True, "tls_verify": False,
            "sign_by": key, "sign_passphrase_file": wrong, "signature_store": store,
            "build_log_dir": str(tmp_path / "logs")}
    try:
        result, output = run_ee_build(args, env={"GNUPGHOME": gpg.path})
        assert result.get("failed"), output
        msg = result["msg"]
        assert "\n" not in msg.strip() and "Traceback" not in output, msg
        assert "Failed to sign with GPG key %s: the passphrase does not unlock it" % key in msg, msg
        assert passphrase not in output
        assert registry.tags(repo) == []
        assert podman(["image", "exists", ref], check=False).returncode != 0
        assert not os.path.exists(store)

        # No key of that name at all: one line too.
        result, output = run_ee_build(dict(args, sign_by="nobody@eeforge.invalid", sign_passphrase_file=None),
                                      env={"GNUPGHOME": gpg.path})
        assert result.get("failed") and "the keyring holds no secret key" in result["msg"], output
        assert registry.tags(repo) == []
    finally:
        podman(["rmi", "-f", ref], check=False)
