# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_info sbom_path against a real EE: one image built by ee_build on the harness base image
(python requirement six==1.16.0), pushed to the htpasswd registry and inspected from there with
credentials. The tests run in file order and share that image and its first SBOM."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.harness.podman_env import podman
from tests.integration.secret_grep import files_containing, scratch_env
from tests.integration.test_ee_build import _minimal, _pinned, run_ee_build
from tests.integration.test_ee_info import _push_with_login, run_ee_info

_sbom = pytest.importorskip("ansible_collections.eeforge.builder.plugins.module_utils._sbom")
pytest.importorskip("cyclonedx", reason="cyclonedx-python-lib is not installed (test-requirements)")

PREFIX = "localhost/eeforge-t14s-"
EE = PREFIX + "ee:1"
REPO, TAG = "eeforge-t14s/ee", "sbom"


@pytest.fixture(scope="module")
def sbom_ee(base_image, auth_registry, collection_tarballs, tmp_path_factory):
    """The EE built once with ee_build (six==1.16.0 and containers.podman), pushed to the auth registry."""
    root = tmp_path_factory.mktemp("t14s-project")
    tarball = os.path.basename(collection_tarballs["containers.podman"])
    shutil.copy(collection_tarballs["containers.podman"], str(root / tarball))
    galaxy = {"collections": [{"name": tarball, "type": "file"}]}
    args = {"definition": _minimal(base_image, dependencies=_pinned(python=["six==1.16.0"], galaxy=galaxy)),
            "project_dir": str(root), "tags": [EE], "build_log_dir": str(tmp_path_factory.mktemp("t14s-logs"))}
    result, output = run_ee_build(args)
    assert not result.get("failed"), output
    dest = "%s/%s:%s" % (auth_registry.location, REPO, TAG)
    try:
        _push_with_login(EE, dest, auth_registry, tmp_path_factory.mktemp("t14s-auth"))
        yield {"image": dest, "digest": auth_registry.manifest_digest(REPO, TAG), "build": result,
               "args": {"image": dest, "tls_verify": False, "registry_username": auth_registry.username,
                        "registry_password": auth_registry.password},
               "password": auth_registry.password, "dir": tmp_path_factory.mktemp("t14s-sbom")}
    finally:
        podman(["rmi", "-f", dest, EE], check=False)


@pytest.fixture(scope="module")
def first_run(sbom_ee):
    """ee_info pull: always with credentials and sbom_path: (result, output, SBOM text)."""
    path = str(sbom_ee["dir"] / "ee.cdx.json")
    result, output = run_ee_info(dict(sbom_ee["args"], pull="always", sbom_path=path), verbosity=3,
                                 env=scratch_env(sbom_ee["dir"] / "scratch"))
    assert not result.get("failed"), output
    with open(path, encoding="utf-8") as handle:
        return result, output, handle.read()


def test_sbom_lists_every_package_with_a_purl(sbom_ee, first_run):
    result, dummy, text = first_run
    path = str(sbom_ee["dir"] / "ee.cdx.json")
    assert result["changed"] is True and result["sbom_path"] == path
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    assert _sbom.validate_sbom(text) is None
    doc = json.loads(text)
    found = set(_sbom.purls(text))
    assert result["sbom"] == {"format": "CycloneDX", "spec_version": "1.6", "serial_number": doc["serialNumber"],
                              "components": len(doc["components"]), "package_db": "dpkg", "written": True}
    # every Python package and collection ee_info reports, ansible-core and ansible-runner among them
    for name, version in result["python_packages"].items():
        assert "pkg:pypi/%s@%s" % (_sbom.normalize_pypi_name(name), version) in found, name
    assert "pkg:pypi/six@1.16.0" in found
    assert "pkg:pypi/ansible-core@2.19.14" in found and "pkg:pypi/ansible-runner@2.4.3" in found
    assert "containers.podman" in result["collections"]
    for fqcn, version in result["collections"].items():
        assert "pkg:ansible/%s@%s" % (fqcn.replace(".", "/"), version) in found, fqcn
    # the Debian packages of the base, from /var/lib/dpkg/status
    deb = [purl for purl in found if purl.startswith("pkg:deb/debian/")]
    assert len(deb) > 50
    assert any(purl.startswith("pkg:deb/debian/libc6@") and "distro=debian-12" in purl for purl in deb), deb[:5]
    # the image, by the digest it has in the registry
    image = doc["metadata"]["component"]
    assert image["version"] == sbom_ee["digest"] == result["digest"]
    assert image["purl"].startswith("pkg:oci/ee@" + sbom_ee["digest"] + "?")
    # its base: with digest when ee_build labelled it, else left out
    base_name = result["labels"].get("org.opencontainers.image.base.name")
    bases = [c for c in doc["components"] if c.get("bom-ref") == "base-image"]
    if base_name:
        base_digest = (result["labels"].get("org.opencontainers.image.base.digest")
                       or result["labels"].get("io.eeforge.base-digest"))
        assert len(bases) == 1 and bases[0]["version"] == base_digest and base_digest.startswith("sha256:")
    else:
        assert bases == []


