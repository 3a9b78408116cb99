# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._signals import (
    Terminated,
    install_termination_handler,
)


@pytest.fixture
def handler():
    restore = install_termination_handler()
    yield
    restore()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_raises_terminated_and_finally_runs(handler, signum):
    cleaned = []
    with pytest.raises(Terminated) as err:
        try:
            os.kill(os.getpid(), signum)
            time.sleep(5)
            pytest.fail("the signal did not interrupt")
        finally:
            cleaned.append(True)
    assert cleaned == [True]
    assert err.value.signum == signum
    assert signal.Signals(signum).name in str(err.value)
    assert "\n" not in str(err.value)


def test_terminated_passes_except_exception(handler):
    caught = []
    with pytest.raises(Terminated):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except Exception:  # pylint: disable=broad-except
            caught.append(True)
    assert caught == []
    assert not isinstance(Terminated(signal.SIGTERM), Exception)


def test_second_signal_does_not_cut_cleanup_short(handler):
    steps = []
    with pytest.raises(Terminated):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            steps.append("cleanup finished")
    assert steps == ["cleanup finished"]


def test_restore_puts_previous_handlers_back():
    before = signal.getsignal(signal.SIGTERM)
    restore = install_termination_handler()
    assert signal.getsignal(signal.SIGTERM) is not before
    restore()
    assert signal.getsignal(signal.SIGTERM) is before


SCRIPT = textwrap.dedent("""
    import os, subprocess, sys, time
    from ansible_collections.eeforge.builder.plugins.module_utils._signals import install_termination_handler, Terminated
    install_termination_handler()
    marker = sys.argv[1]
    child = subprocess.Popen(["sleep", "60"])
    try:
        try:
            print("ready %d" % child.pid, flush=True)
            child.wait()
        except Exception:
            open(marker, "w").write("swallowed")
        finally:
            child.wait()
            open(marker, "a").write("cleaned rc=%s" % child.returncode)
    except Terminated as exc:
        print(exc, flush=True)
        sys.exit(3)
""")


def _runs_sleep(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().startswith(b"sleep")
    except OSError:
        return False


def test_group_kill_reaches_module_and_child(tmp_path):
    """What an AWX cancel does: SIGTERM to the whole process group."""
    marker = tmp_path / "marker"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(marker)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)
    line = proc.stdout.readline()
    assert line.startswith("ready"), line
    os.killpg(proc.pid, signal.SIGTERM)
    out, _err = proc.communicate(timeout=20)
    assert proc.returncode == 3
    assert "Stopped by SIGTERM" in out
    # The finally block ran and reaped the child.  Its status is -15, or 0 when the signal landed
    # between waitpid() and Popen recording the status: Popen then finds the child gone (ECHILD)
    # and reports 0.  Either way the child is dead, not left running.
    assert marker.read_text() in ("cleaned rc=-15", "cleaned rc=0"), marker.read_text()
    child_pid = int(line.split()[1])
    assert not _runs_sleep(child_pid)
