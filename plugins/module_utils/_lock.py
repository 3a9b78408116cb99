# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One exclusive lock per image reference, so two builds of the same tag never interleave.

Usage::

    with tag_lock(["registry.example.com/ee/aws:1.2", "registry.example.com/ee/aws:latest"],
                  timeout=600):
        ... build, tag, push ...

- The lock is ``fcntl.flock`` on one file per reference. The kernel drops it when the process
  dies, however it dies, so no lock outlives its holder.
- References are normalized first (``x:1``, ``localhost/x:1`` and ``docker.io/library/x:1`` share
  one lock, since podman may resolve a short name to either), and the file name is the SHA-256 of
  the normalized reference. Several references are locked in sorted order, so two runs that share
  tags cannot deadlock.
- A run that waits longer than ``timeout`` seconds gets a ``TagLockTimeout``: one line naming the
  reference, the pid that holds it (when known), how long it waited, and what to do.
- The holder writes its pid and the reference into the file. On release it removes the file while
  it still holds the lock; a waiter that then gets the lock on the removed file notices (the path
  no longer names its inode) and tries again. So lock files do not pile up; the directory stays.

The directory is ``$XDG_RUNTIME_DIR/eeforge-locks`` when that is a directory the user owns,
else ``<tempdir>/eeforge-locks-<uid>``, created 0700 and refused when another user owns it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import hashlib
import os
import stat
import tempfile
import time
from contextlib import contextmanager

from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import ImageRefError, split_ref

DEFAULT_TIMEOUT = 600
POLL_INTERVAL = 0.2
LOCK_SUFFIX = ".lock"
# Registries under which podman may store a short name; they share one lock per repository.
_SHORT_NAME_REGISTRIES = ("docker.io", "localhost")


class TagLockError(Exception):
    """The lock could not be taken. ``cause`` and ``fix`` are one-line texts meant for the user."""

    def __init__(self, cause, fix, ref=None, path=None):
        super(TagLockError, self).__init__("%s. %s" % (cause, fix))
        self.cause = cause
        self.fix = fix
        self.ref = ref
        self.path = path


class TagLockTimeout(TagLockError):
    """Another process held the lock for longer than the timeout. ``holder`` is its pid or None."""

    def __init__(self, cause, fix, ref=None, path=None, holder=None, waited=None):
        super(TagLockTimeout, self).__init__(cause, fix, ref=ref, path=path)
        self.holder = holder
        self.waited = waited


def normalize_ref(ref):
    """The lock key of ``ref``: ``registry/repository:tag`` without the digest.

    ``docker.io`` and ``localhost`` references drop the registry (and ``library/``), so every
    spelling podman may resolve a short name to maps to the same key. A reference the parser
    refuses is used as written (the caller reports the bad reference itself).
    """
    try:
        parsed = split_ref(ref)
    except ImageRefError:
        return str(ref)
    tag = parsed.tag or parsed.digest or "latest"
    if parsed.registry in _SHORT_NAME_REGISTRIES:
        repository = parsed.repository
        if repository.startswith("library/") and repository.count("/") == 1:
            repository = repository[len("library/"):]
        return "%s:%s" % (repository, tag)
    return "%s/%s:%s" % (parsed.registry, parsed.repository, tag)


def lock_path(ref, lock_dir):
    """The lock file of ``ref`` in ``lock_dir``."""
    key = normalize_ref(ref)
    return os.path.join(lock_dir, hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + LOCK_SUFFIX)


def default_lock_dir():
    """``$XDG_RUNTIME_DIR/eeforge-locks`` when that runtime dir is ours, else ``<tmp>/eeforge-locks-<uid>``."""
    uid = os.getuid()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        try:
            st = os.stat(runtime)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode) and st.st_uid == uid and os.access(runtime, os.W_OK):
            return os.path.join(runtime, "eeforge-locks")
    return os.path.join(tempfile.gettempdir(), "eeforge-locks-%d" % uid)


