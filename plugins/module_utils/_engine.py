# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one container-engine layer: every podman call of ee_build, ee_info and ee_builder_preflight.

``Engine`` owns exists, inspect (one ``image inspect`` parser: ``parse_image_inspect``), pull,
push, tag, rmi, build (``BuildOptions`` -> argv), the manifest primitives (create, add,
inspect, push) and ``run_in_image`` (run a command in an image: ``podman run --rm``, or where
podman cannot start a container, the unshare + mount + chroot fallback of ``CHROOT_SH``).

Commands go through the collection's ``CommandRunner`` (argv lists, nothing expanded); registry
failures become ``RegistryError``, unreadable answers ``EngineError``, both one line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import time

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.eeforge.builder.plugins.module_utils._errors import (
    EngineError,
    RegistryError,
    registry_error,
)
from ansible_collections.eeforge.builder.plugins.module_utils._registry import tls_flags
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError, private_tempdir
from ansible_collections.eeforge.builder.plugins.module_utils._signals import Terminated

CONTAINERFILE = "Containerfile"

# run_in_image's fallback where podman cannot start a container (an AWX job: no CAP_SYS_ADMIN,
# /proc masked), run by ``podman unshare``: create a container from the image (never started),
# mount it (writable, and it works for an image of a read-only additional image store, where
# ``podman image mount`` says 'layer not known'), chroot into it with a clean environment, and
# remove the container whatever happens. $1 podman, $2 image, $3 PATH inside, then the command.
# Exit status of CHROOT_SH when podman could not create or mount the container.
CHROOT_SETUP_FAILED = 125
CHROOT_SH = r"""podman=$1 image=$2 path=$3
shift 3
cid=$("$podman" create --pull=never --network=none --entrypoint=/bin/sh "$image") || exit 125
trap '"$podman" rm --force "$cid" >/dev/null 2>&1' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
root=$("$podman" mount "$cid") || exit 125
chroot "$root" env -i PATH="$path" "$@"
"""

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Signs in podman run's stderr that the OCI runtime could not set the container up here (nested,
# unprivileged), as opposed to the image's command failing.
_NESTED_RUNTIME_ERRORS = ("mount `proc`", "mount proc", "/proc/sys/", "ping_group_range", "cap_sys_admin",
                          "operation not permitted", "permission denied", "read-only file system")
_OCI_RUNTIME_WORDS = ("oci runtime", "crun:", "runc:", "runc create failed", "crun create failed")


def cannot_start_containers(stderr):
    """True when podman run's error says the OCI runtime cannot set a container up here (nested, unprivileged)."""
    text = to_text(stderr or "").lower()
    return any(word in text for word in _OCI_RUNTIME_WORDS) and any(sign in text for sign in _NESTED_RUNTIME_ERRORS)


def image_path(env):
    """The PATH in an image's configured environment (``KEY=VALUE`` list), or the usual default."""
    for item in env or []:
        key, sep, value = to_text(item).partition("=")
        if sep and key == "PATH" and value:
            return value
    return DEFAULT_PATH


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


