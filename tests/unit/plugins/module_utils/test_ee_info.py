# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

from contextlib import contextmanager

from ansible_collections.eeforge.builder.plugins.module_utils._ee_info import (
    PROBE_MARKER,
    EEInfoError,
    EEInspector,
    collect,
    image_facts,
    needs_registry_digest,
    parse_collection_list,
    parse_probe_output,
    pick_repo_digest,
    probe_input,
    repo_digest_candidates,
    summarize_os_inventory,
    summarize_probe,
)
from ansible_collections.eeforge.builder.plugins.module_utils._engine import Engine, parse_image_inspect
from ansible_collections.eeforge.builder.plugins.module_utils._engine_build import CHROOT_SH, cannot_start_containers, image_path
from ansible_collections.eeforge.builder.plugins.module_utils._probe_scripts import EE_PROBE_PY
from ansible_collections.eeforge.builder.plugins.module_utils._requirements import (
    assertion_failures,
    assertion_message,
    check_requirements,
    normalize_python_name,
    parse_requirement,
    spec_matches,
    version_key,
)
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError
from ansible_collections.eeforge.builder.plugins.module_utils._package_db import RPM_QUERYFORMAT


def facts_of(image, text):
    """The engine's one parser, then ee_info's facts."""
    return image_facts(image, parse_image_inspect(text))


D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


@pytest.mark.parametrize(
    "text, expected",
    [
        ("containers.podman", ("containers.podman", [])),
        ("containers.podman>=1.10", ("containers.podman", [(">=", "1.10")])),
        ("awx.awx >=23, <25", ("awx.awx", [(">=", "23"), ("<", "25")])),
        ("community.general:9.1.0", ("community.general", [("==", "9.1.0")])),
        ("community.general:>=9", ("community.general", [(">=", "9")])),
        ("ansible_core~=2.16.0", ("ansible_core", [("~=", "2.16.0")])),
        ("requests[socks]==2.31.0", ("requests", [("==", "2.31.0")])),
        ("boto3!=1.34.1", ("boto3", [("!=", "1.34.1")])),
        ("jmespath==1.0.*", ("jmespath", [("==", "1.0.*")])),
        ("  pyyaml  ", ("pyyaml", [])),
        ('requests[socks]>=2.31 ; python_version >= "3.8"', ("requests", [(">=", "2.31")])),
        ("boto3>=1.34  # AWS modules", ("boto3", [(">=", "1.34")])),
        ("mypkg @ https://example.com/mypkg-1.0.tar.gz", ("mypkg", [])),
    ],
)
def test_parse_requirement(text, expected):
    assert parse_requirement(text) == expected


@pytest.mark.parametrize("text", ["", "   ", ">=1.0", "boto3 >> 1", "boto3 1.2", "boto3>=1,", "boto3=>1", "# only a comment",
                                  "@ https://example.com/x.tar.gz"])
def test_parse_requirement_rejects(text):
    with pytest.raises(ValueError):
        parse_requirement(text)


@pytest.mark.parametrize(
    "lower, higher",
    [
        ("1.9.3", "1.10.0"),
        ("1.10", "1.10.1"),
        ("2.0.0rc1", "2.0.0"),
        ("2.0.0-beta.1", "2.0.0"),
        ("2.0.0a1", "2.0.0b1"),
        ("2.0.0b2", "2.0.0rc1"),
        ("2.0.0.dev1", "2.0.0a1"),
        ("2.0.0", "2.0.0.post1"),
        ("1!0.1", "2!0.0"),
        ("v1.2", "1.3"),
    ],
)
def test_version_order(lower, higher):
    assert version_key(lower) < version_key(higher)


def test_versions_equal_despite_spelling():
    assert version_key("1.10") == version_key("1.10.0")
    assert version_key("1.0.0+build.5") == version_key("1.0.0")


@pytest.mark.parametrize(
    "version, op, wanted, expected",
    [
        ("1.10.0", ">=", "1.10", True),
        ("1.9.9", ">=", "1.10", False),
        ("2.19.14", "~=", "2.19.0", True),
        ("2.20.0", "~=", "2.19.0", False),
        ("2.19.14", "~=", "2.19", True),
        ("3.0", "~=", "2.19", False),
        ("1.0.1", "==", "1.0.*", True),
        ("1.1.0", "==", "1.0.*", False),
        ("1.1.0", "!=", "1.0.*", True),
        ("1.0.1", "<", "1", False),
        ("0.9", "<", "1", True),
        ("1.0.1", "!=", "1.0.1", False),
        ("5", "==", "*", True),
        (None, ">=", "1", False),
    ],
)
def test_spec_matches(version, op, wanted, expected):
    assert spec_matches(version, op, wanted) is expected


