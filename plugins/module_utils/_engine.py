# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one container-engine layer: every podman call of ee_build, ee_info and ee_builder_preflight.

``Engine`` owns exists, inspect (one ``image inspect`` parser: ``parse_image_inspect``), pull,
push, tag, rmi, build (``BuildOptions`` -> argv), the manifest primitives (create, add,
inspect, push) and ``run_in_image`` (run a command in an image: ``podman run --rm``, or where
podman cannot start a container, the unshare + mount + chroot fallback of ``CHROOT_SH``).
The bodies of build and run_in_image, with ``BuildOptions`` and ``CHROOT_SH``, are in
``_engine_build``, which only a run that builds or probes loads.

Commands go through the collection's ``CommandRunner`` (argv lists, nothing expanded); registry
failures become ``RegistryError``, unreadable answers ``EngineError``, both one line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import time

from ansible_collections.eeforge.builder.plugins.module_utils._errors import (
    EngineError,
    RegistryError,
    registry_error,
)
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import tls_flags
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError, private_tempdir


def _build_ops():
    """``_engine_build``, loaded on first use (a run with nothing to build or probe never needs it)."""
    from ansible_collections.eeforge.builder.plugins.module_utils import _engine_build as module  # pylint: disable=import-outside-toplevel
    return module


def parse_image_inspect(text):
    """``podman image inspect`` JSON -> the facts every module uses. Raises ValueError."""
    data = json.loads(text)
    if isinstance(data, list):
        if not data:
            raise ValueError("podman image inspect returned an empty list")
        data = data[0]
    return image_facts(data)


def image_facts(data):
    """One entry of ``podman image inspect`` (a dict) -> the facts. Raises ValueError."""
    if not isinstance(data, dict):
        raise ValueError("podman image inspect returned a %s, not an object" % type(data).__name__)
    config = data.get("Config") or {}
    labels = config.get("Labels") or data.get("Labels") or {}
    return {
        "id": (data.get("Id") or "").replace("sha256:", ""),
        "labels": dict(labels),
        "size": data.get("Size"),
        "layers": len((data.get("RootFS") or {}).get("Layers") or []),
        "created": data.get("Created"),
        "manifest_digest": data.get("Digest"),
        "repo_digests": list(data.get("RepoDigests") or []),
        "tags": list(data.get("RepoTags") or []),
        "architecture": data.get("Architecture"),
        "os": data.get("Os"),
        "user": config.get("User") if config.get("User") is not None else (data.get("User") or ""),
        "entrypoint": config.get("Entrypoint"),
        "env": list(config.get("Env") or []),
    }


