# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import tarfile

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._preflight import (
    AWX_RUN_OPTIONS,
    FUSE_OVERLAYFS,
    OVERLAY,
    VFS,
    Preflight,
    PreflightError,
    classify_failure,
    dev_fuse_state,
    filesystem_type,
    first_error_line,
    has_capability,
    mount_points_below,
    mapped_ids,
    parse_id_map,
    probe_tarball,
    proc_status_field,
    storage_conf_text,
    try_user_namespace,
    uses_mount_program,
)
from ansible_collections.eeforge.builder.plugins.module_utils._host_facts import existing_driver, store_paths_from_conf
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError

STATUS_ROOT_NO_SYS_ADMIN = "Name:\tpython3\nNoNewPrivs:\t0\nCapEff:\t00000000800405fb\n"
STATUS_PRIVILEGED = "Name:\tpython3\nNoNewPrivs:\t0\nCapEff:\t000001ffffffffff\n"
STATUS_NO_NEW_PRIVS = "Name:\tpython3\nNoNewPrivs:\t1\nCapEff:\t00000000800405fb\n"

OVERLAY_ON_OVERLAY = ('time="2026-11-23T09:40:00Z" level=error msg="\'overlay\' is not supported over overlayfs, '
                      'a mount_program is required: backing file system is unsupported for this graph driver"\n'
                      "Error: kernel does not support overlay fs: 'overlay' is not supported over overlayfs, a "
                      "mount_program is required: backing file system is unsupported for this graph driver\n")
NEWUIDMAP_DENIED = ("Error: cannot set up namespace using \"/usr/bin/newuidmap\": exit status 1\n"
                    "newuidmap: write to uid_map failed: Operation not permitted\n")


class FakeRunner(object):
    """Answers podman commands with the outcome chosen per storage driver (read from the probe's storage.conf)."""

    def __init__(self, outcomes, mount_program_fallback=False):
        self.outcomes = outcomes  # driver -> None (works) or stderr text
        self.mount_program_fallback = mount_program_fallback
        self.calls = []

    def get_bin(self, name):
        return "/usr/bin/" + name

    def run(self, argv, environ_update=None, timeout=None, **kwargs):
        conf = (environ_update or {}).get("CONTAINERS_STORAGE_CONF")
        with open(conf) as handle:
            text = handle.read()
        driver = VFS if 'driver = "vfs"' in text else (FUSE_OVERLAYFS if "mount_program" in text else OVERLAY)
        self.calls.append((driver, argv[1], conf))
        error = self.outcomes.get(driver)
        if error and argv[1] == "build":
            raise CommandError(argv, 125, "", error)
        if self.mount_program_fallback and argv[1] == "import":
            # what rootless containers-storage does when the kernel refuses native overlay
            overlay = os.path.join(os.path.dirname(conf), "root", "overlay")
            os.makedirs(overlay)
            with open(os.path.join(overlay, ".has-mount-program"), "w") as handle:
                handle.write("true")
        return 0, "", ""


def make_preflight(tmp_path, outcomes, fuse="usable", drivers=(OVERLAY, FUSE_OVERLAYFS, VFS), facts=None,
                   fuse_program="/usr/bin/fuse-overlayfs", runner=None):
    graphroot = str(tmp_path / "containers" / "storage")
    preflight = Preflight(runner or FakeRunner(outcomes), "/usr/bin/podman", graphroot, str(tmp_path / "run"),
                          drivers=drivers, fuse_program=fuse_program)
    preflight.facts = {"kernel": "6.8.0", "dev_fuse": fuse, "dev_fuse_detail": "/dev/fuse does not exist",
                       "user_namespace": "usable", "user_namespace_detail": "", "store_filesystem": "ext4",
                       "in_container": True, "rootless": True, "no_new_privs": False, "mapped_uids": 4294967295,
                       "max_user_namespaces": 63000}
    preflight.facts.update(facts or {})
    return preflight


def test_status_fields_and_capabilities():
    assert proc_status_field(STATUS_ROOT_NO_SYS_ADMIN, "NoNewPrivs") == "0"
    assert proc_status_field(STATUS_ROOT_NO_SYS_ADMIN, "Missing") is None
    assert has_capability(STATUS_PRIVILEGED, 21) is True
    assert has_capability(STATUS_ROOT_NO_SYS_ADMIN, 21) is False  # podman's default set has no SYS_ADMIN
    assert has_capability(STATUS_ROOT_NO_SYS_ADMIN, 0) is True  # CHOWN
    assert has_capability("", 21) is False


