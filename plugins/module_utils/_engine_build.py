# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine's build-time operations: ``podman build`` (``BuildOptions`` -> argv) and ``run_in_image``.

They are ``Engine`` methods (``Engine.build_argv``, ``Engine.build``, ``Engine.run_in_image``);
their bodies live here, loaded on first use, so that a run with nothing to build (an ee_build
no-op, every ee_info run) does not load them. Each function takes the ``Engine`` it serves.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.eeforge.builder.plugins.module_utils._cut_build import podman_tmp_parent, remove_cut_build
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


def build_argv(engine, options):
    """The ``podman build`` argv for ``options`` (no secret values: the secret is a file path)."""
    argv = [engine.binary, "build", "-f", options.containerfile] + (["--quiet"] if options.quiet else [])
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


def build(engine, options, timeout=None):
    """Run the build (podman streams its output to ``options.log_path``); return the seconds it took.

    podman's own temp files (``buildahNNNN``) go to a private dir that is removed afterwards.
    A build cut short (``Terminated`` by a cancel, or the timeout) or failed leaves podman 4's
    working containers and their mounts: they are removed before the exception goes on, and the ids
    that had to stay are in its ``left_behind``. Raises CommandError; the caller reads the
    log to say which step failed.
    """
    started = time.time()
    argv = build_argv(engine, options)
    with private_tempdir(prefix="ee-build-podman-", parent=podman_tmp_parent()) as podman_tmp:
        env = dict(engine.environ_update, TMPDIR=podman_tmp)
        try:
            _rc, out, err = engine.runner.run(argv, timeout=timeout or engine.timeout, environ_update=env)
        except (CommandError, Terminated) as exc:
            # podman 4.3 also leaves the working container of a failed stage, --force-rm or not.
            exc.left_behind = remove_cut_build(engine, options, started) if options.clean_up else []
            raise
    if (out or err) and options.log_path:
        with open(options.log_path, "a") as handle:
            handle.write(out + err)
    return time.time() - started


def run_in_image(engine, image, argv, data=None, env=None, timeout=None):
    """Run ``argv`` in ``image`` as root without network; return ``(stdout, stderr, method)``.

    ``method`` is ``run`` (``podman run --rm``) or ``chroot``: where podman cannot start a
    container (an AWX job), ``CHROOT_SH`` runs ``argv`` chrooted into a created, never started
    container's file system in podman's user namespace, with PATH from the image's ``env``.
    Raises CommandError (of the run, or of the fallback with ``run_error`` set).
    """
    timeout = timeout or engine.timeout
    run_argv = ["run", "--rm", "--interactive", "--pull=never", "--network=none", "--user=0",
                "--entrypoint=%s" % argv[0], "--timeout=%d" % timeout, "--log-driver=none", image] + list(argv[1:])
    try:
        _rc, out, err = engine.run(run_argv, data=data, binary_data=False, timeout=timeout + 30)
        return out, err, "run"
    except CommandError as exc:
        if not cannot_start_containers(exc.stderr) and exc.rc != 125:
            raise
        run_error = exc
    fallback = ["/bin/sh", "-c", CHROOT_SH, "probe", engine.binary, image, image_path(env)] + list(argv)
    try:
        _rc, out, err = engine.unshare(fallback, data=data, binary_data=False, timeout=timeout + 30)
    except CommandError as exc:
        exc.run_error = run_error
        exc.setup_failed = exc.rc == CHROOT_SETUP_FAILED
        raise
    return out, err, "chroot"
