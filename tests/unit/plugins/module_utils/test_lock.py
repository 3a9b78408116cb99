# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import multiprocessing
import os
import signal
import stat
import time

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils import _lock
from ansible_collections.eeforge.builder.plugins.module_utils._lock import (
    TagLockError,
    TagLockTimeout,
    default_lock_dir,
    lock_path,
    normalize_ref,
    tag_lock,
)

CTX = multiprocessing.get_context("fork")


def _hold(lock_dir, tags, ready, release, timeout=0):
    """Child: take the lock, say so, wait until told to let go."""
    with tag_lock(tags, timeout=timeout, lock_dir=lock_dir):
        ready.set()
        release.wait(30)


def _hold_forever(lock_dir, tags, ready):
    with tag_lock(tags, timeout=0, lock_dir=lock_dir):
        ready.set()
        time.sleep(60)


def _record(lock_dir, tags, log, name, hold_for):
    with tag_lock(tags, timeout=20, lock_dir=lock_dir):
        log.put(("start", name, time.time()))
        time.sleep(hold_for)
        log.put(("end", name, time.time()))


def _start(target, *args):
    proc = CTX.Process(target=target, args=args)
    proc.daemon = True
    proc.start()
    return proc


@pytest.mark.parametrize("a, b", [
    ("myee:1", "localhost/myee:1"),
    ("myee:1", "docker.io/library/myee:1"),
    ("myee", "myee:latest"),
    ("registry.example.com:5000/ee/x:1", "registry.example.com:5000/ee/x:1@sha256:" + "a" * 64),
])
def test_spellings_of_one_image_share_a_lock(a, b, tmp_path):
    assert normalize_ref(a) == normalize_ref(b)
    assert lock_path(a, str(tmp_path)) == lock_path(b, str(tmp_path))


def test_different_tags_have_different_locks(tmp_path):
    assert lock_path("r.example.com/ee/x:1", str(tmp_path)) != lock_path("r.example.com/ee/x:2", str(tmp_path))
    assert lock_path("r.example.com/ee/x:1", str(tmp_path)) != lock_path("q.example.com/ee/x:1", str(tmp_path))


def test_lock_dir_is_private_and_file_removed_after_release(tmp_path):
    lock_dir = str(tmp_path / "locks")
    with tag_lock("r.example.com/ee/x:1", lock_dir=lock_dir) as held:
        assert held == ["r.example.com/ee/x:1"]
        assert stat.S_IMODE(os.stat(lock_dir).st_mode) == 0o700
        path = lock_path("r.example.com/ee/x:1", lock_dir)
        with open(path) as handle:
            assert handle.readline().strip() == str(os.getpid())
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(lock_dir) == []


def test_second_process_times_out_with_one_line_naming_tag_and_pid(tmp_path):
    lock_dir = str(tmp_path)
    ready, release = CTX.Event(), CTX.Event()
    child = _start(_hold, lock_dir, ["r.example.com/ee/x:1"], ready, release)
    try:
        assert ready.wait(10)
        started = time.time()
        with pytest.raises(TagLockTimeout) as err:
            with tag_lock(["r.example.com/ee/x:1"], timeout=0.5, lock_dir=lock_dir):
                pytest.fail("got a lock another process holds")
        assert 0.4 < time.time() - started < 3
        msg = str(err.value)
        assert "\n" not in msg
        assert "r.example.com/ee/x:1" in msg
        assert "pid %d" % child.pid in msg
        assert "after 0 seconds" in msg or "after 1 seconds" in msg
        assert "Wait for that build to finish" in msg
        assert err.value.holder == child.pid
    finally:
        release.set()
        child.join(10)
    assert child.exitcode == 0


def test_waiter_gets_the_lock_when_holder_releases(tmp_path):
    lock_dir = str(tmp_path)
    log = CTX.Queue()
    first = _start(_record, lock_dir, ["r.example.com/ee/x:1"], log, "first", 1.0)
    time.sleep(0.3)
    second = _start(_record, lock_dir, ["localhost/other:1", "r.example.com/ee/x:1"], log, "second", 0)
    first.join(20)
    second.join(20)
    assert (first.exitcode, second.exitcode) == (0, 0)
    events = [log.get(timeout=5) for _event in range(4)]
    assert [(e[0], e[1]) for e in events] == [("start", "first"), ("end", "first"),
                                              ("start", "second"), ("end", "second")]
    assert os.listdir(lock_dir) == []


def test_lock_is_released_when_holder_is_killed(tmp_path):
    lock_dir = str(tmp_path)
    ready = CTX.Event()
    child = _start(_hold_forever, lock_dir, ["r.example.com/ee/x:1"], ready)
    assert ready.wait(10)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    # The file stays (nobody removed it) but the kernel dropped the lock with the process.
    with tag_lock(["r.example.com/ee/x:1"], timeout=2, lock_dir=lock_dir):
        pass
    assert os.listdir(lock_dir) == []


def test_opposite_orders_do_not_deadlock(tmp_path):
    lock_dir = str(tmp_path)
    log = CTX.Queue()
    tags = ["r.example.com/ee/x:%d" % i for i in range(5)]
    procs = [_start(_record, lock_dir, order, log, str(n), 0.2)
             for n, order in enumerate([tags, list(reversed(tags)), tags[1:] + tags[:1]])]
    for proc in procs:
        proc.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    events = [log.get(timeout=5) for _event in range(6)]
    # Never two holders at once.
    assert [e[0] for e in events] == ["start", "end"] * 3


def test_partial_acquire_is_released_on_timeout(tmp_path):
    lock_dir = str(tmp_path)
    ready, release = CTX.Event(), CTX.Event()
    tags = ["r.example.com/ee/x:1", "r.example.com/ee/x:2"]
    # Hold whichever of the two sorts last, so the parent takes the first and then times out.
    last = max(tags, key=lambda t: lock_path(t, lock_dir))
    child = _start(_hold, lock_dir, [last], ready, release)
    try:
        assert ready.wait(10)
        with pytest.raises(TagLockTimeout):
            with tag_lock(tags, timeout=0.3, lock_dir=lock_dir):
                pass
        first = min(tags, key=lambda t: lock_path(t, lock_dir))
        assert not os.path.exists(lock_path(first, lock_dir))
    finally:
        release.set()
        child.join(10)


def test_lock_dir_of_another_kind_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(TagLockError) as err:
        with tag_lock("x:1", lock_dir=str(target)):
            pass
    assert str(target) in str(err.value) and "\n" not in str(err.value)


def test_lock_dir_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TagLockError) as err:
        with tag_lock("x:1", lock_dir=str(tmp_path / "file" / "locks")):
            pass
    assert "Cannot create the lock directory" in str(err.value)


def test_default_lock_dir(monkeypatch, tmp_path):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert default_lock_dir() == str(runtime / "eeforge-locks")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    monkeypatch.setattr(_lock.tempfile, "gettempdir", lambda: str(tmp_path))
    assert default_lock_dir() == str(tmp_path / ("eeforge-locks-%d" % os.getuid()))
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert default_lock_dir() == str(tmp_path / ("eeforge-locks-%d" % os.getuid()))