def test_id_maps():
    full = parse_id_map("         0          0 4294967295\n")
    assert full == [(0, 0, 4294967295)]
    rootless = parse_id_map("0 1000 1\n1 100000 65536\ngarbage line\n")
    assert rootless == [(0, 1000, 1), (1, 100000, 65536)]
    assert mapped_ids(rootless) == 65537
    assert mapped_ids(parse_id_map("")) == 0


def test_dev_fuse_state(tmp_path):
    assert dev_fuse_state(str(tmp_path / "fuse"))[0] == "missing"
    device = tmp_path / "fuse"
    device.write_text(u"")
    assert dev_fuse_state(str(device)) == ("usable", "%s can be opened" % device)
    if os.geteuid() != 0:  # root opens anything; the denied case needs a normal user
        device.chmod(0)
        assert dev_fuse_state(str(device))[0] == "denied"


def test_storage_conf_per_driver():
    overlay = storage_conf_text(OVERLAY, "/var/lib/containers/storage", "/run/containers/storage")
    assert 'driver = "overlay"' in overlay
    assert "mount_program" not in overlay
    assert 'graphroot = "/var/lib/containers/storage"' in overlay
    fuse = storage_conf_text(FUSE_OVERLAYFS, "/g", "/r", mount_program="/usr/bin/fuse-overlayfs")
    assert 'driver = "overlay"' in fuse
    assert '[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"' in fuse
    vfs = storage_conf_text(VFS, "/g", "/r", image_stores=["/cache/a", "/cache/b"])
    assert 'driver = "vfs"' in vfs
    assert '[storage.options]\nadditionalimagestores = ["/cache/a", "/cache/b"]' in vfs
    # The options table comes before its overlay sub-table, as TOML requires.
    both = storage_conf_text(FUSE_OVERLAYFS, "/g", "/r", mount_program="/f", image_stores=["/c"])
    assert both.index("[storage.options]") < both.index("[storage.options.overlay]")


def test_store_paths_from_conf():
    text = '[storage]\ndriver = "overlay"\ngraphroot = "/srv/store"\nrunroot = "/run/store"\n'
    assert store_paths_from_conf(text) == ("/srv/store", "/run/store")
    assert store_paths_from_conf('[storage]\ndriver = "vfs"\n') is None
    assert store_paths_from_conf(None) is None


def test_existing_driver(tmp_path):
    assert existing_driver(str(tmp_path)) is None
    (tmp_path / "vfs-layers").mkdir()
    (tmp_path / "vfs-layers" / "layers.json").write_text(u"[]")
    assert existing_driver(str(tmp_path)) is None  # an empty store decides nothing
    (tmp_path / "vfs-layers" / "layers.json").write_text(u'[{"id": "abc"}]')
    assert existing_driver(str(tmp_path)) == VFS


def test_probe_tarball_has_a_file_owned_by_uid_1000():
    with tarfile.open(fileobj=io.BytesIO(probe_tarball())) as tar:
        member = tar.getmember("probe/uid1000")
        assert (member.uid, member.gid) == (1000, 1000)
        assert tar.getmember("probe").isdir()


def test_first_error_line_prefers_errors():
    assert first_error_line(OVERLAY_ON_OVERLAY).startswith("Error: kernel does not support overlay fs")
    logrus = 'time="x" level=fatal msg="cannot re-exec process"\n'
    assert first_error_line(logrus) == '"cannot re-exec process"'
    assert first_error_line("one\ntwo\n") == "two"
    assert first_error_line("") == ""


@pytest.mark.parametrize("text, kind", [
    (NEWUIDMAP_DENIED, "userns"),
    ("Error: cannot re-exec process", "userns"),
    (OVERLAY_ON_OVERLAY, "overlay"),
    ("fuse: device not found, try 'modprobe fuse' first", "fuse"),
    ("Error: mkdir /var/lib/containers/x: read-only file system", "storage"),
    ("Error: something else", "other"),
])
def test_classify_failure(text, kind):
    assert classify_failure(text) == kind


