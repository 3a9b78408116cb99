# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The build half's errors, shaped like ``AwxError``: a one-line ``cause`` and a one-line ``fix``.

``str(error)`` is ``"<cause>. <fix>."``, where the cause starts with ``Failed to <verb> <what>``.
They are raised deep (engine, registry, context rendering) and turned into one ``fail_json`` at
the module boundary (``BuildModule.fail_from``), with the traceback kept for ``-vvv`` only.

``path_error()`` turns an ``OSError`` on a user's path (context_dir under a regular file, an
unreadable definition file, a full disk) into one such line naming the path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import re


def _sentence(text):
    return (text or "").strip().rstrip(".")


class BuildFamilyError(Exception):
    """Base of the build half's errors: ``cause`` and ``fix`` are one-line texts for the user."""

    def __init__(self, cause, fix="", log_tail=None, log_path=None):
        self.cause = _sentence(" ".join(str(cause).split("\n")))
        self.fix = _sentence(" ".join(str(fix or "").split("\n")))
        text = self.cause + ("." if not self.fix else ". %s." % self.fix)
        super(BuildFamilyError, self).__init__(text)
        self.log_tail = list(log_tail or [])
        self.log_path = log_path


class BuildError(BuildFamilyError):
    """A failed build step; ``log_tail`` holds the last lines of the build log, ``log_path`` the log."""


class BuildInputError(BuildError):
    """A module input that cannot work."""


class EngineError(BuildFamilyError):
    """The container engine answered something unusable (no JSON, an unexpected shape)."""


# What a registry failure is, from the tool's message. Authentication is checked before 'not
# found' because registries answer a missing repository with 401/denied for anonymous users.
_PATTERNS = (
    ("not_found", re.compile(r"manifest unknown|name unknown|not found|no such image|does not exist", re.I)),
    ("unauthorized", re.compile(r"unauthorized|authentication required|denied|\b401\b|\b403\b|invalid username/password",
                                re.I)),
    ("tls", re.compile(r"x509|certificate|tls:|http response to https client", re.I)),
    ("unreachable", re.compile(r"connection refused|no such host|i/o timeout|network is unreachable|dial tcp|"
                               r"timeout exceeded|connection reset|no route to host|temporary failure|"
                               r"\b50[234]\b|service unavailable|bad gateway|\beof\b", re.I)),
)

REGISTRY_FIXES = {
    "unauthorized": "Check the registry username/password or auth_file, and that the account may access the repository",
    "unreachable": "Check that the registry address and port are right and that it is reachable from this host",
    "tls": "Trust the registry's CA on this host, or set tls_verify=false for a plain-HTTP or self-signed registry",
    "not_found": "Check the repository and tag",
    "error": "See the message above",
}


class RegistryError(BuildFamilyError):
    """A registry operation that failed; ``kind`` classifies it (``unauthorized``, ``unreachable``,
    ``tls``, ``not_found``, ``error``)."""

    def __init__(self, cause, fix=None, kind="error", detail=""):
        super(RegistryError, self).__init__(cause, REGISTRY_FIXES.get(kind, "") if fix is None else fix)
        self.kind = kind
        self.detail = detail


def classify(text):
    """Classify a CLI error text into one of the RegistryError kinds ('error' if unknown)."""
    text = text or ""
    found = dict((kind, pattern.search(text)) for kind, pattern in _PATTERNS)
    for kind in ("unauthorized", "tls", "not_found", "unreachable"):
        if found.get(kind):
            return kind
    return "error"


def tool_cause(err):
    """The telling part of a CommandError's last line (skopeo/podman wrap it in ``msg="..."``)."""
    line = err.last_line()
    match = re.search(r'msg="(.*)"\s*$', line)
    if match:
        line = match.group(1).replace('\\"', '"')
    line = re.sub(r'^(Error: )?(Error parsing image name "[^"]*": )?', "", line)
    return line or err.summary()


def registry_error(verb, image, err):
    """Turn a CommandError (or any exception) of ``<verb> image`` into a one-line RegistryError."""
    if getattr(err, "timed_out", False):
        return RegistryError("Failed to %s image '%s': %s" % (verb, image, err.summary()), kind="unreachable",
                             detail=err.stderr)
    cause = tool_cause(err) if hasattr(err, "last_line") else str(err)
    kind = classify(cause)
    if kind == "unauthorized" and "unauthorized" not in cause.lower():
        cause = "unauthorized: " + cause
    return RegistryError("Failed to %s image '%s': %s" % (verb, image, cause), kind=kind,
                         detail=getattr(err, "stderr", ""))


_OS_FIXES = {
    errno.ENOTDIR: "A part of the path is a regular file, not a directory: choose another path",
    errno.ENOENT: "Check that the path exists",
    errno.EACCES: "Check the permissions of the path for the user that runs the task",
    errno.EPERM: "Check the permissions of the path for the user that runs the task",
    errno.ENOSPC: "Free space on that filesystem or choose a directory on a larger one",
    errno.EROFS: "The filesystem is read-only: choose a writable directory",
    errno.EISDIR: "The path is a directory: give a file",
    errno.EEXIST: "Remove the file in the way or choose another path",
}


def path_error(verb, path, exc, option=None, cls=BuildError):
    """One-line error for an OSError (or ValueError) ``exc`` raised while ``verb``-ing ``path``."""
    reason = getattr(exc, "strerror", None) or str(exc)
    fix = _OS_FIXES.get(getattr(exc, "errno", None), "Check the path")
    if option:
        fix += " (option %s)" % option
    return cls("Failed to %s '%s': %s" % (verb, path, reason), fix)


def left_behind_hint(exc):
    """``; ...`` naming the working containers a cut build had to leave (see ``_cut_build.remove_cut_build``)."""
    left = getattr(exc, "left_behind", None)
    if not left:
        return ""
    return ("; podman's working containers %s were left because another podman build was running that may "
            "own them: once it has ended, remove them with 'podman rm --force %s'" % (", ".join(left), " ".join(left)))
