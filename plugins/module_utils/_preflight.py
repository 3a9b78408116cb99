# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Can podman build images where this runs, and with which storage driver?

Probing, not guessing. Each candidate storage configuration is tried for real in a private
store created next to the real one (same filesystem, so the kernel gives the same answer):

1. ``podman import`` of a tiny layer holding a file owned by uid 1000: needs a user namespace
   that maps more than one id (newuidmap/newgidmap, /etc/subuid) and a writable store;
2. ``podman build`` FROM that image with one COPY: mounts the layer with the driver (the
   native overlay mount, fuse-overlayfs or a vfs copy) and commits a new layer.

Candidates are tried in order: native ``overlay`` (needs nothing but a kernel >= 5.13 and a
store on a filesystem overlay accepts as upper layer), ``fuse-overlayfs`` (needs a usable
/dev/fuse), ``vfs`` (needs nothing, slow). The first that works wins, and the reason for each
refusal is kept. When none works, ``PreflightError`` carries one line naming the missing piece
and the AWX setting that adds it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import re
import shutil
import tarfile
import tempfile
import time

from ansible_collections.eeforge.builder.plugins.module_utils._engine import Engine
from ansible_collections.eeforge.builder.plugins.module_utils._engine_build import BuildOptions
from ansible_collections.eeforge.builder.plugins.module_utils._host_facts import (
    dev_fuse_state,
    existing_store_dir,
    filesystem_type,
    has_capability,
    in_container,
    mapped_ids,
    mount_points_below,
    parse_id_map,
    proc_status_field,
    read_text,
    try_user_namespace,
    uses_mount_program,
)
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError

OVERLAY = "overlay"
FUSE_OVERLAYFS = "fuse-overlayfs"
VFS = "vfs"
DRIVERS = (OVERLAY, FUSE_OVERLAYFS, VFS)

# Where AWX keeps the options it adds to every job container (Settings > Jobs in the UI).
AWX_RUN_OPTIONS = "AWX's 'Container Run Options' (Settings > Jobs, DEFAULT_CONTAINER_RUN_OPTIONS)"
# Kubernetes container groups: the pod spec override of the instance group.
K8S_POD_SPEC = "the container group's pod spec override"

PROBE_IMAGE = "localhost/eeforge-preflight:probe"
PROBE_IMAGE2 = "localhost/eeforge-preflight:probe2"
CAP_SYS_ADMIN = 21


class PreflightError(Exception):
    """Nothing can build here; ``str()`` is the one-line message for the user."""

    def __init__(self, message, probes=None, facts=None):
        super(PreflightError, self).__init__(message)
        self.probes = probes or []
        self.facts = facts or {}


def storage_conf_text(driver, graphroot, runroot, mount_program=None, image_stores=()):
    """containers-storage.conf(5) for ``driver`` (one of DRIVERS)."""
    lines = [
        "# Written by eeforge.builder.ee_builder_preflight: the storage driver that works here.",
        "[storage]",
        'driver = "%s"' % (VFS if driver == VFS else OVERLAY),
        'graphroot = "%s"' % graphroot,
        'runroot = "%s"' % runroot,
    ]
    if image_stores:
        lines += ["", "[storage.options]",
                  "additionalimagestores = [%s]" % ", ".join('"%s"' % path for path in image_stores)]
    if driver == FUSE_OVERLAYFS:
        lines += ["", "[storage.options.overlay]", 'mount_program = "%s"' % mount_program]
    return "\n".join(lines) + "\n"


def probe_tarball():
    """A one-layer rootfs: /probe (root) and /probe/uid1000 (owned by 1000:1000)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("probe")
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        data = b"eeforge preflight\n"
        info = tarfile.TarInfo("probe/uid1000")
        info.size = len(data)
        info.mode = 0o644
        info.uid = info.gid = 1000
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def first_error_line(text):
    """The most telling line of podman's stderr: the last 'Error:' line, else the last line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("Error:") or "level=error" in line or "level=fatal" in line:
            return re.sub(r'^time="[^"]*" level=\w+ msg=', "", line)
    return lines[-1] if lines else ""


