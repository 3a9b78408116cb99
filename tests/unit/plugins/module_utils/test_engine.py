# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._engine import (
    CHROOT_SH,
    BuildOptions,
    Engine,
    cannot_start_containers,
    parse_image_inspect,
)
from ansible_collections.eeforge.builder.plugins.module_utils._errors import EngineError, RegistryError
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError

INSPECT = [{
    "Id": "c4e8" * 16, "Digest": "sha256:" + "ab" * 32, "RepoDigests": ["localhost/ee@sha256:" + "ab" * 32],
    "RepoTags": ["localhost/ee:1"], "Size": 12, "Created": "2026-01-01T00:00:00Z", "Architecture": "amd64",
    "Os": "linux", "RootFS": {"Layers": ["a", "b"]},
    "Config": {"User": "1000", "Labels": {"k": "v"}, "Env": ["PATH=/opt/bin:/usr/bin"], "Entrypoint": ["x"]},
}]


class Runner(object):
    """Answers ``podman <verb>`` from a table of (rc, out, err) lists; records argv, stdin and env."""

    def __init__(self, answers):
        self.answers = dict((key, list(value)) for key, value in answers.items())
        self.calls = []

    def get_bin(self, name, required=False):
        return "/usr/bin/" + name

    def run(self, argv, data=None, check=True, environ_update=None, timeout=None, **kwargs):
        self.calls.append({"argv": list(argv), "data": data, "env": environ_update, "timeout": timeout})
        key = argv[1] if argv[1] not in ("image", "manifest") else argv[1] + " " + argv[2]
        queue = self.answers.get(key) or [(0, "", "")]
        rc, out, err = queue.pop(0) if len(queue) > 1 else queue[0]
        if check and rc != 0:
            raise CommandError(argv, rc, out, err)
        return rc, out, err


def engine(answers, **kwargs):
    runner = Runner(answers)
    return Engine(runner, "/usr/bin/podman", **kwargs), runner


def test_one_parser_for_image_inspect():
    info = parse_image_inspect(json.dumps(INSPECT))
    assert info["id"] == "c4e8" * 16 and info["labels"] == {"k": "v"} and info["layers"] == 2
    assert info["user"] == "1000" and info["env"] == ["PATH=/opt/bin:/usr/bin"]
    assert info["manifest_digest"] == "sha256:" + "ab" * 32 and info["tags"] == ["localhost/ee:1"]
    for bad in ("[]", "42", "not json"):
        with pytest.raises(ValueError):
            parse_image_inspect(bad)


def test_inspect_missing_image_is_none_and_bad_json_is_one_line():
    eng, dummy = engine({"image inspect": [(125, "", "Error: localhost/x:1: image not known")]})
    assert eng.inspect("localhost/x:1") is None
    eng, dummy = engine({"image inspect": [(0, "{not json", "")]})
    with pytest.raises(EngineError) as err:
        eng.inspect("localhost/x:1")
    assert str(err.value).startswith("Failed to inspect image 'localhost/x:1': podman image inspect printed "
                                     "unreadable JSON") and "\n" not in str(err.value)


def test_build_argv_from_one_options_object(tmp_path):
    eng, dummy = engine({})
    options = BuildOptions(str(tmp_path), ["localhost/x:1", "r.io/x:1"], build_args={"B": "2", "A": "$HOME~"},
                           labels={"l": "${PATH}"}, squash="all", no_cache=True, extra_args=["--pull=never"],
                           secret=("eeforge_env", "/tmp/s/eeforge_env"), auth_file="/tmp/a/config.json",
                           log_path="/l.log", iid_file="/i")
    argv = eng.build_argv(options)
    assert argv[:4] == ["/usr/bin/podman", "build", "-f", os.path.join(str(tmp_path), "Containerfile")]
    assert argv[argv.index("--build-arg") + 1] == "A=$HOME~"
    assert argv[argv.index("--label") + 1] == "l=${PATH}"
    assert "--squash-all" in argv and "--no-cache" in argv and "--layers" in argv
    assert "id=eeforge_env,src=/tmp/s/eeforge_env" in argv
    assert argv[-2:] == ["--pull=never", str(tmp_path)]
    new = eng.build_argv(BuildOptions("/c", ["x:1"], squash="new"))
    assert "--squash" in new and "--layers" not in new
    assert "--layers=false" in eng.build_argv(BuildOptions("/c", ["x:1"], layers=False))
    with pytest.raises(TypeError):
        BuildOptions("/c", ["x:1"], runtime="docker")