def test_normalize_python_name():
    assert normalize_python_name("PyYAML") == "pyyaml"
    assert normalize_python_name("ansible_core") == normalize_python_name("Ansible.Core") == "ansible-core"


def test_check_requirements_reports_missing_and_wrong_versions():
    installed = {"containers.podman": "1.9.0", "awx.awx": "24.6.1"}
    missing, wrong = check_requirements(
        installed, ["containers.podman>=1.10", "awx.awx>=23,<25", "amazon.aws", "Awx.Awx"])
    assert missing == ["amazon.aws"]
    assert wrong == [{"name": "containers.podman", "wanted": "containers.podman>=1.10", "found": "1.9.0"}]


def test_python_names_are_compared_normalized():
    failures = assertion_failures(
        {"python_packages": {"PyYAML": "6.0.1", "ansible-core": "2.17.5"}},
        assert_python=["pyyaml>=6", "ansible_core==2.17.5", "boto3"],
    )
    assert failures == {"python": {"missing": ["boto3"], "wrong_version": []}}


def test_assertion_message_lists_everything_on_one_line():
    failures = {
        "collections": {"missing": ["amazon.aws>=8", "awx.awx"],
                        "wrong_version": [{"name": "containers.podman", "found": "1.9.0",
                                           "wanted": "containers.podman>=1.10"}]},
        "python": {"missing": ["boto3"], "wrong_version": []},
    }
    msg = assertion_message("reg.example.com/ee:1", failures)
    assert msg == (
        "Failed to verify execution environment 'reg.example.com/ee:1': missing collections: amazon.aws>=8, awx.awx; "
        "wrong collection version: containers.podman is 1.9.0, wanted containers.podman>=1.10; "
        "missing python package: boto3. Add them to the definition's dependencies and rebuild."
    )


def test_no_assertions_no_failures():
    assert assertion_failures({"collections": {}, "python_packages": {}}) == {}


GALAXY_JSON = json.dumps({
    "/root/.ansible/collections/ansible_collections": {"containers.podman": {"version": "1.18.0"}},
    "/usr/share/ansible/collections/ansible_collections": {
        "containers.podman": {"version": "1.10.0"},
        "awx.awx": {"version": "24.6.1"},
        "local.dev": {"version": "*"},
    },
    "/usr/lib/python3/site-packages/ansible/_internal/ansible_collections": {
        "ansible._protomatter": {"version": "2.19.14"},
    },
})


def test_parse_collection_list_first_path_wins_and_skips_private():
    versions, paths = parse_collection_list("[WARNING]: a warning before the JSON\n" + GALAXY_JSON)
    assert versions == {"containers.podman": "1.18.0", "awx.awx": "24.6.1", "local.dev": None}
    assert paths["containers.podman"] == "/root/.ansible/collections/ansible_collections"
    assert paths["awx.awx"] == "/usr/share/ansible/collections/ansible_collections"


def test_parse_collection_list_empty():
    assert parse_collection_list("") == ({}, {})
    assert parse_collection_list("{}") == ({}, {})


INSPECT = [{
    "Id": "c4e8" * 16,
    "Digest": D1,
    "RepoTags": ["127.0.0.1:5000/ee/aws:1", "localhost/ee-aws:1"],
    "RepoDigests": [
        "127.0.0.1:5000/ee/aws@" + D1,
        "127.0.0.1:5000/ee/aws@" + D2,
        "localhost/ee-aws@" + D1,
        "localhost/ee-aws@" + D2,
    ],
    "Created": "2025-06-01T12:00:00.1Z",
    "Config": {"User": "1000", "Labels": {"io.eeforge.definition-digest": "sha256:abc"}, "Env": ["A=1"]},
    "Size": 123456,
    "RootFS": {"Type": "layers", "Layers": ["sha256:a", "sha256:b", "sha256:c"]},
    "Architecture": "amd64",
    "Os": "linux",
}]


