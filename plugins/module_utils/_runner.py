# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that runs podman, docker, skopeo and ansible-builder.

Commands are argv lists given to ``module.run_command`` (no shell), secrets go through
``data=`` (stdin) or 0600 files in a ``private_tempdir()`` that is always removed, and a
failure becomes a ``CommandError`` carrying the tool's stderr, never a traceback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import signal
import tempfile
import time
from contextlib import contextmanager

from ansible.module_utils.common.text.converters import to_native

# Exit status of coreutils timeout(1) when the time limit is hit.
TIMEOUT_RC = 124
# Seconds a command cut short gets to end after SIGTERM before SIGKILL (AWX waits longer than
# that before it SIGKILLs a cancelled job).
STOP_GRACE = 30


class CommandError(Exception):
    """A command that failed; ``str()`` is one line: the command name, rc and last stderr line."""

    def __init__(self, argv, rc, stdout="", stderr="", timed_out=False, timeout=None):
        self.argv = list(argv)
        self.rc = rc
        self.stdout = stdout or ""
        self.stderr = stderr or ""
        self.timed_out = timed_out
        self.timeout = timeout
        super(CommandError, self).__init__(self.summary())

    @property
    def tool(self):
        return os.path.basename(self.argv[0]) if self.argv else "command"

    def last_line(self):
        """The last non-empty line of stderr (or stdout), where CLIs put the reason."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return ""

    def tail(self, count=30):
        text = self.stderr if self.stderr.strip() else self.stdout
        return text.splitlines()[-count:]

    def summary(self):
        if self.timed_out:
            return "%s did not finish within %s seconds" % (self.tool, self.timeout)
        line = self.last_line()
        return "%s exited with %s%s" % (self.tool, self.rc, (": " + line) if line else "")


@contextmanager
def private_tempdir(prefix="ee-build-", parent=None):
    """A 0700 temp dir for secrets and build contexts; removed on exit, even on errors."""
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        os.chmod(path, 0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_private_file(directory, name, content):
    """Write ``content`` (text or bytes) to ``directory/name`` with mode 0600; return the path."""
    path = os.path.join(directory, name)
    data = content.encode("utf-8") if not isinstance(content, bytes) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


def stop_process(proc, grace=STOP_GRACE):
    """End ``proc`` (a Popen) and reap it: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc is None:
        return
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # it may have had one already (a group kill); twice is harmless
            deadline = time.time() + grace
            while proc.poll() is None and time.time() < deadline:
                time.sleep(0.1)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    except OSError:
        pass  # already gone
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except (IOError, OSError):
                pass


class CommandRunner(object):
    """Runs argv lists through ``module.run_command`` with an explicit environment.

    ``environ_update`` is added to every command (e.g. ``CONTAINERS_CONF`` that the caller has,
    ``DOCKER_CONFIG`` for a private auth dir); it never carries secrets.
    """

    def __init__(self, module, environ_update=None):
        self.module = module
        self.environ_update = dict(environ_update or {})
        self._bins = {}
        self.calls = []  # tool names run, in order (returned to tests as evidence of what ran)

    def get_bin(self, name, required=False):
        """Absolute path of ``name`` in PATH (or the path itself), None when missing and not required."""
        if name not in self._bins:
            if os.path.isabs(name):
                self._bins[name] = name if os.access(name, os.X_OK) else None
            else:
                self._bins[name] = self.module.get_bin_path(name, required=False)
        path = self._bins[name]
        if path is None and required:
            raise CommandError([name], 127, stderr="'%s' was not found in PATH" % name)
        return path

    def run(self, argv, data=None, check=True, environ_update=None, timeout=None, cwd=None, binary_data=True):
        """Run ``argv`` (a list); return ``(rc, stdout, stderr)``.

        Every argv element reaches the tool as written: ``expand_user_and_vars=False``, so a
        user's ``$HOME``, ``~`` or ``${PATH}`` in a label, build arg, tag or path is data.
        ``data`` goes to stdin as is (no newline added): the place for passwords.
        ``timeout`` (seconds) wraps the command in coreutils ``timeout``; hitting it raises
        ``CommandError`` with ``timed_out=True`` when ``check`` is set.
        With ``check=True`` a non-zero exit raises ``CommandError``.
        """
        argv = [to_native(arg) for arg in argv]
        if not argv:
            raise ValueError("empty command")
        self.calls.append(os.path.basename(argv[0]))
        run_argv = list(argv)
        if timeout:
            timeout_bin = self.get_bin("timeout")
            if timeout_bin:
                # --foreground: timeout(1) otherwise moves itself and the command into a process group
                # of their own, which an AWX cancel (SIGTERM to the job's process group) never reaches.
                run_argv = [timeout_bin, "--foreground", "--kill-after=10", str(int(timeout))] + run_argv
        env = dict(self.environ_update)
        env.update(environ_update or {})
        started = []
        try:
            rc, out, err = self.module.run_command(
                run_argv, data=data, binary_data=binary_data, environ_update=env, cwd=cwd, check_rc=False,
                expand_user_and_vars=False, before_communicate_callback=started.append,
            )
        except BaseException:
            # Terminated (a cancel) or anything else cut run_command short: the command may still
            # be running. Stop it and wait, so that whatever cleans up next (temp dirs, the build's
            # working containers) does not race it.
            stop_process(started[0] if started else None)
            raise
        timed_out = bool(timeout) and rc == TIMEOUT_RC
        if check and rc != 0:
            raise CommandError(argv, rc, out, err, timed_out=timed_out, timeout=timeout)
        return rc, out, err