def test_push_retries_transient_then_succeeds_and_never_retries_unauthorized():
    sleeps = []
    eng, runner = engine({"push": [(125, "", "Error: dial tcp 127.0.0.1:5000: connection refused"),
                                   (0, "", "Writing manifest\n")]})
    eng.push("localhost/x:1", "r.io/x:1", retries=2, sleep=sleeps.append)
    assert len(runner.calls) == 2 and sleeps == [2]
    assert runner.calls[0]["argv"][-2:] == ["localhost/x:1", "docker://r.io/x:1"]
    eng, runner = engine({"push": [(125, "", "Error: unauthorized: authentication required")]})
    with pytest.raises(RegistryError) as err:
        eng.push("localhost/x:1", "r.io/x:1", retries=3, sleep=sleeps.append)
    assert err.value.kind == "unauthorized" and len(runner.calls) == 1
    assert err.value.fix.startswith("Check the registry username/password")
    eng, runner = engine({"push": [(125, "", "Error: connection refused")]})
    with pytest.raises(RegistryError, match="after 3 attempts"):
        eng.push("localhost/x:1", "r.io/x:1", retries=2, sleep=lambda s: None)


def test_pull_passes_auth_file_and_tls_and_classifies():
    eng, runner = engine({"pull": [(0, "abc123\n", "")]})
    assert eng.pull("r.io/x:1", auth_file="/p/config.json", tls_verify=False) == "abc123"
    assert runner.calls[0]["argv"] == ["/usr/bin/podman", "pull", "--quiet", "--tls-verify=false", "--authfile",
                                       "/p/config.json", "r.io/x:1"]
    eng, runner = engine({"pull": [(125, "", "Error: initializing source: manifest unknown")]})
    with pytest.raises(RegistryError) as err:
        eng.pull("r.io/x:1")
    assert err.value.kind == "not_found"


def test_manifest_primitives():
    eng, runner = engine({"manifest inspect": [(0, json.dumps({"manifests": [{"digest": "sha256:1"}]}), "")]})
    eng.manifest_create("localhost/m:1")
    eng.manifest_add("localhost/m:1", "localhost/x:1-amd64", arch="amd64")
    assert eng.manifest_inspect("localhost/m:1")["manifests"][0]["digest"] == "sha256:1"
    assert [c["argv"][1:3] for c in runner.calls] == [["manifest", "create"], ["manifest", "add"],
                                                      ["manifest", "inspect"]]
    assert runner.calls[1]["argv"][3:] == ["--arch", "amd64", "localhost/m:1", "localhost/x:1-amd64"]


def test_environment_reaches_every_command():
    eng, runner = engine({}, environ_update={"CONTAINERS_STORAGE_CONF": "/w/storage.conf"})
    eng.import_tarball("/w/probe.tar", "localhost/p:1")
    eng.build(BuildOptions("/w/ctx", ["localhost/p:2"], pull="never", layers=False, quiet=True))
    assert all(c["env"] == {"CONTAINERS_STORAGE_CONF": "/w/storage.conf"} for c in runner.calls)


CRUN_PROC = "Error: crun: mount `proc` to `proc`: Operation not permitted: OCI permission denied"


def test_run_in_image_runs_a_container_first():
    eng, runner = engine({"run": [(0, "out", "")]})
    assert eng.run_in_image("img", ["/bin/sh", "-c", "true"], data="{}") == ("out", "", "run")
    argv = runner.calls[0]["argv"]
    assert argv[:7] == ["/usr/bin/podman", "run", "--rm", "--interactive", "--pull=never", "--network=none",
                        "--user=0"]
    assert "--entrypoint=/bin/sh" in argv and argv[-3:] == ["img", "-c", "true"]


def test_run_in_image_falls_back_to_chroot_where_podman_cannot_start_containers():
    eng, runner = engine({"run": [(126, "", CRUN_PROC)], "unshare": [(0, "inside", "")]})
    out, dummy, method = eng.run_in_image("img", ["python3", "-c", "print(1)"], data="{}",
                                          env=["PATH=/opt/venv/bin:/bin"])
    assert (out, method) == ("inside", "chroot")
    assert runner.calls[1]["argv"] == ["/usr/bin/podman", "unshare", "/bin/sh", "-c", CHROOT_SH, "probe",
                                       "/usr/bin/podman", "img", "/opt/venv/bin:/bin", "python3", "-c", "print(1)"]
    assert runner.calls[1]["data"] == "{}"


def test_run_in_image_does_not_fall_back_when_the_command_fails():
    eng, runner = engine({"run": [(1, "", "Traceback: boom")]})
    with pytest.raises(CommandError):
        eng.run_in_image("img", ["python3"])
    assert len(runner.calls) == 1


def test_cannot_start_containers_words():
    assert cannot_start_containers(CRUN_PROC)
    assert not cannot_start_containers('Error: runc: exec: "python3": executable file not found in $PATH')