class Engine(object):
    """podman, driven through a CommandRunner. ``environ_update`` goes to every command (e.g. a
    private ``CONTAINERS_STORAGE_CONF`` of ee_builder_preflight)."""

    def __init__(self, runner, binary, timeout=3600, environ_update=None, name="podman"):
        self.runner = runner
        self.binary = binary
        self.timeout = timeout
        self.environ_update = dict(environ_update or {})
        self.name = name

    def run(self, args, timeout=None, **kwargs):
        env = dict(self.environ_update)
        env.update(kwargs.pop("environ_update", None) or {})
        return self.runner.run([self.binary] + list(args), environ_update=env or None, timeout=timeout, **kwargs)

    # -- local images -----------------------------------------------------------------------
    def inspect(self, ref):
        """The facts of local image ``ref`` (see ``parse_image_inspect``), or None when it does not exist."""
        rc, out, err = self.run(["image", "inspect", ref], check=False)
        if rc != 0:
            if re.search(r"(?i)image not known|no such image|not found|failed to find image", err) or not err.strip():
                return None
            raise EngineError("Failed to inspect image '%s': %s image inspect exited with %d: %s"
                              % (ref, self.name, rc, CommandError([self.binary], rc, out, err).last_line()),
                              "Check the %s installation and its storage (%s info)" % (self.name, self.name))
        try:
            return parse_image_inspect(out)
        except (ValueError, TypeError, AttributeError) as exc:
            raise EngineError("Failed to inspect image '%s': %s image inspect printed unreadable JSON (%s)"
                              % (ref, self.name, exc), "Check the %s installation" % self.name)

    def inspect_many(self, refs):
        """``{ref: facts or None}`` for several local images in one ``podman image inspect``.

        podman prints the images it found, in order, and names each missing one on stderr; when
        its answer cannot be matched to ``refs`` that way, each is inspected on its own.
        """
        refs = list(dict.fromkeys(refs))
        if len(refs) < 2:
            return dict((ref, self.inspect(ref)) for ref in refs)
        rc, out, err = self.run(["image", "inspect"] + refs, check=False)
        missing = [ref for ref in refs if ("%s: image not known" % ref) in err]
        found = [ref for ref in refs if ref not in missing]
        try:
            data = json.loads(out) if out.strip() else []
        except ValueError:
            data = None
        others = [line for line in err.splitlines() if line.strip() and "image not known" not in line]
        if not isinstance(data, list) or len(data) != len(found) or others or (rc != 0 and not missing):
            return dict((ref, self.inspect(ref)) for ref in refs)
        try:
            facts = dict((ref, image_facts(entry)) for ref, entry in zip(found, data))
        except (ValueError, TypeError, AttributeError):
            return dict((ref, self.inspect(ref)) for ref in refs)
        facts.update((ref, None) for ref in missing)
        return facts

    def exists(self, ref):
        rc, _out, _err = self.run(["image", "exists", ref], check=False)
        return rc == 0

    def tag(self, source, dest):
        self.run(["tag", source, dest])

    def rmi(self, ref):
        """Remove a local image; True when it was removed (an image in use stays)."""
        rc, _out, _err = self.run(["rmi", ref], check=False)
        return rc == 0

    # -- registries --------------------------------------------------------------------------
    def pull(self, ref, auth_file=None, tls_verify=True, timeout=None, platform=None, signature_policy=None):
        """Pull ``ref`` (with ``platform``: that platform's image of a manifest list; with
        ``signature_policy``: under that containers-policy.json(5) file instead of podman's own);
        return the local image id. Raises RegistryError."""
        argv = ["pull", "--quiet"] + tls_flags(tls_verify) + (["--platform", platform] if platform else [])
        if signature_policy:
            argv += ["--signature-policy", signature_policy]
        if auth_file:
            argv += ["--authfile", auth_file]
        try:
            _rc, out, _err = self.run(argv + [ref], timeout=timeout or self.timeout)
        except CommandError as exc:
            raise registry_error("pull", ref, exc)
        lines = out.strip().splitlines()
        return lines[-1].strip() if lines else ""

    def push(self, source, dest, auth_file=None, tls_verify=True, retries=0, timeout=None, sleep=time.sleep):
        """Push local ``source`` to ``dest``; return the pushed manifest digest.

        Transient failures (unreachable registry, 5xx, timeouts) are retried ``retries`` times with
        a growing pause; ``unauthorized`` and TLS errors fail at once.
        """
        attempt = 0
        while True:
            attempt += 1
            with private_tempdir(prefix="ee-build-push-") as tmp:
                digest_file = os.path.join(tmp, "digest")
                argv = ["push", "--quiet", "--digestfile", digest_file] + tls_flags(tls_verify)
                if auth_file:
                    argv += ["--authfile", auth_file]
                try:
                    _rc, out, err = self.run(argv + [source, "docker://%s" % dest], timeout=timeout or self.timeout)
                except CommandError as exc:
                    error = registry_error("push", dest, exc)
                    if error.kind in ("unreachable", "error") and attempt <= retries:
                        sleep(min(2 * attempt, 30))
                        continue
                    if attempt > 1:
                        raise RegistryError("%s (after %d attempts)" % (error.cause, attempt), error.fix,
                                            error.kind, error.detail)
                    raise error
                digest = None
                if os.path.exists(digest_file):
                    with open(digest_file) as handle:
                        digest = handle.read().strip() or None
            if digest:
                return digest
            match = re.search(r"digest: (sha256:[0-9a-f]{64})", out + err)
            return match.group(1) if match else None

    # -- build (bodies in _engine_build) -----------------------------------------------------------
    def build_argv(self, options):
        """The ``podman build`` argv for ``options`` (an ``_engine_build.BuildOptions``); no secret values."""
        return _build_ops().build_argv(self, options)

    def build(self, options, timeout=None):
        """Run ``podman build``; return the seconds it took (see ``_engine_build.build``). Raises CommandError."""
        return _build_ops().build(self, options, timeout=timeout)

    def import_tarball(self, tarball, ref, timeout=None):
        """``podman import`` a rootfs tarball as ``ref`` (ee_builder_preflight's probe image)."""
        return self.run(["import", "--quiet", tarball, ref], timeout=timeout)

    def unshare(self, args, timeout=None, **kwargs):
        """Run ``args`` in podman's user namespace (``podman unshare``)."""
        return self.run(["unshare"] + list(args), timeout=timeout, **kwargs)

    def run_in_image(self, image, argv, data=None, env=None, timeout=None):
        """Run ``argv`` in ``image`` as root without network; ``(stdout, stderr, method)`` with ``method``
        ``run`` or ``chroot`` (see ``_engine_build.run_in_image``). Raises CommandError."""
        return _build_ops().run_in_image(self, image, argv, data=data, env=env, timeout=timeout)

    # -- manifest lists (multi-arch) ----------------------------------------------------------
    def manifest_create(self, name, images=()):
        self.run(["manifest", "create", name] + list(images))

    def manifest_add(self, name, ref, arch=None, variant=None):
        argv = ["manifest", "add"]
        if arch:
            argv += ["--arch", arch]
        if variant:
            argv += ["--variant", variant]
        self.run(argv + [name, ref])

    def manifest_exists(self, name):
        """Whether ``name`` is a manifest list in local storage (never asks a registry)."""
        rc, _out, _err = self.run(["manifest", "exists", name], check=False)
        return rc == 0

    def manifest_rm(self, name):
        """Remove the local manifest list ``name`` (not the images it lists); True when removed."""
        rc, _out, _err = self.run(["manifest", "rm", name], check=False)
        return rc == 0

    def untag(self, image, name):
        self.run(["untag", image, name])

    def manifest_inspect(self, name):
        """The manifest list ``name`` as a dict, or None when it cannot be read. podman also asks
        the registry when ``name`` is not local: check ``manifest_exists`` first."""
        rc, out, _err = self.run(["manifest", "inspect", name], check=False)
        if rc != 0:
            return None
        try:
            return json.loads(out)
        except ValueError as exc:
            raise EngineError("Failed to inspect manifest list '%s': %s printed unreadable JSON (%s)"
                              % (name, self.name, exc), "Check the %s installation" % self.name)

    def manifest_push(self, name, dest, auth_file=None, tls_verify=True, timeout=None):
        """Push manifest list ``name`` (with its images) to ``dest``; return the pushed digest."""
        with private_tempdir(prefix="ee-build-push-") as tmp:
            digest_file = os.path.join(tmp, "digest")
            argv = ["manifest", "push", "--all", "--digestfile", digest_file] + tls_flags(tls_verify)
            if auth_file:
                argv += ["--authfile", auth_file]
            try:
                self.run(argv + [name, "docker://%s" % dest], timeout=timeout or self.timeout)
            except CommandError as exc:
                raise registry_error("push", dest, exc)
            with open(digest_file) as handle:
                return handle.read().strip() or None
