# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry access: private auth files, remote inspect / digest resolution, login.

Pull and push belong to the container engine (``_engine.Engine``).

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

``RegistryError`` (from ``_errors``) has ``cause``, ``fix`` and ``kind`` (``unauthorized``,
``unreachable``, ``tls``, ``not_found``, ``error``); its text is one line:
``Failed to <verb> image '<ref>': <cause>. <fix>.``
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import os
from contextlib import contextmanager

from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.eeforge.builder.plugins.module_utils._errors import RegistryError, registry_error
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import (
    DEFAULT_REGISTRY,
    ImageRefError,
    split_ref,
    tls_flags,
)
from ansible_collections.eeforge.builder.plugins.module_utils._runner import (
    CommandError,
    CommandRunner,
    private_tempdir,
    write_private_file,
)

# Docker Hub is stored under several keys depending on the client.
_DOCKER_HUB_AUTH_KEYS = (DEFAULT_REGISTRY, "https://index.docker.io/v1/")


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
        raise RegistryError("Failed to read auth file '%s': %s" % (path, exc.strerror or exc),
                            "Check the auth_file path and its permissions")
    except ValueError as exc:
        raise RegistryError("Failed to read auth file '%s': it is not JSON (%s)" % (path, exc),
                            "Give a podman auth.json or docker config.json")


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
        raise RegistryError("Failed to log in to registry '%s': only one of username and password is set"
                            % registry, "Give both, or use auth_file")
    if auth_file and not os.path.isfile(auth_file):
        raise RegistryError("Failed to read auth file '%s': it does not exist" % auth_file,
                            "Check the auth_file path")
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
        raise RegistryError("Failed to %s image '%s': %s" % (verb, image, exc), "Fix the image reference")


def _skopeo_argv(skopeo, auth_path, tls_verify, platform=None):
    argv = [skopeo]
    # skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF, which podman honours: pass it on.
    registries_conf = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    if registries_conf and os.path.isfile(registries_conf):
        argv += ["--registries-conf", registries_conf]
    if platform:  # (os, arch, variant): which image of a manifest list
        argv += ["--override-os", platform[0], "--override-arch", platform[1]]
        if platform[2]:
            argv += ["--override-variant", platform[2]]
    argv += ["inspect"] + tls_flags(tls_verify)
    if auth_path:
        argv += ["--authfile", auth_path]
    return argv


def _inspect_with_skopeo(runner, skopeo, ref, auth_path, tls_verify, timeout, platform=None):
    argv = _skopeo_argv(skopeo, auth_path, tls_verify, platform) + ["--no-tags", "docker://%s" % ref]
    _rc, out, _err = runner.run(argv, timeout=timeout)
    data = json.loads(out)
    return {
        "name": data.get("Name"),
        "digest": data.get("Digest"),
        "labels": data.get("Labels") or {},
        "created": data.get("Created"),
        "os": data.get("Os"),
        "architecture": data.get("Architecture"),
        "variant": data.get("Variant"),
    }


def inspect_raw(module, image, username=None, password=None, auth_file=None, tls_verify=True, timeout=120,
                runner=None):
    """``(manifest dict, digest)`` of ``image`` as its registry serves it (a manifest list stays a
    list: ``skopeo inspect --raw``), or None when it does not exist. Raises ``RegistryError``."""
    ref = _parse_ref("inspect", image)
    runner = _runner(module, runner)
    skopeo = runner.get_bin("skopeo")
    if not skopeo:
        raise RegistryError("Failed to inspect image '%s': skopeo was not found in PATH" % image, "Install skopeo")
    with registry_auth(module, ref.registry, username, password, auth_file) as auth_path:
        try:
            _rc, out, _err = runner.run(_skopeo_argv(skopeo, auth_path, tls_verify) + ["--raw", "docker://%s" % image],
                                        timeout=timeout)
            data = json.loads(out)
        except CommandError as exc:
            error = registry_error("inspect", image, exc)
            if error.kind == "not_found":
                return None
            raise error
        except ValueError as exc:
            raise RegistryError("Failed to inspect image '%s': skopeo printed no usable JSON (%s)" % (image, exc),
                                "Check the skopeo installation")
    if not isinstance(data, dict):
        raise RegistryError("Failed to inspect image '%s': the registry's manifest is not a JSON object" % image,
                            "Check the image reference")
    return data, "sha256:" + hashlib.sha256(to_bytes(out)).hexdigest()


def _inspect_with_podman(runner, podman, ref, auth_path, tls_verify, timeout):
    """Fallback without skopeo: pull the image, then read its digest and labels locally."""
    # Imported here: the AWX modules resolve digests with skopeo and need not load the engine.
    from ansible_collections.eeforge.builder.plugins.module_utils._engine import Engine  # pylint: disable=import-outside-toplevel
    engine = Engine(runner, podman, timeout=timeout)
    image_id = engine.pull(ref, auth_file=auth_path, tls_verify=tls_verify) or ref
    info = engine.inspect(image_id) or {}
    # Local storage keeps every manifest digest an image was ever pushed/pulled with; only a
    # single repo digest for this repository identifies what the registry serves.
    name = split_ref(ref).name
    candidates = sorted(set(rd.split("@", 1)[1] for rd in info.get("repo_digests") or []
                            if rd.split("@", 1)[0] in (name, ref.split("@")[0].rsplit(":", 1)[0])))
    return {
        "name": ref,
        "digest": candidates[0] if len(candidates) == 1 else None,
        "labels": info.get("labels") or {},
        "created": info.get("created"),
    }


def inspect_remote(module, image, username=None, password=None, auth_file=None, tls_verify=True,
                   runtime="skopeo", timeout=120, runner=None, platform=None):
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
        raise RegistryError("Failed to inspect image '%s': neither skopeo nor podman was found in PATH" % image,
                            "Install skopeo")
    with registry_auth(module, ref.registry, username, password, auth_file) as auth_path:
        try:
            if skopeo:
                return _inspect_with_skopeo(runner, skopeo, image, auth_path, tls_verify, timeout, platform)
            return _inspect_with_podman(runner, podman, image, auth_path, tls_verify, timeout)
        except (CommandError, RegistryError) as exc:
            error = exc if isinstance(exc, RegistryError) else registry_error("inspect", image, exc)
            if error.kind == "not_found":
                return None
            raise error
        except (ValueError, AttributeError) as exc:
            raise RegistryError("Failed to inspect image '%s': skopeo printed no usable JSON (%s)" % (image, exc),
                                "Check the skopeo installation")


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
                            "digests the registry serves" % image, "Install skopeo")
    return info["digest"] if info else None
