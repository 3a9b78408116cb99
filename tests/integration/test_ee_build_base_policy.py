# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""issue 14, part 3: ee_build ``container_policy`` / ``container_keyring`` verify the base image pull.

The harness's ee-minimal image is pushed to the harness registry three times: signed by the team
key, unsigned, and signed by another key (``podman push --sign-by``, the lookaside in a private
directory). The build host's registries.d names that lookaside (in a private HOME, as
docs/trust.md tells a build host to have it in /etc/containers/registries.d); its own policy.json
accepts anything, so only ``container_policy`` can refuse, and in the ``ignore_all`` case it
rejects everything, so only ``container_policy`` can accept.

Builds (CI time): three small builds on ee-minimal (``append_final`` only); the refusals fail
before anything is built.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import uuid

from tests.harness.ee_minimal import ensure_ee_minimal_image
from tests.harness.podman_env import podman
from tests.harness.signing import signing_utils
from tests.integration.test_ee_build import run_ee_build
# The module-scoped signing fixtures: a private work dir and a GNUPGHOME with fresh keys (removed afterwards).
from tests.integration.test_harness_signing import gpg, workdir  # noqa: F401  pylint: disable=unused-import

sg, _sigstore = signing_utils()

ACCEPT = [{"type": "insecureAcceptAnything"}]


def _definition(base, marker):
    return {"version": 3, "images": {"base_image": {"name": base}},
            "additional_build_steps": {"append_final": ["RUN echo %s > /etc/eeforge-t14-base" % marker]}}


def _exists(ref):
    return podman(["image", "exists", ref], check=False).returncode == 0


def _policy_temp_files():
    return glob.glob(os.path.join(tempfile.gettempdir(), "ee-build-policy-*"))


def _one_line_failure(result, output, start):
    assert result.get("failed"), output
    msg = result["msg"]
    assert "\n" not in msg.strip() and "Traceback" not in output, msg
    assert msg.startswith(start), msg
    return msg


