# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._package_db import (
    RPM_QUERYFORMAT,
    PackageDbError,
    parse_dpkg_status,
    parse_os_release,
    parse_rpm_query,
)
from ansible_collections.eeforge.builder.plugins.module_utils._sbom import (
    SbomError,
    SbomWriteError,
    build_sbom,
    inventory_from_facts,
    normalize_pypi_name,
    purls,
    same_sbom,
    summary,
    validate_sbom,
    write_sbom,
)

# Stanzas as dpkg writes them on Debian 12 (trimmed descriptions), including a package removed
# with its config files left (not installed), a source with its own version, and a multi-arch lib.
DPKG_STATUS = """\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12985
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: python3-six
Status: install ok installed
Architecture: all
Source: six (1.16.0-4)
Version: 1.16.0-4
Description: Python 2 and 3 compatibility library

Package: vim-tiny
Status: deinstall ok config-files
Architecture: amd64
Source: vim
Version: 2:9.0.1378-2
Description: Vi IMproved - enhanced vi editor - compact version

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2+b1
Description: Secure Sockets Layer toolkit - shared libraries

Package: tzdata
Status: hold ok installed
Architecture: all
Version: 2024a-0+deb12u1
Description: time zone and daylight-saving time data
"""

OS_RELEASE_DEBIAN = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
"""

RPM_OUTPUT = (
    "bash\t(none)\t5.1.8\t9.el9\tx86_64\tbash-5.1.8-9.el9.src.rpm\tGPLv3+\n"
    "gpg-pubkey\t(none)\tfd431d51\t4ae0493b\t(none)\t(none)\tpubkey\n"
    "openssl-libs\t1\t3.0.7\t27.el9\tx86_64\topenssl-3.0.7-27.el9.src.rpm\tASL 2.0\n"
)

DIGEST = "sha256:" + "5d" * 32
BASE_DIGEST = "sha256:" + "0b" * 32


def inventory(**extra):
    inv = {
        "image": "registry.example.com/ee/aws:1.2",
        "digest": DIGEST,
        "image_id": "c4" * 32,
        "architecture": "amd64",
        "base_image": "registry.example.com/base/debian:12",
        "base_image_digest": BASE_DIGEST,
        "os_release": parse_os_release(OS_RELEASE_DEBIAN),
        "os_packages": parse_dpkg_status(DPKG_STATUS),
        "python_packages": {"six": "1.16.0", "PyYAML": "6.0.1", "ansible-core": "2.17.5", "ansible-runner": "2.4.0",
                            "typing_extensions": "4.12.2"},
        "collections": {"awx.awx": "24.6.1", "containers.podman": "1.16.2"},
        "ansible_core_version": "2.17.5",
        "ansible_runner_version": "2.4.0",
    }
    inv.update(extra)
    return inv


def test_parse_dpkg_status_keeps_installed_packages_with_their_source():
    pkgs = parse_dpkg_status(DPKG_STATUS)
    assert [p["name"] for p in pkgs] == ["libc6", "libssl3", "python3-six", "tzdata"]
    by_name = dict((p["name"], p) for p in pkgs)
    assert by_name["libc6"] == {"name": "libc6", "version": "2.36-9+deb12u4", "arch": "amd64", "kind": "deb",
                                "source": "glibc", "source_version": "2.36-9+deb12u4"}
    assert by_name["libssl3"]["source_version"] == "3.0.11-1~deb12u2"
    assert by_name["tzdata"]["source"] == "tzdata"


def test_parse_dpkg_status_of_empty_or_foreign_text():
    assert parse_dpkg_status("") == []
    assert parse_dpkg_status("not a status file\n") == []


@pytest.mark.skipif(not (shutil.which("dpkg-query") and os.path.isfile("/var/lib/dpkg/status")),
                    reason="needs a Debian host (dpkg-query and /var/lib/dpkg/status)")
def test_parse_dpkg_status_agrees_with_dpkg_query_on_a_real_database():
    with open("/var/lib/dpkg/status", encoding="utf-8") as handle:
        mine = set((p["name"], p["version"], p["arch"]) for p in parse_dpkg_status(handle.read()))
    out = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n"],
                         capture_output=True, text=True, check=True).stdout
    installed = set(tuple(line.split("\t")[1:]) for line in out.splitlines() if line[1:2] in ("i", "F", "W", "t"))
    assert mine == installed and len(mine) > 50


def test_parse_os_release_unquotes():
    assert parse_os_release(OS_RELEASE_DEBIAN)["pretty_name"] == "Debian GNU/Linux 12 (bookworm)"
    assert parse_os_release('ID="rhel"\nVERSION_ID="9.4"\n# c\n') == {"id": "rhel", "version_id": "9.4"}


def test_parse_rpm_query_skips_pubkeys_and_keeps_epoch():
    pkgs = parse_rpm_query(RPM_OUTPUT)
    found = [(p["name"], p["version"], p["epoch"]) for p in pkgs]
    assert found == [("bash", "5.1.8-9.el9", None), ("openssl-libs", "3.0.7-27.el9", "1")]
    assert pkgs[0]["source"] == "bash-5.1.8-9.el9.src.rpm"
    assert RPM_QUERYFORMAT.count(r"\t") == 6


def test_parse_rpm_query_rejects_another_format():
    with pytest.raises(PackageDbError, match="RPM_QUERYFORMAT"):
        parse_rpm_query("bash-5.1.8-9.el9.x86_64\n")


@pytest.mark.parametrize("name, expected", [("six", "six"), ("PyYAML", "pyyaml"),
                                            ("typing_extensions", "typing-extensions"),
                                            ("zope.interface", "zope.interface")])
def test_normalize_pypi_name(name, expected):
    assert normalize_pypi_name(name) == expected


@pytest.fixture
def cyclonedx():
    return pytest.importorskip("cyclonedx", reason="cyclonedx-python-lib is not installed (test-requirements)")


def test_sbom_validates_and_every_package_has_a_purl(cyclonedx):  # pylint: disable=unused-argument,redefined-outer-name
    inv = inventory()
    text = build_sbom(inv)
    assert validate_sbom(text) is None
    doc = json.loads(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    found = set(purls(text))
    assert "pkg:pypi/six@1.16.0" in found
    for pkg in inv["os_packages"]:
        assert "pkg:deb/debian/%s@%s?arch=%s&distro=debian-12" % (
            pkg["name"], pkg["version"].replace("+", "%2B").replace(":", "%3A"), pkg["arch"]) in found
    for name, version in inv["python_packages"].items():
        assert "pkg:pypi/%s@%s" % (normalize_pypi_name(name), version) in found
    for fqcn, version in inv["collections"].items():
        assert "pkg:ansible/%s@%s" % (fqcn.replace(".", "/"), version) in found
    components = doc["components"]
    assert [c["name"] for c in components if not c.get("purl")] == ["debian"]  # the OS component only
    assert len(found) == len(components)  # the image (metadata) has one too
    assert doc["metadata"]["component"]["purl"] == (
        "pkg:oci/aws@%s?arch=amd64&repository_url=registry.example.com/ee/aws&tag=1.2" % DIGEST)
    base = [c for c in components if c["bom-ref"] == "base-image"][0]
    assert base["version"] == BASE_DIGEST and base["purl"].startswith("pkg:oci/debian@" + BASE_DIGEST)
    assert [c for c in components if c["type"] == "operating-system"][0]["version"] == "12"


def test_sbom_ansible_core_and_runner_are_listed_when_pip_missed_them(cyclonedx):  # pylint: disable=unused-argument,redefined-outer-name
    text = build_sbom(inventory(python_packages={"six": "1.16.0"}))
    found = purls(text)
    assert "pkg:pypi/ansible-core@2.17.5" in found and "pkg:pypi/ansible-runner@2.4.0" in found
    assert found.count("pkg:pypi/ansible-core@2.17.5") == 1


def test_sbom_rpm_purls(cyclonedx):  # pylint: disable=unused-argument,redefined-outer-name
    text = build_sbom(inventory(os_release={"id": "rhel", "version_id": "9.4"}, os_packages=parse_rpm_query(RPM_OUTPUT)))
    assert validate_sbom(text) is None
    found = purls(text)
    assert "pkg:rpm/redhat/bash@5.1.8-9.el9?arch=x86_64&distro=rhel-9.4" in found
    assert "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rhel-9.4&epoch=1" in found


def test_sbom_is_stable_for_the_same_image(cyclonedx):  # pylint: disable=unused-argument,redefined-outer-name
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    first, second = build_sbom(inventory(), timestamp=when), build_sbom(inventory(), timestamp=when)
    assert first == second
    assert json.loads(first)["metadata"]["timestamp"].startswith("2026-01-02T03:04:05")
    other = build_sbom(inventory(python_packages={"six": "1.17.0"}), timestamp=when)
    assert json.loads(other)["serialNumber"] != json.loads(first)["serialNumber"]


def test_sbom_of_a_local_only_image_uses_its_id(cyclonedx):  # pylint: disable=unused-argument,redefined-outer-name
    text = build_sbom(inventory(digest=None, image="localhost/ee-test:1", base_image=None))
    assert validate_sbom(text) is None
    meta = json.loads(text)["metadata"]["component"]
    assert meta["version"] == "c4" * 32 and meta["purl"] == "pkg:oci/ee-test?arch=amd64&repository_url=localhost/ee-test&tag=1"


def test_validate_sbom_reports_a_schema_error(cyclonedx):  # pylint: disable=unused-argument,redefined-outer-name
    doc = json.loads(build_sbom(inventory()))
    doc["components"][0]["type"] = "spaceship"
    error = validate_sbom(json.dumps(doc))
    assert error and "spaceship" in error and "\n" not in error


@pytest.mark.parametrize("extra, message", [
    ({"image": None}, "no 'image'"),
    ({"digest": None, "image_id": None}, "neither a digest nor an image_id"),
    ({"os_packages": [{"name": "x", "version": "1", "kind": "apk"}]}, "expected deb or rpm"),
    ({"os_packages": [{"name": "x", "kind": "deb"}]}, "no name or version"),
    ({"collections": {"awx": "1.0.0"}}, "not namespace.name"),
    ({"python_packages": {"six": None}}, "'six' has no version"),
])
def test_sbom_bad_inventory_is_one_line(cyclonedx, extra, message):  # pylint: disable=unused-argument,redefined-outer-name
    with pytest.raises(SbomError, match=message):
        build_sbom(inventory(**extra))


@pytest.mark.skipif(not os.path.isfile("/var/lib/dpkg/status"), reason="needs a Debian host (/var/lib/dpkg/status)")
def test_sbom_of_a_real_package_database_validates(cyclonedx):  # pylint: disable=unused-argument,redefined-outer-name
    from importlib import metadata  # pylint: disable=import-outside-toplevel

    with open("/var/lib/dpkg/status", encoding="utf-8") as handle:
        os_packages = parse_dpkg_status(handle.read())
    python = dict((dist.metadata["Name"], dist.version) for dist in metadata.distributions() if dist.metadata["Name"])
    text = build_sbom(inventory(os_packages=os_packages, python_packages=python))
    assert validate_sbom(text) is None
    found = set(purls(text))
    assert len([p for p in found if p.startswith("pkg:deb/")]) == len(os_packages)
    assert set("pkg:pypi/%s@" % normalize_pypi_name(name) for name in python) <= set(
        p.split("@")[0] + "@" for p in found if p.startswith("pkg:pypi/"))


# ----------------------------------------------------------------------------------------------
# From ee_info's result to the file (sbom_path)
# ----------------------------------------------------------------------------------------------

def ee_info_result(**labels):
    inv = inventory()
    result = dict((key, inv[key]) for key in ("image", "digest", "image_id", "architecture", "python_packages",
                                              "collections", "ansible_core_version", "ansible_runner_version"))
    result.update({"labels": labels, "size": 1, "registry_password": None,
                   "os_inventory": {"os_release": inv["os_release"], "os_packages": inv["os_packages"],
                                    "package_db": "dpkg"}})
    return result


def test_inventory_from_facts_takes_the_base_from_ee_build_labels():
    inv = inventory_from_facts(ee_info_result(**{"org.opencontainers.image.base.name": "registry.example.com/base/debian:12",
                                                 "io.eeforge.base-digest": BASE_DIGEST}))
    assert inv["base_image"] == "registry.example.com/base/debian:12" and inv["base_image_digest"] == BASE_DIGEST
    assert inv["os_packages"] and inv["os_release"]["id"] == "debian" and inv["digest"] == DIGEST
    oci = inventory_from_facts(ee_info_result(**{"org.opencontainers.image.base.name": "b:1",
                                                 "org.opencontainers.image.base.digest": "sha256:" + "1" * 64}))
    assert oci["base_image_digest"] == "sha256:" + "1" * 64


def test_inventory_from_facts_without_base_labels_leaves_the_base_out(cyclonedx):  # pylint: disable=unused-argument,redefined-outer-name
    inv = inventory_from_facts(ee_info_result(**{"io.eeforge.base-digest": BASE_DIGEST}))
    assert inv["base_image"] is None and inv["base_image_digest"] is None
    text = build_sbom(inv)
    assert validate_sbom(text) is None
    assert not [c for c in json.loads(text)["components"] if c["bom-ref"] == "base-image"]


def _texts():
    """Two SBOMs of the same image at different times, and one of a changed image."""
    first = build_sbom(inventory(), timestamp=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
    later = build_sbom(inventory(), timestamp=datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc))
    changed = build_sbom(inventory(python_packages={"six": "1.17.0"}))
    return first, later, changed


def test_same_sbom_ignores_only_timestamp_and_serial(cyclonedx):  # pylint: disable=unused-argument,redefined-outer-name
    first, later, changed = _texts()
    assert first != later and same_sbom(first, later)
    assert not same_sbom(first, changed)
    assert not same_sbom("not json", first)
    assert summary(first) == {"components": len(json.loads(first)["components"]), "spec_version": "1.6",
                              "serial_number": json.loads(first)["serialNumber"], "format": "CycloneDX"}


def test_write_sbom_is_atomic_0644_and_changed_only_when_the_content_changes(tmp_path, cyclonedx):  # pylint: disable=unused-argument,redefined-outer-name
    first, later, changed = _texts()
    path = str(tmp_path / "ee.cdx.json")
    assert write_sbom(path, first) is True
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    assert write_sbom(path, later) is False
    with open(path) as handle:
        assert handle.read() == first  # left alone: the first timestamp stays
    assert write_sbom(path, changed) is True
    with open(path) as handle:
        assert handle.read() == changed
    assert os.listdir(str(tmp_path)) == ["ee.cdx.json"]


def test_write_sbom_check_mode_writes_nothing(tmp_path, cyclonedx):  # pylint: disable=unused-argument,redefined-outer-name
    first, later, changed = _texts()
    path = str(tmp_path / "ee.cdx.json")
    assert write_sbom(path, first, check_mode=True) is True
    assert os.listdir(str(tmp_path)) == []
    write_sbom(path, first)
    assert write_sbom(path, later, check_mode=True) is False
    assert write_sbom(path, changed, check_mode=True) is True
    with open(path) as handle:
        assert handle.read() == first


@pytest.mark.parametrize("where, fix", [
    ("missing/ee.cdx.json", "create the directory"),
    ("afile/ee.cdx.json", "is not a directory"),
    ("adir", "must name a file"),
])
def test_write_sbom_bad_path_is_one_line_naming_it(tmp_path, where, fix):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    path = str(tmp_path / where)
    for check_mode in (True, False):
        with pytest.raises(SbomWriteError) as err:
            write_sbom(path, "{}", check_mode=check_mode)
        message = str(err.value)
        assert path in message and fix in message and "\n" not in message
    assert sorted(os.listdir(str(tmp_path))) == ["adir", "afile"] and os.listdir(str(tmp_path / "adir")) == []


def test_write_sbom_unwritable_directory(tmp_path, monkeypatch):
    # What a directory the task's user may not write gives (root, as in CI, writes anywhere, so the
    # refusal is the one the OS would give: EACCES from creating the temp file, and from access()).
    import errno  # pylint: disable=import-outside-toplevel
    import tempfile  # pylint: disable=import-outside-toplevel

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    folder = tmp_path / "ro"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    for check_mode in (False, True):
        with pytest.raises(SbomWriteError) as err:
            write_sbom(str(folder / "ee.cdx.json"), "{}", check_mode=check_mode)
        assert "permissions" in str(err.value) and str(folder) in str(err.value) and "\n" not in str(err.value)
    assert os.listdir(str(folder)) == []


def test_write_sbom_failure_leaves_no_temp_file(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "rename", refuse)
    path = str(tmp_path / "ee.cdx.json")
    with pytest.raises(SbomWriteError) as err:
        write_sbom(path, "{}")
    assert "No space left on device" in str(err.value) and path in str(err.value)
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("module, library", [
    ("packageurl", "packageurl-python"),
    ("cyclonedx.model.bom", "cyclonedx-python-lib"),
    ("cyclonedx.validation.json", "cyclonedx-python-lib[json-validation]"),
])
def test_check_library_names_the_missing_package(monkeypatch, cyclonedx, module, library):  # pylint: disable=unused-argument,redefined-outer-name
    import sys  # pylint: disable=import-outside-toplevel
    from ansible_collections.eeforge.builder.plugins.module_utils._sbom import SbomLibraryMissing, check_library  # pylint: disable=import-outside-toplevel
    monkeypatch.setitem(sys.modules, module, None)  # import of it raises ImportError
    with pytest.raises(SbomLibraryMissing) as err:
        check_library()
    assert err.value.library == library
