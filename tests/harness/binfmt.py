# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""binfmt_misc for emulated (foreign-architecture) builds on the test machines.

Installs nothing.  Debian 12's ``qemu-user-static`` ships the entries twice: as
``/usr/share/binfmts/qemu-*`` for binfmt-support's ``update-binfmts`` (flags ``PF``)
and as ``/usr/lib/binfmt.d/qemu-*.conf`` for systemd-binfmt (flags ``OPF``).  On a
machine (or container) without systemd as PID 1 neither service runs at install
time, so nothing is registered until ``binfmt_misc`` is mounted and the entry is
enabled; :func:`ensure` does both.  The ``F`` flag makes the kernel open the
interpreter at registration, so emulation works in containers and user
namespaces where ``/usr/libexec/qemu-binfmt`` does not exist.

``python -m tests.harness.binfmt {ensure|check|status|disable|enable} [ENTRY]`` (root), and
``python -m tests.harness.binfmt probe [arm64]`` (runs a tiny arm64 binary; works in containers).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import tempfile

BINFMT_DIR = "/proc/sys/fs/binfmt_misc"
BINFMT_D = "/usr/lib/binfmt.d"
DEFAULT_ENTRY = "qemu-aarch64"
# OCI architecture -> Debian's qemu-user-static entry name.
ENTRIES = {"arm64": "qemu-aarch64", "arm": "qemu-arm", "ppc64le": "qemu-ppc64le", "s390x": "qemu-s390x"}


class BinfmtError(RuntimeError):
    """One line: what is missing and how to fix it."""


def is_mounted(path=BINFMT_DIR):
    with open("/proc/self/mounts", encoding="utf-8") as handle:
        return any(line.split()[1:3] == [path, "binfmt_misc"] for line in handle if len(line.split()) > 2)