def test_native_overlay_wins_when_it_works(tmp_path):
    preflight = make_preflight(tmp_path, {})
    driver, reason, probes = preflight.select()
    assert driver == OVERLAY
    assert "no extra privilege" in reason
    assert [p.driver for p in probes] == [OVERLAY]
    # import then build, in a private store beside the graphroot, removed afterwards
    assert [call[1] for call in preflight.runner.calls] == ["import", "build"]
    conf = preflight.runner.calls[0][2]
    assert os.path.dirname(os.path.dirname(conf)) == str(tmp_path / "containers")
    assert not os.path.exists(os.path.dirname(conf))


def test_fuse_overlayfs_when_overlay_is_refused(tmp_path):
    preflight = make_preflight(tmp_path, {OVERLAY: OVERLAY_ON_OVERLAY})
    driver, reason, probes = preflight.select()
    assert driver == FUSE_OVERLAYFS
    assert "/dev/fuse is usable" in reason
    assert "refused: overlay: Error: kernel does not support overlay fs" in reason
    assert [(p.driver, p.usable) for p in probes] == [(OVERLAY, False), (FUSE_OVERLAYFS, True)]


def test_vfs_when_fuse_is_missing(tmp_path):
    preflight = make_preflight(tmp_path, {OVERLAY: OVERLAY_ON_OVERLAY}, fuse="missing")
    driver, reason, probes = preflight.select()
    assert driver == VFS
    assert "fuse-overlayfs: /dev/fuse does not exist" in reason
    # fuse-overlayfs was not tried with podman at all: the device decides
    assert [call[0] for call in preflight.runner.calls] == [OVERLAY, OVERLAY, VFS, VFS]
    assert probes[1].as_dict()["usable"] is False


def test_vfs_when_fuse_overlayfs_is_not_installed(tmp_path):
    preflight = make_preflight(tmp_path, {OVERLAY: OVERLAY_ON_OVERLAY}, fuse_program=None)
    driver, reason, _probes = preflight.select()
    assert driver == VFS
    assert "fuse-overlayfs is not installed" in reason


def test_user_namespace_failure_stops_probing_with_one_line(tmp_path):
    outcomes = {OVERLAY: NEWUIDMAP_DENIED, FUSE_OVERLAYFS: NEWUIDMAP_DENIED, VFS: NEWUIDMAP_DENIED}
    preflight = make_preflight(tmp_path, outcomes, facts={"no_new_privs": True})
    with pytest.raises(PreflightError) as caught:
        preflight.select()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Failed to prepare nested builds: podman cannot create a user namespace")
    assert "no-new-privileges" in message and AWX_RUN_OPTIONS in message
    assert "allowPrivilegeEscalation" in message
    assert [p.driver for p in caught.value.probes] == [OVERLAY]


def test_user_namespaces_disabled_on_the_node(tmp_path):
    preflight = make_preflight(tmp_path, {OVERLAY: NEWUIDMAP_DENIED}, facts={"max_user_namespaces": 0})
    with pytest.raises(PreflightError) as caught:
        preflight.select()
    assert "user.max_user_namespaces" in str(caught.value)


def test_too_few_ids_in_the_job_container(tmp_path):
    preflight = make_preflight(tmp_path, {OVERLAY: NEWUIDMAP_DENIED}, facts={"mapped_uids": 65536 - 1})
    with pytest.raises(PreflightError) as caught:
        preflight.select()
    assert "maps only 65535 uids" in str(caught.value)


def test_no_storage_driver_names_dev_fuse(tmp_path):
    preflight = make_preflight(tmp_path, {OVERLAY: OVERLAY_ON_OVERLAY}, fuse="missing", drivers=(OVERLAY, FUSE_OVERLAYFS))
    with pytest.raises(PreflightError) as caught:
        preflight.select()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Failed to prepare nested builds: no storage driver works here")
    assert "'--device /dev/fuse'" in message and AWX_RUN_OPTIONS in message
    assert "emptyDir" in message


def test_no_podman(tmp_path):
    preflight = make_preflight(tmp_path, {})
    preflight.podman = None
    with pytest.raises(PreflightError) as caught:
        preflight.select()
    assert "podman is not installed" in str(caught.value)
    assert preflight.runner.calls == []


def test_isolation(tmp_path, monkeypatch):
    monkeypatch.delenv("BUILDAH_ISOLATION", raising=False)
    preflight = make_preflight(tmp_path, {})
    assert preflight.isolation() == "chroot"
    preflight.facts.update(rootless=False)
    assert preflight.isolation() == "oci"
    monkeypatch.setenv("BUILDAH_ISOLATION", "rootless")
    assert preflight.isolation() == "rootless"


