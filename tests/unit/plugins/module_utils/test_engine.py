# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils import _cut_build as cut_build_utils
from ansible_collections.eeforge.builder.plugins.module_utils._cut_build import running_builds
from ansible_collections.eeforge.builder.plugins.module_utils._engine import Engine, parse_image_inspect
from ansible_collections.eeforge.builder.plugins.module_utils._engine_build import CHROOT_SH, BuildOptions, cannot_start_containers
from ansible_collections.eeforge.builder.plugins.module_utils._errors import EngineError, RegistryError
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError, CommandRunner
from ansible_collections.eeforge.builder.plugins.module_utils._signals import Terminated

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
    assert all(c["env"]["CONTAINERS_STORAGE_CONF"] == "/w/storage.conf" for c in runner.calls)
    # The build also gets a TMPDIR of its own (podman's buildahNNNN files), removed afterwards.
    assert [sorted(c["env"]) for c in runner.calls] == [["CONTAINERS_STORAGE_CONF"],
                                                        ["CONTAINERS_STORAGE_CONF", "TMPDIR"]]
    assert not os.path.exists(runner.calls[1]["env"]["TMPDIR"])


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


# ------------------------------------------------------------------------------------------------
# a build cut short (an AWX cancel, or the timeout): podman 4's working containers are removed
# ------------------------------------------------------------------------------------------------

BASE_ID = "ba5e" * 16
STEP_ID = "57e9" * 16
OTHER_ID = "0the" * 16
OURS = {"io.eeforge.definition-digest": "sha256:" + "d1" * 32}


class CutBuildRunner(object):
    """``podman build`` is cut (raises ``cut``); ps/inspect/rm answer from the storage it describes."""

    def __init__(self, containers, cut, images):
        self.containers = containers  # the ``podman ps --all --external`` entries
        self.images = images  # ref or id -> labels
        self.cut = cut
        self.calls = []

    def run(self, argv, data=None, check=True, environ_update=None, timeout=None, **kwargs):
        self.calls.append({"argv": list(argv), "env": environ_update})
        verb = argv[1]
        if verb == "build":
            tmp = environ_update["TMPDIR"]
            assert os.path.isdir(tmp) and (os.stat(tmp).st_mode & 0o777) == 0o700
            open(os.path.join(tmp, "buildah123"), "w").close()  # what podman leaves there
            raise self.cut
        if verb == "ps":
            return 0, json.dumps(self.containers), ""
        if verb == "image":
            labels = self.images.get(argv[-1])
            if labels is None:
                return 125, "", "Error: %s: image not known" % argv[-1]
            image_id = BASE_ID if argv[-1] == "localhost/base:1" else argv[-1]
            return 0, json.dumps([{"Id": image_id, "Config": {"Labels": labels}}]), ""
        if verb == "rm":
            gone = set(argv[3:])
            self.containers = [c for c in self.containers if c["Id"] not in gone]
            return 0, "", ""
        raise AssertionError("unexpected %s" % argv)


def _storage(cid, image_id, created, state="storage"):
    return {"Id": cid, "ImageID": image_id, "Created": created, "State": state, "Status": state.capitalize()}


def _cut_build(tmp_path, monkeypatch, cut, others=()):
    now = int(time.time())
    containers = [
        _storage("c1" * 32, BASE_ID, now + 1),           # the first stage's container, of the FROM image
        _storage("c2" * 32, STEP_ID, now + 2),           # a later step's, of an image with the build's labels
        _storage("c3" * 32, STEP_ID, now - 3600),        # an older build's (before this one started)
        _storage("c4" * 32, OTHER_ID, now + 2),          # a cached step's: its image has another build's labels
        _storage("c5" * 32, BASE_ID, now + 2, "exited"),  # a podman container, not a build's
    ]
    runner = CutBuildRunner(containers, cut, {"localhost/base:1": {}, BASE_ID: {}, STEP_ID: dict(OURS, x="y"),
                                              OTHER_ID: {"k": "v"}})
    monkeypatch.setattr(cut_build_utils, "running_builds", lambda: [list(argv) for argv in others])
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    eng = Engine(runner, "/usr/bin/podman")
    options = BuildOptions(str(tmp_path / "ctx"), ["localhost/ee:1"], labels=OURS)
    with pytest.raises(type(cut)) as err:
        eng.build(options)
    return err.value, runner


@pytest.mark.parametrize("cut", [Terminated(signal.SIGTERM), CommandError(["podman"], 124, timed_out=True, timeout=5)],
                         ids=["sigterm", "timeout"])