def ensure_lock_dir(lock_dir):
    """Create ``lock_dir`` 0700 if needed; refuse one that is not a directory of this user."""
    try:
        os.makedirs(lock_dir, 0o700)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise TagLockError("Cannot create the lock directory '%s': %s" % (lock_dir, exc.strerror),
                               "Make its parent writable, or set lock_dir to a writable directory",
                               path=lock_dir)
    try:
        st = os.lstat(lock_dir)
    except OSError as exc:
        raise TagLockError("Cannot use the lock directory '%s': %s" % (lock_dir, exc.strerror),
                           "Remove it or set lock_dir to a writable directory", path=lock_dir)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise TagLockError("The lock directory '%s' is not a directory owned by uid %d" % (lock_dir, os.getuid()),
                           "Remove it (nothing else should be there) or set lock_dir elsewhere", path=lock_dir)
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(lock_dir, 0o700)
    return lock_dir


def read_holder(path):
    """The pid written in the lock file at ``path``, or None."""
    try:
        with open(path, "r") as handle:
            first = handle.readline().strip()
    except (IOError, OSError):
        return None
    return int(first) if first.isdigit() else None


def _same_file(fd, path):
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except OSError:
        return False


class _Held(object):
    __slots__ = ("ref", "path", "fd")

    def __init__(self, ref, path, fd):
        self.ref = ref
        self.path = path
        self.fd = fd


def _acquire(ref, path, deadline, started, timeout, sleep=time.sleep):
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise TagLockError("Cannot open the lock file '%s' of '%s': %s" % (path, ref, exc.strerror),
                               "Make the lock directory writable or set lock_dir elsewhere", ref=ref, path=path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise TagLockError("Cannot lock '%s' for '%s': %s" % (path, ref, exc.strerror),
                                   "Put the lock directory on a local file system", ref=ref, path=path)
            now = time.time()
            if now >= deadline:
                holder = read_holder(path)
                waited = now - started
                raise TagLockTimeout(
                    "Image '%s' is locked by another build (%s) and was still locked after %.0f seconds"
                    % (ref, "pid %d" % holder if holder else "pid unknown", waited),
                    "Wait for that build to finish or stop it, or raise the lock timeout (now %s seconds)" % timeout,
                    ref=ref, path=path, holder=holder, waited=waited)
            sleep(min(POLL_INTERVAL, max(deadline - now, 0.01)))
            continue
        if not _same_file(fd, path):
            # The previous holder removed the file after we opened it: lock the new one.
            os.close(fd)
            continue
        try:
            os.ftruncate(fd, 0)
            os.write(fd, ("%d\n%s\n" % (os.getpid(), normalize_ref(ref))).encode("utf-8"))
        except OSError:
            pass  # the pid is only for the message of a waiter
        return _Held(ref, path, fd)


def _release(held):
    try:
        if _same_file(held.fd, held.path):
            os.unlink(held.path)
    except OSError:
        pass
    finally:
        os.close(held.fd)


@contextmanager
def tag_lock(tags, timeout=DEFAULT_TIMEOUT, lock_dir=None):
    """Hold an exclusive lock on each reference in ``tags`` (one string or a list) for the block.

    ``timeout`` is the total number of seconds to wait for all of them (0: do not wait). Raises
    ``TagLockTimeout`` when another process holds one longer, ``TagLockError`` when the lock
    directory cannot be used. Yields the list of normalized references held.
    """
    if isinstance(tags, str):
        tags = [tags]
    lock_dir = ensure_lock_dir(lock_dir or default_lock_dir())
    by_path = {}
    for ref in tags:
        by_path.setdefault(lock_path(ref, lock_dir), ref)
    started = time.time()
    deadline = started + max(float(timeout), 0.0)
    held = []
    try:
        for path in sorted(by_path):
            held.append(_acquire(by_path[path], path, deadline, started, timeout))
        yield [normalize_ref(h.ref) for h in held]
    finally:
        for item in reversed(held):
            _release(item)