def test_parse_image_inspect():
    facts = facts_of("127.0.0.1:5000/ee/aws:1", json.dumps(INSPECT))
    assert facts["image_id"] == "c4e8" * 16
    assert facts["labels"] == {"io.eeforge.definition-digest": "sha256:abc"}
    assert facts["definition_digest"] == "sha256:abc"
    assert facts["size"] == 123456
    assert facts["layers"] == 3
    assert facts["created"] == "2025-06-01T12:00:00.1Z"
    assert facts["digest"] == D1
    assert facts["digest_candidates"] == [D1, D2]
    assert facts["image_user"] == "1000"


def test_parse_image_inspect_without_config_user_or_labels():
    data = {"Id": "x", "RootFS": {}, "Labels": {"a": "b"}}
    facts = facts_of("localhost/x:1", json.dumps([data]))
    assert facts["labels"] == {"a": "b"} and facts["layers"] == 0 and facts["image_user"] == ""
    assert facts["digest"] is None and facts["definition_digest"] is None


def test_parse_image_inspect_rejects_empty():
    with pytest.raises(ValueError):
        facts_of("x", "[]")


def test_repo_digest_matching():
    digests = INSPECT[0]["RepoDigests"] + ["quay.io/other/img@sha256:" + "3" * 64]
    assert repo_digest_candidates("quay.io/other/img:2", digests) == ["sha256:" + "3" * 64]
    # a short name that podman resolved to localhost/
    assert repo_digest_candidates("ee-aws:1", digests) == [D1, D2]
    assert repo_digest_candidates("reg.example.com/none:1", digests) == []
    assert pick_repo_digest("127.0.0.1:5000/ee/aws:1", digests, D2) == D2
    assert pick_repo_digest("127.0.0.1:5000/ee/aws@" + D2, digests, D1) == D2


def test_registry_is_asked_only_when_local_data_is_ambiguous():
    assert needs_registry_digest("127.0.0.1:5000/ee/aws:1", [D1, D2])
    assert not needs_registry_digest("127.0.0.1:5000/ee/aws:1", [D1])
    assert not needs_registry_digest("localhost/ee-aws:1", [D1, D2])
    assert not needs_registry_digest("127.0.0.1:5000/ee/aws@" + D1, [D1, D2])


def test_parse_probe_output_finds_marker_line():
    assert parse_probe_output("noise\n%s{\"a\": 1}\n" % PROBE_MARKER) == {"a": 1}
    with pytest.raises(ValueError):
        parse_probe_output("no marker here")


def test_summarize_probe_warns_about_non_ee_images():
    probe = {
        "python_path": "/usr/bin/python3",
        "python": {"packages": {"pip": "23.0"}, "ansible_core": None, "python_version": "3.11.2"},
        "galaxy": None,
        "user": {"image_user": "nobody", "uid": None, "error": "user nobody is not in /etc/passwd"},
        "runner_writable": {"root": False, "uid_1000": False, "image_user": False},
        "runner_dir": {"path": "/runner", "exists": False},
        "warnings": [],
    }
    info, warnings = summarize_probe(probe)
    assert info["collections"] == {} and info["ansible_core_version"] is None
    assert info["ansible_runner_version"] is None
    assert "error" not in info["user"]
    assert len(warnings) == 3
    assert any("not an Execution Environment" in w for w in warnings)


def test_summarize_probe_versions_from_packages():
    probe = {
        "python_path": "/usr/bin/python3",
        "python": {"packages": {"ansible-core": "2.17.5", "ansible_runner": "2.4.0"}, "ansible_core": None},
        "galaxy": {"rc": 0, "stdout": GALAXY_JSON, "stderr": ""},
    }
    info, warnings = summarize_probe(probe)
    assert info["ansible_core_version"] == "2.17.5"
    assert info["ansible_runner_version"] == "2.4.0"
    assert info["collections"]["awx.awx"] == "24.6.1"
    assert warnings == []


def test_summarize_probe_reports_galaxy_failure():
    probe = {"python": {"packages": {"ansible-runner": "2.4.0"}},
             "galaxy": {"rc": 1, "stdout": "", "stderr": "ERROR! boom"}}
    info, warnings = summarize_probe(probe)
    assert info["collections"] == {}
    assert warnings == ["ansible-galaxy collection list failed (rc=1): ERROR! boom"]