def classify_failure(text):
    """'userns' | 'overlay' | 'fuse' | 'storage' | 'other' for a failed probe's stderr."""
    low = (text or "").lower()
    if any(key in low for key in ("newuidmap", "newgidmap", "uid_map", "gid_map", "insufficient uids",
                                  "cannot set up namespace", "user namespace", "cannot re-exec process",
                                  "setup the user namespace", "invalid internal status")):
        return "userns"
    if "fuse" in low:
        return "fuse"
    if "overlay" in low:
        return "overlay"
    if any(key in low for key in ("read-only file system", "no space left", "permission denied")):
        return "storage"
    return "other"


class Probe(object):
    """The outcome of trying one storage driver."""

    def __init__(self, driver, usable, reason, kind=None, seconds=0.0):
        self.driver = driver
        self.usable = usable
        self.reason = reason
        self.kind = kind
        self.seconds = seconds

    def as_dict(self):
        return {"driver": self.driver, "usable": self.usable, "reason": self.reason,
                "seconds": round(self.seconds, 2)}


class Preflight(object):
    """Probe podman's storage drivers in order and pick the first that works.

    ``runner`` is a ``CommandRunner``; ``podman`` the podman binary (None when missing).
    """

    def __init__(self, runner, podman, graphroot, runroot, drivers=DRIVERS, image_stores=(), timeout=120,
                 proc_root="/proc", fuse_device="/dev/fuse", fuse_program=None, userns_check=try_user_namespace):
        self.runner = runner
        self.podman = podman
        self.graphroot = graphroot
        self.runroot = runroot
        self.drivers = list(drivers)
        self.image_stores = list(image_stores)
        self.timeout = timeout
        self.proc_root = proc_root
        self.fuse_device = fuse_device
        self.fuse_program = fuse_program
        self.userns_check = userns_check
        self.facts = {}

    # -- what the process was given -------------------------------------------------------
    def gather_facts(self):
        status = read_text(os.path.join(self.proc_root, "self/status"), "")
        uid_map = parse_id_map(read_text(os.path.join(self.proc_root, "self/uid_map"), ""))
        max_userns = (read_text(os.path.join(self.proc_root, "sys/user/max_user_namespaces"), "") or "").strip()
        fuse_state, fuse_detail = dev_fuse_state(self.fuse_device)
        rootless = os.geteuid() != 0 or not has_capability(status, CAP_SYS_ADMIN)
        userns_ok, userns_detail = self.userns_check()
        self.facts = {
            "euid": os.geteuid(),
            "in_container": in_container(),
            "cap_sys_admin": has_capability(status, CAP_SYS_ADMIN),
            "rootless": rootless,
            "no_new_privs": proc_status_field(status, "NoNewPrivs") == "1",
            "uid_map": [list(entry) for entry in uid_map],
            "mapped_uids": mapped_ids(uid_map),
            "max_user_namespaces": int(max_userns) if max_userns.isdigit() else None,
            "user_namespace": "usable" if userns_ok else "denied",
            "user_namespace_detail": userns_detail,
            "dev_fuse": fuse_state,
            "dev_fuse_detail": fuse_detail,
            "fuse_overlayfs": self.fuse_program,
            "kernel": os.uname()[2],
            "store_filesystem": filesystem_type(existing_store_dir(self.graphroot),
                                                read_text(os.path.join(self.proc_root, "self/mountinfo"), "")),
            "podman": self.podman,
        }
        return self.facts

    def isolation(self):
        """Buildah isolation for RUN steps: chroot where podman has no real root (nested)."""
        current = os.environ.get("BUILDAH_ISOLATION")
        if current:
            return current
        return "chroot" if self.facts.get("rootless") and self.facts.get("in_container") else "oci"

    # -- probing ----------------------------------------------------------------------------
    def _engine(self, env):
        """The container engine on the probe's private store (``env`` sets CONTAINERS_STORAGE_CONF)."""
        return Engine(self.runner, self.podman, timeout=self.timeout, environ_update=env)

    def _probe_parent(self):
        """A directory on the same filesystem as the real graphroot (created when missing)."""
        parent = os.path.dirname(self.graphroot.rstrip("/")) or "/"
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        return parent

    def probe(self, driver):
        """Try ``driver`` for real in a private store; return a ``Probe``."""
        started = time.time()
        if driver == FUSE_OVERLAYFS:
            if not self.fuse_program:
                return Probe(driver, False, "fuse-overlayfs is not installed", "fuse", time.time() - started)
            if self.facts.get("dev_fuse") != "usable":
                return Probe(driver, False, self.facts.get("dev_fuse_detail"), "fuse", time.time() - started)
        try:
            work = tempfile.mkdtemp(prefix="eeforge-preflight-", dir=self._probe_parent())
        except OSError as exc:
            return Probe(driver, False, "cannot create a store next to %s: %s" % (self.graphroot, exc.strerror),
                         "storage", time.time() - started)
        env = {}
        try:
            os.chmod(work, 0o700)
            conf = os.path.join(work, "storage.conf")
            with open(conf, "w") as handle:
                handle.write(storage_conf_text(driver, os.path.join(work, "root"), os.path.join(work, "run"),
                                               mount_program=self.fuse_program))
            env = {"CONTAINERS_STORAGE_CONF": conf}
            tarball = os.path.join(work, "probe.tar")
            with open(tarball, "wb") as handle:
                handle.write(probe_tarball())
            context = os.path.join(work, "context")
            os.mkdir(context)
            with open(os.path.join(context, "marker"), "w") as handle:
                handle.write("copied by a nested build\n")
            with open(os.path.join(context, "Containerfile"), "w") as handle:
                handle.write("FROM %s\nCOPY marker /probe/marker\n" % PROBE_IMAGE)
            engine = self._engine(env)
            engine.import_tarball(tarball, PROBE_IMAGE, timeout=self.timeout)
            # clean_up=False: the probe's whole private store is removed afterwards.
            engine.build(BuildOptions(context, [PROBE_IMAGE2], pull="never", layers=False, quiet=True, clean_up=False),
                         timeout=self.timeout)
            if driver == OVERLAY and uses_mount_program(os.path.join(work, "root")):
                # Rootless containers/storage quietly mounts with fuse-overlayfs when the kernel
                # refuses: that is not native overlay, and fails later without /dev/fuse.
                return Probe(driver, False, self._native_refused(), "overlay", time.time() - started)
            return Probe(driver, True, self._success_reason(driver), None, time.time() - started)
        except CommandError as exc:
            text = exc.stderr or exc.stdout
            if driver == OVERLAY and "using mount program" in text:
                reason = self._native_refused()
            else:
                reason = first_error_line(text) or exc.summary()
            return Probe(driver, False, reason, classify_failure(text), time.time() - started)
        finally:
            self._remove_store(work, env)

    def _remove_store(self, work, env):
        """Remove a probe store; files owned by mapped ids may need the user namespace.

        Rootful podman bind-mounts the overlay home of a store onto itself: unmount what is
        mounted below the store first (deepest first), or it cannot be removed.
        """
        mountinfo = read_text(os.path.join(self.proc_root, "self/mountinfo"), "")
        for point in sorted(mount_points_below(work, mountinfo), reverse=True):
            umount = self.runner.get_bin("umount")
            if umount:
                try:
                    self.runner.run([umount, point], timeout=60)
                except CommandError:
                    pass
        shutil.rmtree(work, ignore_errors=True)
        if os.path.exists(work) and env:
            try:
                self._engine(env).unshare(["rm", "-rf", work], timeout=60)
            except CommandError:
                pass
            shutil.rmtree(work, ignore_errors=True)

    def _native_refused(self):
        return ("the kernel refuses native overlay with the store on %s (%s); podman would need fuse-overlayfs"
                % (self.facts.get("store_filesystem") or "this filesystem", os.path.dirname(self.graphroot.rstrip("/"))))

    def _success_reason(self, driver):
        if driver == OVERLAY:
            return "native overlay mounts work in this user namespace (kernel %s): no extra privilege needed" % (
                self.facts.get("kernel"))
        if driver == FUSE_OVERLAYFS:
            return "native overlay was refused; /dev/fuse is usable, so fuse-overlayfs mounts the layers"
        return "neither native overlay nor fuse-overlayfs can mount here; vfs copies every layer (slow, but needs nothing)"

    def select(self):
        """Probe drivers in order; return (driver, reason, probes) or raise PreflightError."""
        if not self.facts:
            self.gather_facts()
        if not self.podman:
            raise PreflightError(
                "Failed to prepare nested builds: podman is not installed where this job runs. Run the job in "
                "the builder EE (eeforge.builder's execution-environment.yaml), or install podman on this host.",
                facts=self.facts)
        probes = []
        if self.facts.get("user_namespace") == "denied":
            # Every driver needs one (podman runs rootless here): no point in trying them.
            raise PreflightError(self.failure_message(probes), probes=probes, facts=self.facts)
        for driver in self.drivers:
            result = self.probe(driver)
            probes.append(result)
            if result.usable:
                refused = ["%s: %s" % (p.driver, p.reason) for p in probes if not p.usable]
                reason = result.reason
                if refused:
                    reason += " (refused: %s)" % "; ".join(refused)
                return driver, reason, probes
            if result.kind == "userns":
                # Every driver needs the user namespace: stop at the first such failure.
                break
        raise PreflightError(self.failure_message(probes), probes=probes, facts=self.facts)

    # -- the one line for the user ----------------------------------------------------------
    def failure_message(self, probes):
        facts = self.facts
        userns = [p for p in probes if p.kind == "userns"]
        denied = facts.get("user_namespace") == "denied"
        if userns or denied:
            detail = facts.get("user_namespace_detail") if denied else userns[0].reason
            if facts.get("max_user_namespaces") == 0:
                fix = ("user namespaces are disabled on the execution node. Set the sysctl "
                       "user.max_user_namespaces to 15000 or more on the node")
            elif denied:
                fix = ("a seccomp or AppArmor profile forbids user namespaces in the job container. Remove the "
                       "'--security-opt seccomp=...' that sets it from %s (on Kubernetes: securityContext."
                       "seccompProfile type Unconfined, or a profile that allows unshare(CLONE_NEWUSER), in %s; on "
                       "Ubuntu nodes also sysctl kernel.apparmor_restrict_unprivileged_userns=0)"
                       % (AWX_RUN_OPTIONS, K8S_POD_SPEC))
            elif facts.get("no_new_privs"):
                fix = ("the job runs with no_new_privs, so newuidmap/newgidmap cannot use their file capabilities. "
                       "Remove '--security-opt no-new-privileges' from %s (on Kubernetes: "
                       "allowPrivilegeEscalation: true in %s)" % (AWX_RUN_OPTIONS, K8S_POD_SPEC))
            elif facts.get("in_container") and facts.get("mapped_uids", 0) < 65536:
                fix = ("the job container maps only %d uids, a nested build needs 65536. Give the user that runs "
                       "the jobs a 65536-id range in /etc/subuid and /etc/subgid on the execution node"
                       % facts.get("mapped_uids", 0))
            else:
                fix = ("check that newuidmap/newgidmap are installed with file capabilities and that /etc/subuid "
                       "and /etc/subgid give root a range (the builder EE sets both up)")
            return "Failed to prepare nested builds: podman cannot create a user namespace (%s): %s." % (detail, fix)
        summary = "; ".join("%s: %s" % (p.driver, p.reason) for p in probes) or "no storage driver was allowed"
        if FUSE_OVERLAYFS in self.drivers and facts.get("dev_fuse") != "usable":
            fix = ("Give the job a volume on /var/lib/containers (the builder EE declares one; on Kubernetes an "
                   "emptyDir in %s) so that native overlay works, or add '--device /dev/fuse' to %s (on Kubernetes: "
                   "a /dev/fuse device resource in the pod spec)" % (K8S_POD_SPEC, AWX_RUN_OPTIONS))
        else:
            fix = ("Give the job a writable volume on /var/lib/containers on an ext4 or xfs filesystem (on "
                   "Kubernetes: an emptyDir in %s)" % K8S_POD_SPEC)
        return "Failed to prepare nested builds: no storage driver works here (%s). %s." % (summary, fix)
