# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry access: private auth files, remote inspect / digest resolution, pull and push.

Credentials never reach argv or the environment: ``registry_auth()`` writes them into a 0600
``auth.json`` (podman/skopeo ``--authfile`` format, which is also docker's ``config.json``)
inside a private temp dir that is removed when the ``with`` block ends.

``tls_verify``: True/False is passed as ``--tls-verify``; None passes nothing, so registries.conf
(e.g. an ``insecure = true`` entry) decides.

Stable entry points (other modules depend on them):

- ``resolve_digest(module, image, username=None, password=None, auth_file=None,
  tls_verify=True, runtime='skopeo')`` -> ``'sha256:...'`` or ``None`` when the tag/repository
  does not exist. Raises ``RegistryError`` (unauthorized, unreachable, TLS, other).
- ``inspect_remote(...)`` -> ``{'digest', 'labels', 'created', 'name'}`` or ``None``; same arguments.
- ``registry_auth(module, registry, username=None, password=None, auth_file=None)`` -> context
  manager yielding the path of an auth file to pass as ``--authfile`` (or ``None``).
- ``pull_image(module, image, ...)`` -> local image id.
- ``push_image(module, source, dest, auth_file=None, tls_verify=True, retries=0, runtime='podman')``
  -> pushed manifest digest.

``RegistryError.kind`` is one of ``unauthorized``, ``unreachable``, ``tls``, ``not_found``,
``error``; its text is one line: ``Failed to <verb> image '<ref>': <cause>. <fix>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import re
import time
from contextlib import contextmanager

from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import (
    DEFAULT_REGISTRY,
    ImageRefError,
    split_ref,
)
from ansible_collections.eeforge.builder.plugins.module_utils._runner import (
    CommandError,
    CommandRunner,
    private_tempdir,
    write_private_file,
)

# Docker Hub is stored under several keys depending on the client.
_DOCKER_HUB_AUTH_KEYS = (DEFAULT_REGISTRY, "https://index.docker.io/v1/")

_PATTERNS = (
    ("not_found", re.compile(r"manifest unknown|name unknown|not found|no such image|does not exist", re.I)),
    ("unauthorized", re.compile(r"unauthorized|authentication required|denied|\b401\b|\b403\b|invalid username/password",
                                re.I)),
    ("tls", re.compile(r"x509|certificate|tls:|http response to https client", re.I)),
    ("unreachable", re.compile(r"connection refused|no such host|i/o timeout|network is unreachable|dial tcp|"
                               r"timeout exceeded|connection reset|no route to host|temporary failure|"
                               r"\b50[234]\b|service unavailable|bad gateway|\beof\b", re.I)),
)

_FIXES = {
    "unauthorized": "Check the registry username/password or auth_file, and that the account may access the repository",
    "unreachable": "Check that the registry address and port are right and that it is reachable from this host",
    "tls": "Trust the registry's CA on this host, or set tls_verify=false for a plain-HTTP or self-signed registry",
    "not_found": "Check the repository and tag",
    "error": "See the message above",
}


class RegistryError(Exception):
    """A registry operation that failed; ``str()`` is one line, ``kind`` classifies it."""

    def __init__(self, message, kind="error", detail=""):
        super(RegistryError, self).__init__(message)
        self.kind = kind
        self.detail = detail


def classify(text):
    """Classify a CLI error text into one of the RegistryError kinds ('error' if unknown).

    Authentication is checked before 'not found' because registries answer a missing
    repository with 401/denied for anonymous users.
    """
    text = text or ""
    order = ("unauthorized", "tls", "not_found", "unreachable")
    found = dict((kind, pattern.search(text)) for kind, pattern in _PATTERNS)
    for kind in order:
        if found.get(kind):
            return kind
    return "error"


def _cause(err):
    line = err.last_line()
    # skopeo/podman wrap the interesting part in 'level=fatal msg="..."'
    match = re.search(r'msg="(.*)"\s*$', line)
    if match:
        line = match.group(1).replace('\\"', '"')
    line = re.sub(r'^(Error: )?(Error parsing image name "[^"]*": )?', "", line)
    return line or err.summary()


def registry_error(verb, image, err):
    """Turn a CommandError into a one-line RegistryError."""
    if isinstance(err, CommandError) and err.timed_out:
        return RegistryError("Failed to %s image '%s': %s. %s" % (verb, image, err.summary(), _FIXES["unreachable"]),
                             "unreachable", err.stderr)
    cause = _cause(err) if isinstance(err, CommandError) else str(err)
    kind = classify(cause)
    if kind == "unauthorized" and "unauthorized" not in cause.lower():
        cause = "unauthorized: " + cause
    return RegistryError("Failed to %s image '%s': %s. %s." % (verb, image, cause, _FIXES[kind]), kind,
                         getattr(err, "stderr", ""))


def _auth_entry(username, password):
    token = base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")
    return {"auth": token}


def auth_json(registry, username, password, base=None):
    """Return the text of an auth.json granting ``username``/``password`` on ``registry``.

    ``base`` (a dict read from an existing auth file) keeps its other entries.
    """
    data = dict(base or {})
    auths = dict(data.get("auths") or {})
    keys = _DOCKER_HUB_AUTH_KEYS if registry == DEFAULT_REGISTRY else (registry,)
    for key in keys:
        auths[key] = _auth_entry(username, password)
    data["auths"] = auths
    return json.dumps(data, indent=2, sort_keys=True)


def _read_auth_file(path):
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8") or "{}")
    except (IOError, OSError) as exc:
        raise RegistryError("Failed to read auth file '%s': %s. Check the auth_file path and its permissions."
                            % (path, exc.strerror or exc), "error")
    except ValueError as exc:
        raise RegistryError("Failed to read auth file '%s': it is not JSON (%s). Give a podman auth.json or "
                            "docker config.json." % (path, exc), "error")


@contextmanager
def registry_auth(module, registry, username=None, password=None, auth_file=None):  # pylint: disable=unused-argument
    """Yield the path of an auth file for ``registry`` (or ``None`` when no credentials are given).

    - username + password: a 0600 ``config.json`` in a private temp dir (merged over a copy of
      ``auth_file`` if that is given too); removed when the block ends.
    - only ``auth_file``: that path, unchanged (never written to).
    - neither: ``None`` (the tool's own default auth file applies).

    The file is named ``config.json`` so that its directory also works as ``DOCKER_CONFIG``.
    """
    if bool(username) != bool(password):
        raise RegistryError("Failed to log in to registry '%s': only one of username and password is set. "
                            "Give both, or use auth_file." % registry, "error")
    if auth_file and not os.path.isfile(auth_file):
        raise RegistryError("Failed to read auth file '%s': it does not exist. Check the auth_file path."
                            % auth_file, "error")
    if not username:
        yield auth_file or None
        return
    with private_tempdir(prefix="ee-build-auth-") as tmp:
        base = _read_auth_file(auth_file) if auth_file else None
        yield write_private_file(tmp, "config.json", auth_json(registry, username, password, base))


def _runner(module, runner=None):
    return runner if runner is not None else CommandRunner(module)


def _parse_ref(verb, image):
    try:
        return split_ref(image)
    except ImageRefError as exc:
        raise RegistryError("Failed to %s image '%s': %s" % (verb, image, exc), "error")


def _tls_flags(tls_verify):
    """``--tls-verify=...`` or nothing when ``tls_verify`` is None (registries.conf decides)."""
    if tls_verify is None:
        return []
    return ["--tls-verify=%s" % ("true" if tls_verify else "false")]


def _inspect_with_skopeo(runner, skopeo, ref, auth_path, tls_verify, timeout):
    argv = [skopeo]
    # skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF, which podman honours: pass it on.
    registries_conf = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    if registries_conf and os.path.isfile(registries_conf):
        argv += ["--registries-conf", registries_conf]
    argv += ["inspect", "--no-tags"] + _tls_flags(tls_verify)
    if auth_path:
        argv += ["--authfile", auth_path]
    argv.append("docker://%s" % ref)
    _rc, out, _err = runner.run(argv, timeout=timeout)
    data = json.loads(out)
    return {
        "name": data.get("Name"),
        "digest": data.get("Digest"),
        "labels": data.get("Labels") or {},
        "created": data.get("Created"),
    }


def _inspect_with_podman(runner, podman, ref, auth_path, tls_verify, timeout):
    """Fallback without skopeo: pull the image, then read its digest and labels locally."""
    argv = [podman, "pull", "--quiet"] + _tls_flags(tls_verify)
    if auth_path:
        argv += ["--authfile", auth_path]
    argv.append(ref)
    _rc, out, _err = runner.run(argv, timeout=timeout)
    image_id = out.strip().splitlines()[-1] if out.strip() else ref
    _rc, out, _err = runner.run([podman, "image", "inspect", "--format", "{{json .}}", image_id])
    data = json.loads(out)
    if isinstance(data, list):
        data = data[0]
    # Local storage keeps every manifest digest an image was ever pushed/pulled with; only a
    # single repo digest for this repository identifies what the registry serves.
    name = split_ref(ref).name
    candidates = sorted(set(rd.split("@", 1)[1] for rd in data.get("RepoDigests") or []
                            if rd.split("@", 1)[0] in (name, ref.split("@")[0].rsplit(":", 1)[0])))
    digest = candidates[0] if len(candidates) == 1 else None
    return {
        "name": ref,
        "digest": digest,
        "labels": (data.get("Config") or {}).get("Labels") or data.get("Labels") or {},
        "created": data.get("Created"),
    }


def inspect_remote(module, image, username=None, password=None, auth_file=None, tls_verify=True,
                   runtime="skopeo", timeout=120, runner=None):
    """Inspect ``image`` in its registry; return a dict or ``None`` when it does not exist.

    The dict has ``name``, ``digest`` (manifest digest, ``sha256:...``), ``labels`` and ``created``.
    ``runtime='skopeo'`` uses ``skopeo inspect`` (nothing is pulled); when skopeo is missing, or
    with ``runtime='podman'``, the image is pulled and inspected locally.
    Raises ``RegistryError`` for anything but "does not exist".
    """
    ref = _parse_ref("inspect", image)
    runner = _runner(module, runner)
    skopeo = runner.get_bin("skopeo") if runtime == "skopeo" else None
    podman = None if skopeo else runner.get_bin("podman")
    if not skopeo and not podman:
        raise RegistryError("Failed to inspect image '%s': neither skopeo nor podman was found in PATH. Install skopeo."
                            % image, "error")
    with registry_auth(module, ref.registry, username, password, auth_file) as auth_path:
        try:
            if skopeo:
                return _inspect_with_skopeo(runner, skopeo, image, auth_path, tls_verify, timeout)
            return _inspect_with_podman(runner, podman, image, auth_path, tls_verify, timeout)
        except CommandError as exc:
            error = registry_error("inspect", image, exc)
            if error.kind == "not_found":
                return None
            raise error
        except ValueError as exc:
            raise RegistryError("Failed to inspect image '%s': the tool printed no JSON (%s). Check the skopeo "
                                "installation." % (image, exc), "error")


def resolve_digest(module, image, username=None, password=None, auth_file=None, tls_verify=True,
                   runtime="skopeo", timeout=120, runner=None):
    """Return the manifest digest (``sha256:...``) that ``image`` points to now, or ``None`` if missing.

    Credentials go through a private 0600 auth file (see ``registry_auth``), never argv.
    Raises ``RegistryError`` (``kind`` unauthorized / unreachable / tls / error) with a one-line message.
    """
    info = inspect_remote(module, image, username=username, password=password, auth_file=auth_file,
                          tls_verify=tls_verify, runtime=runtime, timeout=timeout, runner=runner)
    if info and not info.get("digest"):
        raise RegistryError("Failed to resolve digest of image '%s': podman cannot tell which of the local copies' "
                            "digests the registry serves. Install skopeo." % image, "error")
    return info["digest"] if info else None


def login(module, registry, auth_path, username, password, tls_verify=True, runtime="podman", runner=None,
          timeout=60):
    """Check ``username``/``password`` against ``registry`` with ``<runtime> login --password-stdin``.

    The entry is written into ``auth_path`` (a private file from ``registry_auth``); the password
    goes through stdin. Raises ``RegistryError`` (``unauthorized`` for a wrong password).
    """
    runner = _runner(module, runner)
    binary = runner.get_bin(runtime, required=True)
    argv = [binary, "login", "--username", username, "--password-stdin"]
    env = None
    if runtime == "docker":
        env = {"DOCKER_CONFIG": os.path.dirname(auth_path)}
    else:
        argv += ["--authfile", auth_path] + _tls_flags(tls_verify)
    argv.append(registry)
    try:
        runner.run(argv, data=password, environ_update=env, timeout=timeout)
    except CommandError as exc:
        error = registry_error("log in for", registry, exc)
        raise RegistryError(str(error).replace("Failed to log in for image", "Failed to log in to registry"),
                            error.kind, error.detail)


def pull_image(module, image, username=None, password=None, auth_file=None, tls_verify=True, runtime="podman",
               timeout=600, runner=None):
    """Pull ``image`` into local storage and return its image id. Raises ``RegistryError``."""
    ref = _parse_ref("pull", image)
    runner = _runner(module, runner)
    binary = runner.get_bin(runtime, required=True)
    with registry_auth(module, ref.registry, username, password, auth_file) as auth_path:
        argv = [binary, "pull", "--quiet"]
        env = None
        if runtime == "docker":
            if auth_path:
                env = {"DOCKER_CONFIG": os.path.dirname(auth_path)}
        else:
            argv += _tls_flags(tls_verify)
            if auth_path:
                argv += ["--authfile", auth_path]
        argv.append(image)
        try:
            _rc, out, _err = runner.run(argv, environ_update=env, timeout=timeout)
        except CommandError as exc:
            raise registry_error("pull", image, exc)
    lines = out.strip().splitlines()
    return lines[-1].strip() if lines else ""


def push_image(module, source, dest, auth_file=None, tls_verify=True, retries=0, runtime="podman",
               timeout=1800, runner=None, sleep=time.sleep):
    """Push local image ``source`` to ``dest``; return the pushed manifest digest.

    ``auth_file`` is a path (use ``registry_auth`` to make one from a username/password).
    Transient failures (unreachable registry, 5xx, timeouts) are retried ``retries`` times with
    a growing pause; ``unauthorized`` and TLS errors fail at once.
    """
    runner = _runner(module, runner)
    binary = runner.get_bin(runtime, required=True)
    attempt = 0
    while True:
        attempt += 1
        with private_tempdir(prefix="ee-build-push-") as tmp:
            digest_file = os.path.join(tmp, "digest")
            env = None
            if runtime == "docker":
                argv = [binary, "push", dest]
                if source != dest:
                    runner.run([binary, "tag", source, dest])
                if auth_file:
                    env = {"DOCKER_CONFIG": os.path.dirname(auth_file)}
            else:
                argv = [binary, "push", "--quiet", "--digestfile", digest_file] + _tls_flags(tls_verify)
                if auth_file:
                    argv += ["--authfile", auth_file]
                argv += [source, "docker://%s" % dest]
            try:
                _rc, out, err = runner.run(argv, environ_update=env, timeout=timeout)
            except CommandError as exc:
                error = registry_error("push", dest, exc)
                if error.kind in ("unreachable", "error") and attempt <= retries:
                    sleep(min(2 * attempt, 30))
                    continue
                if attempt > 1:
                    raise RegistryError("%s (after %d attempts)" % (str(error).rstrip("."), attempt) + ".",
                                        error.kind, error.detail)
                raise error
            if os.path.exists(digest_file):
                with open(digest_file) as handle:
                    digest = handle.read().strip()
                if digest:
                    return digest
            match = re.search(r"digest: (sha256:[0-9a-f]{64})", out + err)
            return match.group(1) if match else None
