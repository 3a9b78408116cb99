# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_build ``platforms``: the platform strings, manifest lists and the per-platform plan, on plain data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils import _platforms as plat
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError, BuildInputError

AMD, ARM = "linux/amd64", "linux/arm64"
D = dict((p, "sha256:" + c * 64) for p, c in ((AMD, "1"), (ARM, "2")))
TAG, SECOND = "r.io/ee/x:1", "r.io/ee/x:latest"


def facts(digest, image_id):
    return {"id": image_id, "manifest_digest": "sha256:" + image_id, "labels": {plat.DIGEST_LABEL: digest}}


LOCAL = {AMD: facts(D[AMD], "a" * 64), ARM: facts(D[ARM], "b" * 64)}
LISTED = {AMD: "sha256:" + "a" * 64, ARM: "sha256:" + "b" * 64}
REMOTE = {AMD: {"labels": {plat.DIGEST_LABEL: D[AMD]}}, ARM: {"labels": {plat.DIGEST_LABEL: D[ARM]}}}


@pytest.mark.parametrize("value, message", [
    ("linux/aarch64", "'linux/aarch64': unknown architecture 'aarch64'. Use an OCI architecture name ('aarch64' is "
                      "called 'arm64' there)"),
    ("linux/x86_64", "('x86_64' is called 'amd64' there)"),
    ("linux/sparc", "'linux/sparc': unknown architecture 'sparc'. Use an OCI architecture name: 386, amd64"),
    ("windows/amd64", "the OS 'windows' is not linux. Execution environments are Linux images: write linux/amd64"),
    ("amd64", "'amd64' is not OS/ARCH or OS/ARCH/VARIANT"),
    ("linux/arm64/", "'linux/arm64/' is not OS/ARCH"),
    ("linux/arm/v9", "'linux/arm/v9': unknown variant 'v9' of arm. Leave the variant out, or use one of: v5, v6, v7"),
    ("linux/amd64/v2", "unknown variant 'v2' of amd64. Leave the variant out, or use one of: none"),
])
def test_bad_platform_strings_fail_in_one_line(value, message):
    with pytest.raises(BuildInputError) as info:
        plat.parse_platforms([AMD, value])
    assert str(info.value).startswith("Failed to build image: platforms: ")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_duplicate_platform_is_refused():
    with pytest.raises(BuildInputError, match="'linux/arm64' is listed twice. List each platform once"):
        plat.parse_platforms([ARM, AMD, ARM])


def test_platforms_are_kept_as_written_and_in_order():
    parsed = plat.parse_platforms([ARM, "linux/arm/v7", AMD])
    assert [p.text for p in parsed] == [ARM, "linux/arm/v7", AMD]
    assert (parsed[1].os, parsed[1].arch, parsed[1].variant) == ("linux", "arm", "v7")


def test_platform_matches_list_entries_with_and_without_variant():
    arm64, arm64_v8, armv7 = plat.parse_platforms([ARM, "linux/arm64/v8", "linux/arm/v7"])
    assert arm64.matches({"os": "linux", "architecture": "arm64", "variant": "v8"})
    assert arm64.matches({"os": "linux", "architecture": "arm64"})
    assert arm64_v8.matches({"os": "linux", "architecture": "arm64"})  # v8 is arm64's only variant
    assert not armv7.matches({"os": "linux", "architecture": "arm", "variant": "v6"})
    assert not arm64.matches({"os": "linux", "architecture": "amd64"})
    assert not arm64.matches(None)