def mount(path=BINFMT_DIR):
    """Mount binfmt_misc at ``path`` unless it is mounted already; return True when it mounted it."""
    if is_mounted(path):
        return False
    res = subprocess.run(
        ["mount", "-t", "binfmt_misc", "binfmt_misc", path], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise BinfmtError(
            "cannot mount binfmt_misc on %s (%s): run as root on the host, not in an unprivileged container"
            % (path, res.stderr.strip() or "exit %d" % res.returncode)
        )
    return True


def entry_state(name=DEFAULT_ENTRY, path=BINFMT_DIR):
    """Return ``{"enabled": bool, "interpreter": str, "flags": str}`` or None when not registered."""
    try:
        with open(os.path.join(path, name), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return None
    state = {"enabled": bool(lines) and lines[0] == "enabled", "interpreter": "", "flags": ""}
    for line in lines[1:]:
        key, value = line.partition(" ")[::2]
        if key == "interpreter":
            state["interpreter"] = value
        elif key == "flags:":
            state["flags"] = value
    return state


def register(name=DEFAULT_ENTRY, path=BINFMT_DIR):
    """Register ``name`` from qemu-user-static's own definition (update-binfmts, else binfmt.d)."""
    if entry_state(name, path) is not None:
        return False
    if shutil.which("update-binfmts") and os.path.exists(os.path.join("/usr/share/binfmts", name)):
        res = subprocess.run(["update-binfmts", "--enable", name], capture_output=True, text=True, check=False)
        if res.returncode == 0 and entry_state(name, path) is not None:
            return True
    conf = os.path.join(BINFMT_D, name + ".conf")
    if not os.path.exists(conf):
        raise BinfmtError(
            "no binfmt definition for %s in /usr/share/binfmts or %s: apt-get install qemu-user-static" % (name, BINFMT_D)
        )
    with open(conf, encoding="utf-8") as handle:
        line = next((ln.strip() for ln in handle if ln.strip() and not ln.startswith(("#", ";"))), "")
    with open(os.path.join(path, "register"), "w", encoding="utf-8") as handle:
        handle.write(line)
    return True


def check(name=DEFAULT_ENTRY, path=BINFMT_DIR):
    """Raise BinfmtError (one line) unless ``name`` is registered, enabled and has the F flag."""
    if not is_mounted(path):
        raise BinfmtError(
            "binfmt_misc is not mounted on %s: mount -t binfmt_misc binfmt_misc %s (as root)" % (path, path)
        )
    state = entry_state(name, path)
    if state is None:
        raise BinfmtError(
            "binfmt_misc has no %s entry: apt-get install qemu-user-static, then update-binfmts --enable %s"
            % (name, name)
        )
    if not state["enabled"]:
        raise BinfmtError("binfmt_misc entry %s is disabled: echo 1 > %s/%s" % (name, path, name))
    if "F" not in state["flags"]:
        raise BinfmtError(
            "binfmt_misc entry %s lacks the F (fix binary) flag (flags %r): emulation fails inside containers;"
            " register qemu-user-static's entry (update-binfmts --enable %s)" % (name, state["flags"], name)
        )
    return state


def ensure(name=DEFAULT_ENTRY, path=BINFMT_DIR):
    """Mount, register and enable ``name`` as needed; return its state (see :func:`check`)."""
    mount(path)
    register(name, path)
    state = entry_state(name, path)
    if state is not None and not state["enabled"]:
        set_enabled(name, True, path)
    return check(name, path)


def set_enabled(name, enabled, path=BINFMT_DIR):
    with open(os.path.join(path, name), "w", encoding="utf-8") as handle:
        handle.write("1" if enabled else "0")


def disable(name=DEFAULT_ENTRY, path=BINFMT_DIR):
    set_enabled(name, False, path)


def enable(name=DEFAULT_ENTRY, path=BINFMT_DIR):
    set_enabled(name, True, path)


@contextlib.contextmanager
def disabled(name=DEFAULT_ENTRY, path=BINFMT_DIR):
    """Disable ``name`` for the duration (a missing-emulation test), then put back how it was.

    binfmt_misc is machine-wide: other builds on the machine lose emulation meanwhile,
    so keep the block short.
    """
    state = entry_state(name, path)
    if state is None:
        raise BinfmtError("binfmt_misc has no %s entry to disable" % name)
    set_enabled(name, False, path)
    try:
        yield
    finally:
        if state["enabled"]:
            set_enabled(name, True, path)


PROBE_EXIT = 7


def probe_elf(arch="arm64"):
    """The collection's probe (``_platforms.probe_elf``): a static ELF of ``arch`` that calls exit(7),
    what ee_build and ee_builder_preflight run to find out whether ``arch`` runs here. Inside a job
    container binfmt_misc is not mounted, so running one is the only way to tell: see :func:`can_execute`."""
    from .signing import collection_module_utils  # pylint: disable=import-outside-toplevel

    elf = collection_module_utils("_platforms").probe_elf(arch)
    if elf is None:
        raise BinfmtError("no probe binary for %s" % arch)
    return elf


def can_execute(arch="arm64"):
    """Run :func:`probe_elf`; return None when it ran (exit 7), else a one-line reason.

    ENOEXEC: no enabled binfmt_misc entry for ``arch``; ENOENT: an entry whose interpreter is not
    reachable here (registered without the F flag).
    """
    workdir = tempfile.mkdtemp(prefix="eeforge-binfmt-probe-")
    path = os.path.join(workdir, "probe-" + arch)
    try:
        with open(path, "wb") as handle:
            handle.write(probe_elf(arch))
        os.chmod(path, 0o700)
        try:
            res = subprocess.run([path], check=False, timeout=30)
        except OSError as exc:
            if exc.errno == errno.ENOEXEC:
                return "no enabled binfmt_misc entry runs %s binaries (exec format error)" % arch
            if exc.errno == errno.ENOENT:
                return "the binfmt_misc entry for %s names an interpreter missing here (no F flag)" % arch
            return "%s probe failed: %s" % (arch, exc)
        if res.returncode != PROBE_EXIT:
            return "%s probe exited %d instead of %d" % (arch, res.returncode, PROBE_EXIT)
        return None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv):
    cmd = argv[0] if argv else "status"
    name = argv[1] if len(argv) > 1 else DEFAULT_ENTRY
    actions = {"ensure": ensure, "check": check, "disable": disable, "enable": enable}
    if cmd == "status":
        print("%s: mounted=%s %s" % (name, is_mounted(), entry_state(name)))
        return 0
    if cmd == "probe":
        reason = can_execute(argv[1] if len(argv) > 1 else "arm64")
        print(reason or "runs")
        return 1 if reason else 0
    if cmd not in actions:
        sys.stderr.write("usage: python -m tests.harness.binfmt {ensure|check|status|disable|enable} [ENTRY]"
                         " | probe [arm64]\n")
        return 2
    try:
        result = actions[cmd](name)
    except (BinfmtError, OSError) as exc:
        sys.stderr.write("%s\n" % exc)
        return 1
    print("%s: %s" % (name, result if result is not None else cmd + "d"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