def test_gather_facts_reads_proc(tmp_path):
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "sys" / "user").mkdir(parents=True)
    (proc / "self" / "status").write_text(u"" + STATUS_NO_NEW_PRIVS)
    (proc / "self" / "uid_map").write_text(u"0 0 4294967295\n")
    (proc / "sys" / "user" / "max_user_namespaces").write_text(u"0\n")
    (proc / "self" / "mountinfo").write_text(u"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                                             u"30 22 0:40 / %s rw - overlay overlay rw\n" % tmp_path)
    preflight = Preflight(None, "/usr/bin/podman", str(tmp_path / "containers" / "storage"), "/r", proc_root=str(proc),
                          fuse_device=str(tmp_path / "nofuse"),
                          userns_check=lambda: (False, "unshare(CLONE_NEWUSER) failed: Operation not permitted"))
    facts = preflight.gather_facts()
    assert facts["no_new_privs"] is True
    assert facts["cap_sys_admin"] is False
    assert facts["rootless"] is True
    assert facts["mapped_uids"] == 4294967295
    assert facts["max_user_namespaces"] == 0
    assert facts["dev_fuse"] == "missing"
    assert facts["user_namespace"] == "denied"
    assert facts["store_filesystem"] == "overlay"


def test_filesystem_type():
    mountinfo = ("22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
                 "40 22 0:50 / /var/lib/containers rw - xfs /dev/sdb rw\n"
                 "41 22 0:51 / /var/lib/containers-other rw - tmpfs tmpfs rw\n")
    assert filesystem_type("/var/lib/containers/storage", mountinfo) == "xfs"
    assert filesystem_type("/var/lib/containers", mountinfo) == "xfs"
    assert filesystem_type("/var/lib/containers-other/x", mountinfo) == "tmpfs"
    assert filesystem_type("/srv", mountinfo) == "ext4"
    assert filesystem_type("/srv", "") is None


def test_mount_points_below():
    mountinfo = ("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                 "50 22 8:1 /x /var/lib/containers/eeforge-preflight-a/root/overlay rw - ext4 /dev/sda1 rw\n"
                 "51 22 0:9 / /var/lib/containers/eeforge-preflight-ab rw - tmpfs tmpfs rw\n")
    assert mount_points_below("/var/lib/containers/eeforge-preflight-a", mountinfo) == [
        "/var/lib/containers/eeforge-preflight-a/root/overlay"]
    assert mount_points_below("/srv", mountinfo) == []


def test_uses_mount_program(tmp_path):
    assert uses_mount_program(str(tmp_path)) is False
    (tmp_path / "overlay").mkdir()
    (tmp_path / "overlay" / ".has-mount-program").write_text(u"false")
    assert uses_mount_program(str(tmp_path)) is False
    (tmp_path / "overlay" / ".has-mount-program").write_text(u"true")
    assert uses_mount_program(str(tmp_path)) is True


def test_quiet_fuse_overlayfs_fallback_is_not_native_overlay(tmp_path):
    preflight = make_preflight(tmp_path, {}, runner=FakeRunner({}, mount_program_fallback=True),
                               facts={"store_filesystem": "overlay"})
    driver, reason, probes = preflight.select()
    assert driver == FUSE_OVERLAYFS
    assert probes[0].usable is False
    assert "refuses native overlay with the store on overlay" in probes[0].reason
    assert "refused: overlay:" in reason


def test_user_namespace_denied_fails_before_any_podman_run(tmp_path):
    preflight = make_preflight(tmp_path, {}, facts={
        "user_namespace": "denied", "user_namespace_detail": "unshare(CLONE_NEWUSER) failed: Operation not permitted"})
    with pytest.raises(PreflightError) as caught:
        preflight.select()
    message = str(caught.value)
    assert "\n" not in message
    assert "unshare(CLONE_NEWUSER) failed: Operation not permitted" in message
    assert "seccomp" in message and AWX_RUN_OPTIONS in message
    assert preflight.runner.calls == []


def test_try_user_namespace_reports_a_result():
    usable, detail = try_user_namespace()
    assert usable in (True, False)
    assert usable or detail.startswith("unshare(CLONE_NEWUSER) failed")
