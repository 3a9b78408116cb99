# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import stat

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils import _registry as registry
from ansible_collections.eeforge.builder.plugins.module_utils._errors import classify
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandRunner

DIGEST = "sha256:" + "ab" * 32
SECRET = "s3cr3t-pw-unit"


class FakeModule(object):
    """Records every run_command call and answers from a list of (rc, out, err)."""

    def __init__(self, answers=None, bins=("skopeo", "podman", "timeout")):
        self.answers = list(answers or [])
        self.calls = []
        self.bins = bins

    def get_bin_path(self, name, required=False):
        return "/usr/bin/" + name if name in self.bins else None

    def run_command(self, argv, data=None, binary_data=False, environ_update=None, cwd=None, check_rc=False,
                    expand_user_and_vars=True, before_communicate_callback=None):
        self.expanded = getattr(self, "expanded", []) + [expand_user_and_vars]
        auth = None
        if "--authfile" in argv and os.path.exists(argv[argv.index("--authfile") + 1]):
            path = argv[argv.index("--authfile") + 1]
            with open(path) as handle:
                auth = json.load(handle)
            auth["_mode"] = stat.S_IMODE(os.stat(path).st_mode)
            auth["_path"] = path
        self.calls.append({"argv": list(argv), "data": data, "env": environ_update, "auth": auth})
        return self.answers.pop(0) if self.answers else (0, "", "")


def skopeo_json(digest=DIGEST, labels=None):
    return json.dumps({"Name": "r/x", "Digest": digest, "Labels": labels, "Created": "2024-01-01T00:00:00Z"})


def test_classify_kinds():
    assert classify("reading manifest x in r/a: manifest unknown: manifest unknown") == "not_found"
    assert classify("unauthorized: authentication required") == "unauthorized"
    assert classify("requested access to the resource is denied") == "unauthorized"
    assert classify("dial tcp 127.0.0.1:1: connect: connection refused") == "unreachable"
    assert classify("x509: certificate signed by unknown authority") == "tls"
    assert classify("something else") == "error"
    # a digest that happens to contain 401 is not an authentication error
    assert classify("manifest unknown sha256:a401b") == "not_found"


def test_auth_json_merges_and_handles_docker_hub():
    text = registry.auth_json("docker.io", "u", "p", base={"auths": {"other.io": {"auth": "x"}}})
    data = json.loads(text)
    assert data["auths"]["other.io"] == {"auth": "x"}
    assert base64.b64decode(data["auths"]["docker.io"]["auth"]).decode() == "u:p"
    assert "https://index.docker.io/v1/" in data["auths"]


def test_registry_auth_private_file_removed(tmp_path):
    module = FakeModule()
    with registry.registry_auth(module, "r.example.com", "u", SECRET) as path:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        assert os.path.basename(path) == "config.json"
    assert not os.path.exists(path)
    assert not os.path.exists(os.path.dirname(path))
    user_file = tmp_path / "auth.json"
    user_file.write_text(json.dumps({"auths": {"a.io": {"auth": "eA=="}}}))
    with registry.registry_auth(module, "r.example.com", auth_file=str(user_file)) as path:
        assert path == str(user_file)
    with registry.registry_auth(module, "r.example.com", "u", SECRET, auth_file=str(user_file)) as path:
        merged = json.load(open(path))
        assert set(merged["auths"]) == {"a.io", "r.example.com"}
    assert json.loads(user_file.read_text()) == {"auths": {"a.io": {"auth": "eA=="}}}
    with registry.registry_auth(module, "r.example.com") as path:
        assert path is None


def test_registry_auth_errors(tmp_path):
    with pytest.raises(registry.RegistryError, match="only one of username and password"):
        with registry.registry_auth(FakeModule(), "r.io", "u", None):
            pass
    with pytest.raises(registry.RegistryError, match="does not exist"):
        with registry.registry_auth(FakeModule(), "r.io", auth_file=str(tmp_path / "nope.json")):
            pass
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(registry.RegistryError, match="is not JSON"):
        with registry.registry_auth(FakeModule(), "r.io", "u", "p", auth_file=str(bad)):
            pass


def test_resolve_digest_passes_password_in_file_only():
    module = FakeModule([(0, skopeo_json(), "")])
    assert registry.resolve_digest(module, "r.example.com/a/b:1", username="u", password=SECRET) == DIGEST
    call = module.calls[0]
    assert SECRET not in " ".join(call["argv"])
    assert call["data"] is None
    assert call["argv"][-1] == "docker://r.example.com/a/b:1"
    assert "--tls-verify=true" in call["argv"]
    assert call["auth"]["_mode"] == 0o600
    assert base64.b64decode(call["auth"]["auths"]["r.example.com"]["auth"]).decode() == "u:" + SECRET
    assert not os.path.exists(call["auth"]["_path"])


def test_resolve_digest_missing_and_errors():
    missing = 'time="x" level=fatal msg="Error parsing image name \\"docker://r/a:1\\": reading manifest 1 in r/a: manifest unknown"'
    assert registry.resolve_digest(FakeModule([(1, "", missing)]), "r.io/a:1", tls_verify=False) is None
    denied = 'level=fatal msg="reading manifest 1 in r.io/a: unauthorized: authentication required"'
    with pytest.raises(registry.RegistryError) as err:
        registry.resolve_digest(FakeModule([(1, "", denied)]), "r.io/a:1")
    assert err.value.kind == "unauthorized"
    assert "unauthorized" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(registry.RegistryError) as err:
        registry.resolve_digest(FakeModule([(1, "", "dial tcp: connection refused")]), "r.io/a:1")
    assert err.value.kind == "unreachable"
    with pytest.raises(registry.RegistryError, match="Invalid image reference"):
        registry.resolve_digest(FakeModule(), "R.io/A B")


def test_tls_verify_none_passes_no_flag():
    module = FakeModule([(0, skopeo_json(), "")])
    registry.resolve_digest(module, "r.io/a:1", tls_verify=None)
    assert not any(arg.startswith("--tls-verify") for arg in module.calls[0]["argv"])


def test_podman_fallback_when_skopeo_missing():
    inspect = json.dumps([{"Digest": "sha256:" + "cd" * 32, "RepoDigests": ["r.io/a@" + DIGEST],
                           "Config": {"Labels": {"k": "v"}}}])
    module = FakeModule([(0, "imageid\n", ""), (0, inspect, "")], bins=("podman",))
    info = registry.inspect_remote(module, "r.io/a:1", tls_verify=False)
    assert info["digest"] == DIGEST and info["labels"] == {"k": "v"}
    assert module.calls[0]["argv"][:2] == ["/usr/bin/podman", "pull"]


def test_runner_timeout_wrapper_and_calls():
    module = FakeModule([(124, "", "")])
    runner = CommandRunner(module)
    with pytest.raises(Exception) as err:
        runner.run(["podman", "build"], timeout=5)
    assert "did not finish within 5 seconds" in str(err.value)
    # --foreground keeps the command in the caller's process group, where an AWX cancel's SIGTERM arrives
    assert module.calls[0]["argv"][:4] == ["/usr/bin/timeout", "--foreground", "--kill-after=10", "5"]
    assert runner.calls == ["podman"]


def test_runner_never_expands_user_values():
    """``$HOME``, ``~`` and ``${PATH}`` reach the tool as written: run_command must not expand them."""
    module = FakeModule()
    runner = CommandRunner(module)
    runner.run(["podman", "build", "--label", "x=$HOME ~/x ${PATH}", "/ctx/$HOME"])
    assert module.expanded == [False]
    assert module.calls[0]["argv"][3] == "x=$HOME ~/x ${PATH}"