@pytest.mark.skipif(not hasattr(os, "fork") or os.geteuid() != 0 or not os.path.isdir("/tmp"),
                    reason="the probe drops privileges, which needs root")
def test_probe_script_runs_on_this_python(tmp_path):
    """The probe is plain Python 3 and prints one marker line."""
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    proc = subprocess.run([sys.executable, "-c", EE_PROBE_PY], input=probe_input(""), capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = parse_probe_output(proc.stdout)
    assert out["python"]["packages"]
    assert out["user"]["uid"] == 0
    assert set(out["runner_writable"]) == {"root", "uid_1000", "image_user"}


class FakeRunner(object):
    """Stands in for CommandRunner: records argv and stdin, answers from a table."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def get_bin(self, name, required=False):
        return None if name == "skopeo" else "/usr/bin/" + name

    def run(self, argv, data=None, check=True, **kwargs):
        self.calls.append((list(argv), data))
        key = argv[1] if argv[1] != "image" else "image " + argv[2]
        if key == "image exists" and key not in self.answers:
            key = "image inspect"
        # Not a manifest list, unless a test says so.
        rc, out, err = self.answers.get(key, (1, "", "") if key == "manifest" else (0, "", ""))
        if key == "pull" and "after pull" in self.answers:
            self.answers["image inspect"] = self.answers["after pull"]
        if check and rc != 0:
            raise CommandError(argv, rc, out, err)
        return rc, out, err


def _probe_stdout():
    return "\n" + PROBE_MARKER + json.dumps({
        "python_path": "/usr/bin/python3",
        "python": {"packages": {"ansible-core": "2.19.14", "ansible-runner": "2.4.3"}, "python_version": "3.11.2"},
        "galaxy": {"rc": 0, "stdout": GALAXY_JSON, "stderr": ""},
        "user": {"image_user": "1000", "uid": 1000, "gid": 0, "name": None, "home": None},
        "runner_writable": {"root": True, "uid_1000": True, "image_user": True},
        "runner_dir": {"path": "/runner", "exists": True},
    }) + "\n"


@contextmanager
def fake_registry_auth(module, registry, username=None, password=None, auth_file=None):
    yield "/private/config.json" if username else auth_file


def inspector(runner, check_mode=False):
    return EEInspector(None, Engine(runner, "/usr/bin/podman", timeout=60), registry_auth=fake_registry_auth,
                       check_mode=check_mode)


@pytest.mark.parametrize("policy, present, pulls", [
    ("always", True, 1), ("missing", True, 0), ("missing", False, 1), ("never", True, 0),
])
def test_pull_policy(policy, present, pulls):
    answers = {
        "image inspect": (0 if present else 125, json.dumps(INSPECT), "" if present else "Error: no such image"),
        "run": (0, _probe_stdout(), ""),
        "pull": (0, "c4e8\n", ""),
    }
    if not present:
        answers["after pull"] = (0, json.dumps(INSPECT), "")  # the pull puts it there
    runner = FakeRunner(answers)
    result, failures, warnings = collect(inspector(runner), "127.0.0.1:5000/ee/aws:1", pull=policy,
                                         username="u", password="secret-pw", tls_verify=False,
                                         assert_collections=["awx.awx>=24"])
    pulled = [call[0] for call in runner.calls if call[0][1] == "pull"]
    assert len(pulled) == pulls
    assert result["pulled"] is bool(pulls) and result["would_pull"] is False
    assert failures == {} and warnings == []
    assert result["collections"]["awx.awx"] == "24.6.1" and result["layers"] == 3
    probe = [call for call in runner.calls if call[0][1] == "run"]
    assert len(probe) == 1
    argv, stdin = probe[0]
    assert argv[-3:] == ["c4e8" * 16, "-c", EE_PROBE_PY] and "--rm" in argv and "--network=none" in argv
    assert json.loads(stdin)["image_user"] == "1000" and json.loads(stdin)["marker"] == PROBE_MARKER
    assert not any("secret-pw" in " ".join(call[0]) for call in runner.calls)
    if pulls:
        assert pulled[0] == ["/usr/bin/podman", "pull", "--quiet", "--tls-verify=false", "--authfile",
                             "/private/config.json", "127.0.0.1:5000/ee/aws:1"]


@pytest.mark.parametrize("policy, present", [("always", True), ("always", False), ("missing", False)])
def test_check_mode_pulls_nothing(policy, present):
    runner = FakeRunner({
        "image inspect": (0 if present else 125, json.dumps(INSPECT), "" if present else "Error: no such image"),
        "run": (0, _probe_stdout(), ""),
    })
    result, failures, warnings = collect(inspector(runner, check_mode=True), "127.0.0.1:5000/ee/aws:1", pull=policy,
                                         assert_collections=["awx.awx>=99"])
    assert "pull" not in [call[0][1] for call in runner.calls]
    assert result["pulled"] is False and result["would_pull"] is True and len(warnings) == 1
    if present:
        # the local copy is inspected (and its assertions checked), with a warning that it may be stale
        assert result["image_id"] == "c4e8" * 16 and "facts of the local copy" in warnings[0]
        assert failures["collections"]["wrong_version"][0]["name"] == "awx.awx"
    else:
        assert result["image_id"] is None and result["collections"] == {} and failures == {}
        assert "was not pulled" in warnings[0] and "assertions were not checked" in warnings[0]
        assert "run" not in [call[0][1] for call in runner.calls]


def test_check_mode_pull_never_fails_like_the_real_run():
    runner = FakeRunner({"image inspect": (125, "", "Error: no such image")})
    with pytest.raises(EEInfoError, match="pull is 'never'"):
        collect(inspector(runner, check_mode=True), "localhost/ee:1", pull="never")


def test_pull_never_fails_when_absent():
    runner = FakeRunner({"image inspect": (125, "", "Error: no such image")})
    with pytest.raises(EEInfoError) as exc:
        collect(inspector(runner), "localhost/ee:1", pull="never")
    assert "not in local storage and pull is 'never'" in str(exc.value)
    assert [call[0][1] for call in runner.calls] == ["image"]


def test_image_without_python3_is_named():
    runner = FakeRunner({
        "image inspect": (0, json.dumps(INSPECT), ""),
        "run": (127, "", 'Error: runc: exec: "python3": executable file not found in $PATH'),
    })
    with pytest.raises(EEInfoError) as exc:
        collect(inspector(runner), "localhost/ee:1", pull="never")
    assert "has no python3 on PATH" in str(exc.value)


def test_unreadable_inspect_output_is_one_line():
    runner = FakeRunner({"image inspect": (0, "{not json", "")})
    with pytest.raises(EEInfoError) as exc:
        collect(inspector(runner), "localhost/ee:1", pull="never")
    assert str(exc.value).startswith("Failed to inspect execution environment 'localhost/ee:1': podman image "
                                     "inspect printed unreadable JSON") and "\n" not in str(exc.value)


CRUN_PROC = "Error: crun: mount `proc` to `proc`: Operation not permitted: OCI permission denied"
CRUN_PING = ("Error: OCI runtime error: crun: open `/proc/sys/net/ipv4/ping_group_range`: "
             "Read-only file system")


@pytest.mark.parametrize("stderr, nested", [
    (CRUN_PROC, True),
    (CRUN_PING, True),
    ("Error: runc create failed: unable to start container process: error during container init: "
     "error mounting \"proc\" to rootfs at \"/proc\": mount proc:/proc (via /proc/self/fd/6), flags: 0xe: "
     "operation not permitted: OCI permission denied", True),
    ('Error: runc: exec: "python3": executable file not found in $PATH', False),
    ("Traceback (most recent call last):\nPermissionError: [Errno 13] Permission denied: '/runner'", False),
    ("Error: localhost/ee:1: image not known", False),
    ("", False),
])
def test_cannot_start_containers(stderr, nested):
    assert cannot_start_containers(stderr) is nested


def _inspect_with_env(env):
    data = json.loads(json.dumps(INSPECT))
    data[0]["Config"]["Env"] = env
    return json.dumps(data)


@pytest.mark.parametrize("error", [CRUN_PROC, CRUN_PING])
def test_probe_falls_back_to_chroot_where_podman_cannot_run(error):
    env = ["PATH=/opt/venv/bin:/usr/bin:/bin", "LANG=C.UTF-8", "TOKEN_HINT=a=b"]
    runner = FakeRunner({
        "image inspect": (0, _inspect_with_env(env), ""),
        "run": (126, "", error),
        "unshare": (0, _probe_stdout(), ""),
    })
    result, failures, warnings = collect(inspector(runner), "localhost/ee:1", pull="never",
                                         password="secret-pw", assert_collections=["awx.awx>=24"])
    assert failures == {} and warnings == []
    assert result["probe_method"] == "chroot"
    assert result["collections"]["awx.awx"] == "24.6.1" and result["runner_writable"]["root"] is True
    commands = [call[0][1] for call in runner.calls]
    assert commands == ["image", "manifest", "image", "run", "unshare"], commands
    argv, stdin = runner.calls[-1]
    assert argv == ["/usr/bin/podman", "unshare", "/bin/sh", "-c", CHROOT_SH, "probe", "/usr/bin/podman",
                    "c4e8" * 16, "/opt/venv/bin:/usr/bin:/bin", "python3", "-c", EE_PROBE_PY]
    # the image's environment goes on stdin (the probe's JSON input), not on argv
    environ = json.loads(stdin)["environ"]
    assert environ["LANG"] == "C.UTF-8" and environ["TOKEN_HINT"] == "a=b" and environ["HOME"] == "/root"
    assert not any("secret-pw" in " ".join(call[0]) or "TOKEN_HINT" in " ".join(call[0]) for call in runner.calls)


def test_probe_method_is_run_when_podman_runs():
    runner = FakeRunner({"image inspect": (0, json.dumps(INSPECT), ""), "run": (0, _probe_stdout(), "")})
    result, dummy, dummy = collect(inspector(runner), "localhost/ee:1", pull="never")
    assert result["probe_method"] == "run"
    assert [call[0][1] for call in runner.calls] == ["image", "manifest", "image", "run"]


@pytest.mark.parametrize("stderr", [
    "Error: crun: executable file `/bin/false` not found",
    "Error: something else went wrong",
])
def test_no_fallback_for_other_failures(stderr):
    runner = FakeRunner({"image inspect": (0, json.dumps(INSPECT), ""), "run": (1, "", stderr)})
    with pytest.raises(EEInfoError) as exc:
        collect(inspector(runner), "localhost/ee:1", pull="never")
    assert "the probe container failed" in str(exc.value)
    assert "unshare" not in [call[0][1] for call in runner.calls]


def test_failed_fallback_names_both_causes():
    runner = FakeRunner({
        "image inspect": (0, json.dumps(INSPECT), ""),
        "run": (126, "", CRUN_PROC),
        "unshare": (125, "", "Error: please use unshare with rootless"),
    })
    with pytest.raises(EEInfoError) as exc:
        collect(inspector(runner), "localhost/ee:1", pull="never")
    message = str(exc.value)
    assert message.startswith("Failed to inspect execution environment 'localhost/ee:1': podman cannot start")
    assert "OCI permission denied" in message and "please use unshare with rootless" in message
    assert "\n" not in message


def test_image_path_defaults():
    assert image_path(["A=1", "PATH=/x:/y"]) == "/x:/y"
    assert image_path([]) == image_path(None) == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.mark.skipif(os.geteuid() != 0 or not hasattr(os, "fork"), reason="chroot needs root")
def test_chroot_script_creates_mounts_runs_and_removes(tmp_path):
    """CHROOT_SH with a stand-in podman whose container mount is / : the probe runs, rm follows."""
    log = tmp_path / "podman.log"
    fake = tmp_path / "podman"
    fake.write_text('#!/bin/sh\necho "$@" >> %s\ncase "$1" in create) echo CID;; mount) echo /;; esac\n' % log)
    fake.chmod(0o755)
    path = os.path.dirname(sys.executable) + ":/usr/bin:/bin"
    proc = subprocess.run(["/bin/sh", "-c", CHROOT_SH, "probe", str(fake), "IMAGE-ID", path, "python3", "-c",
                           EE_PROBE_PY], input=probe_input("", ["PATH=" + path, "EEFORGE_PROBE_ENV=1"]),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = parse_probe_output(proc.stdout)
    assert out["python"]["packages"] and out["user"]["uid"] == 0
    assert log.read_text().splitlines() == [
        "create --pull=never --network=none --entrypoint=/bin/sh IMAGE-ID", "mount CID", "rm --force CID"]


# ----------------------------------------------------------------------------------------------
# The OS package database part of the probe (for sbom_path)
# ----------------------------------------------------------------------------------------------

DPKG_STATUS = """Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4

Package: vim-tiny
Status: deinstall ok config-files
Architecture: amd64
Version: 2:9.0.1378-2
"""
OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


def test_probe_input_asks_for_the_os_inventory_only_when_wanted():
    assert "os_inventory" not in json.loads(probe_input(""))
    wanted = json.loads(probe_input("", os_inventory=True))
    assert wanted["os_inventory"] == {"rpm_queryformat": RPM_QUERYFORMAT}


def test_summarize_os_inventory_dpkg():
    facts, warnings = summarize_os_inventory({"os_inventory": {
        "os_release": OS_RELEASE, "package_db": "dpkg", "packages": DPKG_STATUS, "error": None}})
    assert warnings == []
    assert facts["package_db"] == "dpkg" and facts["os_release"]["id"] == "debian"
    assert [p["name"] for p in facts["os_packages"]] == ["libc6"]  # vim-tiny is not installed
    assert facts["os_packages"][0]["source"] == "glibc"


def test_summarize_os_inventory_rpm():
    text = "bash\t(none)\t5.1.8\t9.el9\tx86_64\tbash-5.1.8-9.el9.src.rpm\tGPLv3+\n"
    facts, warnings = summarize_os_inventory({"os_inventory": {
        "os_release": 'ID="rhel"\nVERSION_ID="9.4"\n', "package_db": "rpm", "packages": text, "error": None}})
    assert warnings == []
    assert facts["os_packages"][0]["name"] == "bash" and facts["os_packages"][0]["version"] == "5.1.8-9.el9"


@pytest.mark.parametrize("raw, warning", [
    ({"os_release": "", "package_db": None, "packages": "", "error": None}, "neither /var/lib/dpkg/status nor rpm"),
    ({"os_release": "", "package_db": "rpm", "packages": "", "error": "rpm -qa failed (rc=1): db locked"},
     "rpm -qa failed (rc=1): db locked"),
    ({"os_release": "", "package_db": "rpm", "packages": "not a tab line\n", "error": None}, "unreadable"),
])
def test_summarize_os_inventory_without_packages_warns(raw, warning):
    facts, warnings = summarize_os_inventory({"os_inventory": raw})
    assert facts["os_packages"] == []
    assert len(warnings) == 1 and warning in warnings[0] and "\n" not in warnings[0]


@pytest.mark.skipif(not hasattr(os, "fork") or os.geteuid() != 0 or not os.path.isfile("/var/lib/dpkg/status"),
                    reason="needs root and a dpkg system")
def test_probe_script_reads_the_package_database_of_this_system():
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin")
    proc = subprocess.run([sys.executable, "-c", EE_PROBE_PY], input=probe_input("", os_inventory=True),
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    facts, warnings = summarize_os_inventory(parse_probe_output(proc.stdout))
    assert warnings == [] and facts["package_db"] == "dpkg"
    assert "libc6" in [p["name"] for p in facts["os_packages"]]
    assert facts["os_release"]["id"]


def _probe_stdout_with_os():
    doc = json.loads(_probe_stdout().strip()[len(PROBE_MARKER):])
    doc["os_inventory"] = {"os_release": OS_RELEASE, "package_db": "dpkg", "packages": DPKG_STATUS, "error": None}
    return "\n" + PROBE_MARKER + json.dumps(doc) + "\n"


def test_collect_reads_the_os_inventory_in_the_same_probe_run():
    runner = FakeRunner({"image inspect": (0, json.dumps(INSPECT), ""), "run": (0, _probe_stdout_with_os(), "")})
    result, failures, warnings = collect(inspector(runner), "localhost/ee:1", pull="never", os_inventory=True)
    assert failures == {} and warnings == []
    runs = [call for call in runner.calls if call[0][1] == "run"]
    assert len(runs) == 1 and json.loads(runs[0][1])["os_inventory"]["rpm_queryformat"] == RPM_QUERYFORMAT
    assert [p["name"] for p in result["os_inventory"]["os_packages"]] == ["libc6"]


def test_collect_without_sbom_has_no_os_inventory():
    runner = FakeRunner({"image inspect": (0, json.dumps(INSPECT), ""), "run": (0, _probe_stdout(), "")})
    result, dummy, dummy = collect(inspector(runner), "localhost/ee:1", pull="never")
    assert "os_inventory" not in result
    assert "os_inventory" not in json.loads(runner.calls[-1][1])
