# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection installs like any Galaxy collection and declares what it needs, twice."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import tarfile

import pytest
import yaml
from ansible_builder.ee_schema import validate_schema
from ansible_builder.exceptions import DefinitionError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


FQCN = re.compile(r"(?:^\s*-?\s*|group/|lookup\(\s*'|query\(\s*')([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+[:']", re.M)


def collections_used():
    """Collections named by FQCN in the tasks of the roles and playbooks (the plugins import none)."""
    found = set()
    for path in glob.glob(os.path.join(REPO, "roles", "**", "*.yml"), recursive=True) + \
            glob.glob(os.path.join(REPO, "playbooks", "*.yml")):
        with open(path, encoding="utf-8") as handle:
            found.update(FQCN.findall(handle.read()))
    return found - {"ansible.builtin", "eeforge.builder"}


def test_galaxy_metadata():
    galaxy = load("galaxy.yml")
    assert (galaxy["namespace"], galaxy["name"], galaxy["version"]) == ("eeforge", "builder", "0.1.0")
    assert galaxy["license"] == ["GPL-3.0-or-later"]
    # The dependencies are exactly the collections the roles, playbooks and plugins use.
    assert set(galaxy["dependencies"]) == collections_used()
    for ignored in ("tests/harness", "tests/integration", "tests/awx_standin", "bench", ".ci"):
        assert ignored in galaxy["build_ignore"]


def test_runtime_action_group_lists_every_awx_module():
    runtime = load("meta/runtime.yml")
    assert runtime["requires_ansible"] == ">=2.16.0"
    modules = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "plugins/modules/*.py"))}
    awx_modules = {m for m in modules if m.startswith("awx_")}
    group = set(runtime["action_groups"]["awx"])
    assert awx_modules, "no AWX modules found"
    assert group == awx_modules, "action group awx must list exactly the awx_* modules"


def test_python_and_system_dependencies_for_ansible_builder():
    meta = load("meta/execution-environment.yml")
    assert meta["dependencies"]["python"] == "requirements.txt"
    assert meta["dependencies"]["system"] == "bindep.txt"
    with open(os.path.join(REPO, "requirements.txt"), encoding="utf-8") as handle:
        reqs = handle.read()
    assert "ansible-builder" in reqs and "awxkit" in reqs
    with open(os.path.join(REPO, "bindep.txt"), encoding="utf-8") as handle:
        lines = [line for line in handle.read().splitlines() if line.strip() and not line.startswith("#")]
    packages = {line.split()[0]: line for line in lines}
    for pkg in ("podman", "buildah", "fuse-overlayfs", "skopeo"):
        assert "platform:rpm" in packages[pkg] and "platform:dpkg" in packages[pkg]


def test_test_requirements_are_pinned():
    with open(os.path.join(REPO, "test-requirements.txt"), encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    for tool in ("ansible-core", "ansible-lint", "pytest", "pytest-ansible", "molecule", "galaxy-importer",
                 "ansible-runner", "antsibull-docs", "antsibull-changelog"):
        assert any(re.match(r"%s==\S+" % re.escape(tool), line) for line in lines), tool
    assert all("==" in line for line in lines), "every test tool is pinned"


def test_builder_ee_definition_is_a_valid_v3_definition():
    definition = load("execution-environment.yaml")
    assert definition["version"] == 3
    validate_schema(definition)  # ansible-builder's own schema check raises on error


def test_schema_check_catches_a_broken_definition():
    definition = load("execution-environment.yaml")
    definition["image"] = definition.pop("images", None)  # a common typo
    with pytest.raises(DefinitionError):
        validate_schema(definition)


def test_built_artifact_leaves_out_test_and_ci_files(tmp_path):
    subprocess.run(
        ["ansible-galaxy", "collection", "build", "--force", "--output-path", str(tmp_path), REPO],
        check=True, capture_output=True, text=True,
    )
    tarball = glob.glob(str(tmp_path / "eeforge-builder-*.tar.gz"))[0]
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names and "plugins/modules/ee_build.py" in names
    assert "execution-environment.yaml" in names and "meta/runtime.yml" in names
    for prefix in ("tests/harness", "tests/integration", "tests/awx_standin", "bench", ".ci", ".venv", ".cache"):
        assert not any(n == prefix or n.startswith(prefix + "/") for n in names), prefix