def test_list_instances_and_pick():
    index = {"mediaType": plat.LIST_TYPES[0], "manifests": [
        {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"digest": "sha256:c"},  # no platform: not an image of a platform
    ]}
    instances = plat.list_instances(index)
    assert [d for _p, d in instances] == ["sha256:a", "sha256:b"]
    assert plat.pick(plat.parse_platforms([ARM, "linux/s390x"]), instances) == {ARM: "sha256:b"}
    assert plat.platform_name(instances[1][0]) == "linux/arm64/v8"
    assert plat.list_instances({"mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []}) is None
    assert plat.list_instances(None) is None


def test_missing_platforms_error_names_what_the_base_has():
    error = plat.missing_platforms_error("r.io/base:1", plat.parse_platforms([ARM]), [AMD])
    assert isinstance(error, BuildError)
    assert str(error) == ("Failed to build image: base image 'r.io/base:1' has no linux/arm64 image (it has "
                          "linux/amd64). Use a base image (a manifest list) with every platform in platforms, or "
                          "leave linux/arm64 out.")


def test_probe_elf_is_a_static_elf_of_the_architecture():
    elf = plat.probe_elf("arm64")
    assert len(elf) == 132 and elf[:4] == b"\x7fELF"
    assert struct.unpack("<H", elf[18:20])[0] == 0xB7  # e_machine: AArch64
    assert struct.unpack("<H", plat.probe_elf("amd64")[18:20])[0] == 0x3E
    assert plat.probe_elf("s390x") is None


def test_emulation_problem_reads_the_binfmt_entry_when_there_is_no_probe(tmp_path):
    (tmp_path / "register").write_text("")
    assert plat._binfmt_state("s390x", str(tmp_path)) == "binfmt_misc has no 'qemu-s390x' entry"
    (tmp_path / "qemu-s390x").write_text("disabled\ninterpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P\nflags: PF\n")
    assert plat._binfmt_state("s390x", str(tmp_path)) == "the binfmt_misc entry 'qemu-s390x' is disabled"
    (tmp_path / "qemu-s390x").write_text("enabled\ninterpreter /x\nflags: P\n")
    assert "lacks the F flag" in plat._binfmt_state("s390x", str(tmp_path))
    (tmp_path / "qemu-s390x").write_text("enabled\ninterpreter /x\nflags: PF\n")
    assert plat._binfmt_state("s390x", str(tmp_path)) == ""
    assert plat._binfmt_state("s390x", str(tmp_path / "unmounted")) is None


class Runner(object):
    def __init__(self, rc, err=""):
        self.rc, self.err, self.argv = rc, err, None

    def run(self, argv, check=True, timeout=None):  # pylint: disable=unused-argument
        self.argv = argv
        return self.rc, "", self.err


def test_emulation_problem_runs_the_probe(tmp_path, monkeypatch):
    monkeypatch.setattr(plat, "host_arch", lambda: "amd64")
    assert plat.emulation_problem(Runner(7), "amd64", str(tmp_path)) is None  # native: no probe
    runner = Runner(7)
    assert plat.emulation_problem(runner, "arm64", str(tmp_path), binfmt_dir=str(tmp_path / "none")) is None
    assert runner.argv[0].endswith("eeforge-probe-arm64") and not list(tmp_path.iterdir())  # removed again
    reason = plat.emulation_problem(Runner(126, "Exec format error"), "arm64", str(tmp_path),
                                    binfmt_dir=str(tmp_path / "none"))
    assert reason == "no enabled binfmt_misc entry runs arm64 programs (exec format error)"
    reason = plat.emulation_problem(Runner(127, "No such file or directory"), "arm64", str(tmp_path),
                                    binfmt_dir=str(tmp_path / "none"))
    assert "not reachable here (no F flag)" in reason


def plan(local=None, lists=None, remote=None, push=(TAG,), tags=(TAG,), force=False):
    local = LOCAL if local is None else local
    lists = {TAG: dict(LISTED)} if lists is None else lists
    remote = {TAG: REMOTE} if remote is None else remote
    return plat.plan_platforms(dict(D), list(tags), list(push), local, lists, remote, force=force)


def test_everything_up_to_date_is_a_no_op():
    result = plan()
    assert result.actions == [] and not result.changed


def test_only_the_changed_platform_is_built_and_the_list_made_and_pushed_again():
    old = "sha256:" + "9" * 64
    local = dict(LOCAL, **{AMD: facts(old, "a" * 64)})
    remote = dict(REMOTE, **{AMD: {"labels": {plat.DIGEST_LABEL: old}}})
    result = plan(local=local, remote={TAG: remote})
    assert result.actions == ["build linux/amd64", "manifest %s" % TAG, "push %s" % TAG]
    # Built elsewhere and pushed already: the registry is up to date, nothing to do here.
    assert plan(local=local).actions == []


def test_force_builds_every_platform():
    assert plan(force=True).build == [AMD, ARM]


def test_missing_second_tag_list_is_made_locally_without_a_push():
    result = plan(tags=(TAG, SECOND), push=(), lists={TAG: dict(LISTED), SECOND: None})
    assert result.actions == ["manifest %s" % SECOND]


def test_registry_list_with_another_platform_set_is_pushed_again():
    result = plan(remote={TAG: {}})
    assert result.actions == ["push %s" % TAG]


def test_up_to_date_in_the_registry_needs_no_local_build():
    result = plan(local={AMD: None, ARM: None}, lists={TAG: None})
    assert result.actions == []


def test_unknown_registry_in_check_mode_counts_as_a_push():
    result = plan(remote={TAG: plat.UNKNOWN})
    assert result.actions == ["push %s" % TAG]
    assert "could not be read in check mode" in result.warnings[0]


class Engine(object):
    def __init__(self, manifest=None):
        self.manifest = manifest

    def manifest_exists(self, name):  # pylint: disable=unused-argument
        return self.manifest is not None

    def manifest_inspect(self, name):  # pylint: disable=unused-argument
        return self.manifest


INDEX = {"manifests": [{"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
                       {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64"}}]}


def test_select_instance_of_a_local_list(monkeypatch):
    monkeypatch.setattr(plat, "host_arch", lambda: "amd64")
    engine = Engine(INDEX)
    assert plat.select_instance(engine, "r.io:5000/ee/x:1") == ("r.io:5000/ee/x@sha256:a", [AMD, ARM])
    arm = plat.parse_platforms([ARM])[0]
    assert plat.select_instance(engine, "r.io:5000/ee/x:1", arm) == ("r.io:5000/ee/x@sha256:b", [AMD, ARM])
    with pytest.raises(BuildError) as info:
        plat.select_instance(engine, "ee:1", plat.parse_platforms(["linux/s390x"])[0])
    assert str(info.value) == ("Failed to inspect execution environment 'ee:1': its manifest list has no linux/s390x "
                               "image (it has linux/amd64, linux/arm64). Set platform to one of them.")
    monkeypatch.setattr(plat, "host_arch", lambda: "ppc64le")
    with pytest.raises(BuildError, match="has no linux/ppc64le image"):
        plat.select_instance(engine, "ee:1")


def test_a_single_image_is_its_own_platform():
    assert plat.select_instance(Engine(), "ee:1") == ("ee:1", None)
    facts = {"os": "linux", "architecture": "arm64"}
    assert plat.check_image_platform("ee:1", facts) == [ARM]
    assert plat.check_image_platform("ee:1", facts, plat.parse_platforms([ARM])[0]) == [ARM]
    with pytest.raises(BuildError) as info:
        plat.check_image_platform("ee:1", facts, plat.parse_platforms([AMD])[0])
    assert str(info.value) == ("Failed to inspect execution environment 'ee:1': the local image is linux/arm64, not "
                               "linux/amd64. Use pull: always to pull its linux/amd64 image.")