def test_no_secret_in_the_sbom_or_the_result(sbom_ee, first_run):
    result, output, text = first_run
    password = sbom_ee["password"]
    assert password not in text and password not in json.dumps(result) and password not in output
    assert files_containing(password, sbom_ee["dir"], username=sbom_ee["args"]["registry_username"])[0] == []
    assert "os_inventory" not in result  # the raw package database stays out of the result
    assert sorted(os.listdir(str(sbom_ee["dir"]))) == ["ee.cdx.json", "scratch"]  # no temp file left


def test_second_run_is_unchanged_and_leaves_the_file(sbom_ee, first_run):
    path = str(sbom_ee["dir"] / "ee.cdx.json")
    before = os.stat(path).st_mtime_ns
    result, output = run_ee_info(dict(sbom_ee["args"], pull="missing", sbom_path=path))
    assert not result.get("failed"), output
    assert result["changed"] is False and result["sbom"]["written"] is False
    assert result["sbom"]["serial_number"] == first_run[0]["sbom"]["serial_number"]
    assert os.stat(path).st_mtime_ns == before
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == first_run[2]


def test_check_mode_writes_nothing(sbom_ee, first_run):  # pylint: disable=unused-argument
    new = str(sbom_ee["dir"] / "new.cdx.json")
    result, output = run_ee_info(dict(sbom_ee["args"], pull="missing", sbom_path=new), check=True)
    assert not result.get("failed"), output
    assert result["changed"] is True and result["sbom"]["written"] is False and result["sbom"]["components"] > 50
    assert not os.path.exists(new)
    assert sorted(os.listdir(str(sbom_ee["dir"]))) == ["ee.cdx.json", "scratch"]
    result, output = run_ee_info(dict(sbom_ee["args"], pull="missing", sbom_path=str(sbom_ee["dir"] / "ee.cdx.json")),
                                 check=True)
    assert not result.get("failed") and result["changed"] is False, output


def test_missing_directory_is_one_line(sbom_ee, first_run):  # pylint: disable=unused-argument
    path = str(sbom_ee["dir"] / "missing" / "ee.cdx.json")
    result, output = run_ee_info(dict(sbom_ee["args"], pull="missing", sbom_path=path))
    assert result.get("failed"), output
    msg = result["msg"]
    assert "\n" not in msg and path in msg and "create the directory" in msg, msg
    assert "Traceback" not in json.dumps(result)
    assert sorted(os.listdir(str(sbom_ee["dir"]))) == ["ee.cdx.json", "scratch"]


def test_role_writes_an_sbom_per_built_ee(base_image, tmp_path):
    """ee_builder_sbom_dir: the role writes <name>-<tag>.cdx.json for the EE it built (no push, no AWX);
    a rerun changes nothing; check mode of a changed item writes none."""
    from tests.integration.awx_tasks import REPO_ROOT, run_playbook, tasks_named  # pylint: disable=import-outside-toplevel
    playbook = os.path.join(REPO_ROOT, "playbooks", "build_ees.yml")
    sboms = tmp_path / "sboms"
    sboms.mkdir()
    item = {"name": "eeforge-t14s-role", "tags": ["2"], "images": {"base_image": {"name": base_image}},
            "dependencies": _pinned(python=["six==1.16.0"])}
    variables = {"ee_builder_list": [item], "ee_builder_push": False, "ee_builder_preflight": False,
                 "ee_builder_sbom_dir": str(sboms), "ee_builder_dir": str(tmp_path / "ctx"),
                 "ee_builder_storage_conf": str(tmp_path / "storage.conf")}
    try:
        doc, rc, output = run_playbook(playbook, variables, timeout=1800)
        assert rc == 0, output
        path = str(sboms / "eeforge-t14s-role-2.cdx.json")
        results = tasks_named(doc, "Show what was built")[0]["ee_builder_results"]
        assert results[0]["sbom_path"] == path
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        assert _sbom.validate_sbom(text) is None and "pkg:pypi/six@1.16.0" in _sbom.purls(text)
        assert [t["changed"] for t in tasks_named(doc, "Write the SBOM of")] == [True]
        doc, rc, output = run_playbook(playbook, variables, timeout=1800)
        assert rc == 0, output
        assert [t["changed"] for t in tasks_named(doc, "Write the SBOM of")] == [False]
        changed = dict(item, dependencies=_pinned(python=["six==1.16.0", "jmespath==1.0.1"]))
        doc, rc, output = run_playbook(playbook, dict(variables, ee_builder_list=[changed],
                                                      ee_builder_sbom_dir=str(tmp_path)), check=True, timeout=1800)
        assert rc == 0, output
        assert [t.get("skipped") for t in tasks_named(doc, "Write the SBOM of")] == [True]
        assert os.listdir(str(sboms)) == ["eeforge-t14s-role-2.cdx.json"]
        assert not [name for name in os.listdir(str(tmp_path)) if name.endswith(".cdx.json")]
    finally:
        podman(["rmi", "--ignore", "eeforge-t14s-role:2"], check=False)