def test_container_policy_verifies_the_base_pull(registry, base_image, workdir, gpg, tmp_path):
    # pylint: disable=redefined-outer-name,too-many-locals,too-many-statements
    minimal = ensure_ee_minimal_image(base_image)
    team = gpg.make_key("eeforge t14 base team")
    other = gpg.make_key("eeforge t14 base other")
    team_keyring = gpg.export_public(team, os.path.join(workdir, "base-team.gpg"))
    other_keyring = gpg.export_public(other, os.path.join(workdir, "base-other.gpg"), armor=True)
    run = uuid.uuid4().hex[:8]
    repo = "%s/eeforge-t14-base-%s" % (registry.location, run)
    signed, unsigned, wrong = ("%s/%s:1" % (repo, name) for name in ("signed", "unsigned", "wrong"))
    store = os.path.join(workdir, "base-lookaside-" + run)
    push_home = sg.registries_d_home(os.path.join(workdir, "base-push-home"), [
        sg.registries_d_config(registry.location, lookaside_staging=store)])
    push_env = {"HOME": push_home, "GNUPGHOME": gpg.path}
    for ref, key in ((signed, team), (unsigned, None), (wrong, other)):
        podman(["push", "--quiet", "--tls-verify=false", "--remove-signatures"] + (["--sign-by", key] if key else [])
               + [minimal, "docker://" + ref], env=push_env)
    build_home = sg.registries_d_home(os.path.join(workdir, "base-build-home"), [
        sg.registries_d_config(registry.location, lookaside=store)], policy=sg.policy_document({}, default=ACCEPT))
    strict_home = sg.registries_d_home(os.path.join(workdir, "base-strict-home"), [
        sg.registries_d_config(registry.location, lookaside=store)], policy=sg.policy_document({}))
    user_policy = os.path.join(build_home, ".config", "containers", "policy.json")
    with open(user_policy, "rb") as handle:
        user_policy_before = handle.read()
    tags = {name: "localhost/eeforge-t14-base-%s/%s:1" % (run, name) for name in ("ok", "bad", "wrong", "any", "file")}
    common = {"tls_verify": False, "build_log_dir": str(tmp_path / "logs")}
    required = dict(common, container_policy="signature_required", container_keyring=team_keyring)
    env = {"HOME": build_home}
    leftover_policies = set(_policy_temp_files())
    try:
        # Signed by the team key: pulled by its exact digest through the generated policy, then built.
        args = dict(required, definition=_definition(signed, run), tags=[tags["ok"]])
        first, output = run_ee_build(args, env=env)
        assert first.get("changed") is True and first["built"] is True, output
        assert first["base_image_verified"] is True, first
        assert first["base_image_digest"] == registry.manifest_digest("eeforge-t14-base-%s/signed" % run, "1")
        # Up to date: no pull, nothing verified or built.
        again, output = run_ee_build(args, env=env)
        assert again.get("changed") is False and again["actions"] == [] and again["base_image_verified"] is False, output
        # The same definition without a policy is another image: verification is part of what it is.
        unverified, output = run_ee_build(dict(args, container_policy="system", container_keyring=None),
                                          env=env, check=True)
        assert unverified["definition_digest"] != first["definition_digest"] and unverified.get("changed"), output

        # Unsigned, and signed by another key: refused in one line before anything is built.
        result, output = run_ee_build(dict(required, definition=_definition(unsigned, run), tags=[tags["bad"]]),
                                      env=env)
        msg = _one_line_failure(result, output, "Failed to verify base image '%s' (%s/unsigned@sha256:" % (
            unsigned, repo))
        assert "under container_policy signature_required: " in msg and "A signature was required" in msg, msg
        assert "Sign the base image" in msg, msg
        result, output = run_ee_build(dict(required, definition=_definition(wrong, run), tags=[tags["wrong"]]),
                                      env=env)
        msg = _one_line_failure(result, output, "Failed to verify base image '%s' (" % wrong)
        assert "Add the signer's public key to %s" % team_keyring in msg, msg
        assert not _exists(tags["bad"]) and not _exists(tags["wrong"])

        # A policy file, used as it is: it trusts the other key, so the base it signed builds.
        policy_dir = tmp_path / "policy"
        policy_dir.mkdir()
        policy_file = sg.write_policy(str(policy_dir), sg.policy_document({repo: [sg.gpg_requirement(other_keyring)]}))
        by_file, output = run_ee_build(dict(common, definition=_definition(wrong, run), tags=[tags["file"]],
                                            container_policy=policy_file), env=env)
        assert by_file.get("changed") is True and by_file["base_image_verified"] is True, output
        result, output = run_ee_build(dict(common, definition=_definition(signed, run), tags=[tags["bad"]],
                                           container_policy=policy_file), env=env)
        _one_line_failure(result, output, "Failed to verify base image '%s' (" % signed)
        assert "under container_policy %s: " % policy_file in result["msg"], result["msg"]

        # ignore_all: the host's own policy rejects everything, the build's private policy accepts the unsigned base.
        refused = podman(["pull", "--tls-verify=false", unsigned], env={"HOME": strict_home}, check=False)
        assert refused.returncode != 0 and sg.policy_error(refused.stderr)["reason"] == "rejected", refused.stderr
        anything, output = run_ee_build(dict(common, definition=_definition(unsigned, run), tags=[tags["any"]],
                                             container_policy="ignore_all"), env={"HOME": strict_home})
        assert anything.get("changed") is True and anything["built"] is True, output
        assert anything["base_image_verified"] is False, anything

        # Nothing of the policies is left behind, and the user's own policy is as it was.
        assert set(_policy_temp_files()) <= leftover_policies
        with open(user_policy, "rb") as handle:
            assert handle.read() == user_policy_before
        assert json.loads(user_policy_before) == sg.policy_document({}, default=ACCEPT)
    finally:
        podman(["rmi", "-f"] + list(tags.values()) + [signed, unsigned, wrong], check=False)


def test_container_policy_inputs_fail_in_one_line_before_anything_runs(workdir, tmp_path):
    # pylint: disable=redefined-outer-name
    keyring = os.path.join(workdir, "no-such-keyring.gpg")
    (tmp_path / "not-a-keyring").mkdir()
    base = {"definition": _definition("registry.example.invalid/ee/base:1", "x"),
            "tags": ["localhost/eeforge-t14-base-input/ee:1"], "build_log_dir": str(tmp_path / "logs")}
    cases = [
        (dict(base, container_policy="signature_required"),
         "Failed to check container_policy: signature_required needs container_keyring"),
        (dict(base, container_policy="ignore_all", container_keyring=keyring),
         "Failed to check container_policy: container_keyring is only used with container_policy: signature_required"),
        (dict(base, container_policy="signature_required", container_keyring=keyring),
         "Failed to read container_keyring '%s'" % keyring),
        (dict(base, container_policy=str(tmp_path / "policy.json")),
         "Failed to read container_policy '%s': no such file" % (tmp_path / "policy.json")),
        (dict(base, definition=_definition("localhost/eeforge/base:1", "x"), container_policy="signature_required",
              container_keyring=sg.write_policy(str(tmp_path / "not-a-keyring"), {"default": ACCEPT})),
         "Failed to check container_keyring"),
    ]
    for args, start in cases:
        result, output = run_ee_build(args)
        _one_line_failure(result, output, start)
    assert not os.path.exists(str(tmp_path / "logs"))