def test_cut_build_removes_its_working_containers_and_podmans_temp_dir(tmp_path, monkeypatch, cut):
    exc, runner = _cut_build(tmp_path, monkeypatch, cut)
    removed = [call["argv"][3:] for call in runner.calls if call["argv"][1] == "rm"]
    # No other build runs: every build container made since the build started is its own.
    assert removed == [["c1" * 32, "c2" * 32, "c4" * 32]], runner.calls
    assert exc.left_behind == []
    assert sorted(c["Id"][:2] for c in runner.containers) == ["c3", "c5"]
    # podman's temp dir (TMPDIR of the build, below the TMPDIR podman would have used) is gone.
    tmp = [call["env"]["TMPDIR"] for call in runner.calls if call["argv"][1] == "build"][0]
    assert os.path.dirname(tmp) == str(tmp_path) and not os.path.exists(tmp)
    assert os.listdir(str(tmp_path)) == []


def test_cut_build_leaves_what_another_running_build_may_own(tmp_path, monkeypatch):
    other = ["podman", "build", "--label", "other=1", "-t", "localhost/other:1", "/ctx"]
    exc, runner = _cut_build(tmp_path, monkeypatch, Terminated(signal.SIGTERM), others=[other])
    removed = [call["argv"][3:] for call in runner.calls if call["argv"][1] == "rm"]
    assert removed == [["c2" * 32]]  # carries this build's labels: ours whatever else runs
    assert exc.left_behind == ["c1" * 6, "c4" * 6]  # of the shared FROM image / another's labels: maybe the other's
    # Another build of the very same labels (the same definition, another tag): nothing is taken.
    same = ["podman", "build", "--label", "%s=%s" % list(OURS.items())[0], "/ctx"]
    exc, runner = _cut_build(tmp_path, monkeypatch, Terminated(signal.SIGTERM), others=[same])
    assert not [call for call in runner.calls if call["argv"][1] == "rm"]
    assert exc.left_behind == ["c1" * 6, "c2" * 6, "c4" * 6]


def test_cut_build_message_names_what_was_left():
    from ansible_collections.eeforge.builder.plugins.module_utils._errors import left_behind_hint  # pylint: disable=import-outside-toplevel

    exc = Terminated(signal.SIGTERM)
    assert left_behind_hint(exc) == ""
    exc.left_behind = ["c1c1c1c1c1c1"]
    hint = left_behind_hint(exc)
    assert "c1c1c1c1c1c1" in hint and "podman rm --force c1c1c1c1c1c1" in hint and "\n" not in hint


def test_running_builds_reads_proc(tmp_path):
    # A process whose argv is "podman build": sh running ./build, which waits on its stdin in a builtin.
    (tmp_path / "build").write_text("read line\n")
    proc = subprocess.Popen(["podman", "build"], executable="/bin/sh", cwd=str(tmp_path), stdin=subprocess.PIPE)
    try:
        deadline = time.time() + 10
        while time.time() < deadline and ["podman", "build"] not in running_builds():
            time.sleep(0.05)
        assert ["podman", "build"] in running_builds()
    finally:
        proc.kill()
        proc.wait()
    assert ["podman", "build"] not in running_builds()


class CutModule(object):
    """run_command as AnsibleModule's: starts the command, hands the Popen to the callback, then is cut."""

    def __init__(self):
        self.proc = None

    def get_bin_path(self, name, required=False):
        return "/usr/bin/" + name

    def run_command(self, argv, before_communicate_callback=None, **kwargs):
        self.proc = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                                      "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
                                      "time.sleep(60)"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        before_communicate_callback(self.proc)
        assert self.proc.stdout.readline() == b"ready\n"
        raise Terminated(signal.SIGTERM)


def test_runner_stops_and_reaps_the_command_a_cancel_cut(monkeypatch):
    from ansible_collections.eeforge.builder.plugins.module_utils import _runner  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr(_runner, "STOP_GRACE", 1)
    monkeypatch.setattr(_runner.stop_process, "__defaults__", (1,))
    module = CutModule()
    started = time.time()
    with pytest.raises(Terminated):
        CommandRunner(module).run(["/usr/bin/podman", "build", "."])
    # The command ignored SIGTERM: it got SIGKILL after the grace, and it was reaped (no zombie).
    assert module.proc.returncode == -signal.SIGKILL
    assert time.time() - started < 20