class BuildOptions(object):
    """Everything one ``podman build`` needs; ``Engine.build_argv(options)`` turns it into argv.

    ``secret`` is ``(id, path)`` of a build secret file (never its content); ``auth_file`` the
    path of a private auth file for the base image.
    """

    FIELDS = ("context_dir", "tags", "build_args", "labels", "squash", "no_cache", "extra_args", "secret",
              "auth_file", "log_path", "iid_file", "pull", "containerfile", "layers", "quiet", "clean_up", "platform")

    def __init__(self, context_dir, tags, **kwargs):
        unknown = set(kwargs) - set(self.FIELDS)
        if unknown:
            raise TypeError("unknown build options: %s" % ", ".join(sorted(unknown)))
        self.context_dir = context_dir
        self.tags = list(tags)
        self.build_args = dict(kwargs.get("build_args") or {})
        self.labels = dict(kwargs.get("labels") or {})
        self.squash = kwargs.get("squash") or "off"
        self.no_cache = bool(kwargs.get("no_cache"))
        self.extra_args = list(kwargs.get("extra_args") or [])
        self.secret = kwargs.get("secret")
        self.auth_file = kwargs.get("auth_file")
        self.log_path = kwargs.get("log_path")
        self.iid_file = kwargs.get("iid_file")
        self.pull = kwargs.get("pull")
        self.containerfile = kwargs.get("containerfile") or os.path.join(context_dir, CONTAINERFILE)
        self.layers = kwargs.get("layers", True)
        self.quiet = bool(kwargs.get("quiet"))
        # Remove what a failed or cut build leaves (False where the whole storage is thrown away).
        self.clean_up = kwargs.get("clean_up", True)
        self.platform = kwargs.get("platform")  # podman's --platform, as the user wrote it


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

    # -- build -------------------------------------------------------------------------------
    def build_argv(self, options):
        """The ``podman build`` argv for ``options`` (no secret values: the secret is a file path)."""
        argv = [self.binary, "build", "-f", options.containerfile] + (["--quiet"] if options.quiet else [])
        for tag in options.tags:
            argv += ["-t", tag]
        for key in sorted(options.build_args):
            argv += ["--build-arg", "%s=%s" % (key, options.build_args[key])]
        for key in sorted(options.labels):
            argv += ["--label", "%s=%s" % (key, options.labels[key])]
        if options.squash == "new":
            argv.append("--squash")
        elif options.squash == "all":
            argv.append("--squash-all")
        if options.no_cache:
            argv.append("--no-cache")
        if options.secret:
            argv += ["--secret", "id=%s,src=%s" % options.secret]
        if not options.layers:
            argv.append("--layers=false")
        elif options.squash != "new":
            argv.append("--layers")  # podman refuses --squash together with --layers
        if options.auth_file:
            argv += ["--authfile", options.auth_file]
        if options.log_path:
            argv += ["--logfile", options.log_path]
        if options.iid_file:
            argv += ["--iidfile", options.iid_file]
        if options.pull:
            argv.append("--pull=%s" % options.pull)
        if options.platform:
            argv += ["--platform", options.platform]
        return argv + options.extra_args + [options.context_dir]

    def build(self, options, timeout=None):
        """Run the build (podman streams its output to ``options.log_path``); return the seconds it took.

        podman's own temp files (``buildahNNNN``) go to a private dir that is removed afterwards.
        A build cut short (``Terminated`` by a cancel, or the timeout) or failed leaves podman 4's
        working containers and their mounts: they are removed before the exception goes on, and the ids
        that had to stay are in its ``left_behind``. Raises CommandError; the caller reads the
        log to say which step failed.
        """
        # Loaded by a build only: a no-op run of ee_build never needs it.
        from ansible_collections.eeforge.builder.plugins.module_utils._cut_build import (  # pylint: disable=import-outside-toplevel
            podman_tmp_parent,
            remove_cut_build,
        )
        started = time.time()
        argv = self.build_argv(options)
        with private_tempdir(prefix="ee-build-podman-", parent=podman_tmp_parent()) as podman_tmp:
            env = dict(self.environ_update, TMPDIR=podman_tmp)
            try:
                _rc, out, err = self.runner.run(argv, timeout=timeout or self.timeout, environ_update=env)
            except (CommandError, Terminated) as exc:
                # podman 4.3 also leaves the working container of a failed stage, --force-rm or not.
                exc.left_behind = remove_cut_build(self, options, started) if options.clean_up else []
                raise
        if (out or err) and options.log_path:
            with open(options.log_path, "a") as handle:
                handle.write(out + err)
        return time.time() - started

    def import_tarball(self, tarball, ref, timeout=None):
        """``podman import`` a rootfs tarball as ``ref`` (ee_builder_preflight's probe image)."""
        return self.run(["import", "--quiet", tarball, ref], timeout=timeout)

    def unshare(self, args, timeout=None, **kwargs):
        """Run ``args`` in podman's user namespace (``podman unshare``)."""
        return self.run(["unshare"] + list(args), timeout=timeout, **kwargs)

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

    # -- running something inside an image ------------------------------------------------------
    def run_in_image(self, image, argv, data=None, env=None, timeout=None):
        """Run ``argv`` in ``image`` as root without network; return ``(stdout, stderr, method)``.

        ``method`` is ``run`` (``podman run --rm``) or ``chroot``: where podman cannot start a
        container (an AWX job), ``CHROOT_SH`` runs ``argv`` chrooted into a created, never started
        container's file system in podman's user namespace, with PATH from the image's ``env``.
        Raises CommandError (of the run, or of the fallback with ``run_error`` set).
        """
        timeout = timeout or self.timeout
        run_argv = ["run", "--rm", "--interactive", "--pull=never", "--network=none", "--user=0",
                    "--entrypoint=%s" % argv[0], "--timeout=%d" % timeout, "--log-driver=none", image] + list(argv[1:])
        try:
            _rc, out, err = self.run(run_argv, data=data, binary_data=False, timeout=timeout + 30)
            return out, err, "run"
        except CommandError as exc:
            if not cannot_start_containers(exc.stderr) and exc.rc != 125:
                raise
            run_error = exc
        fallback = ["/bin/sh", "-c", CHROOT_SH, "probe", self.binary, image, image_path(env)] + list(argv)
        try:
            _rc, out, err = self.unshare(fallback, data=data, binary_data=False, timeout=timeout + 30)
        except CommandError as exc:
            exc.run_error = run_error
            exc.setup_failed = exc.rc == CHROOT_SETUP_FAILED
            raise
        return out, err, "chroot"
