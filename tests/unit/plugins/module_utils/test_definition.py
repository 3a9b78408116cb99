# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._definition import (
    COLLECTIONS_IN_BUILD,
    DefinitionError,
    builder_default_base_image,
    definition_label,
    definition_digest,
    load_definition_file,
    resolve_definition,
    validate_definition,
)

BASE = "quay.io/ansible/awx-ee:24.6.1"


def minimal(**extra):
    definition = {"version": 3, "images": {"base_image": {"name": BASE}}}
    definition.update(extra)
    return definition


@pytest.fixture
def project(tmp_path):
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    (tmp_path / "bindep.txt").write_text("jq [platform:dpkg]\n")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.cfg").write_text("a=1\n")
    (tmp_path / "files" / "b.cfg").write_text("b=1\n")
    (tmp_path / "ns-name-1.0.0.tar.gz").write_bytes(b"tarball-bytes")
    return tmp_path


def full(project_dir):
    return minimal(
        dependencies={
            "python": "requirements.txt",
            "system": "bindep.txt",
            "galaxy": {"collections": [{"name": "ns-name-1.0.0.tar.gz", "type": "file"}, "community.general"]},
            "ansible_core": {"package_pip": "ansible-core"},
        },
        additional_build_files=[{"src": "files/*.cfg", "dest": "configs"}],
        additional_build_steps={"append_final": "RUN echo one\nRUN echo two\n"},
    )


def digest_of(definition, base_dir, **kwargs):
    return definition_digest(resolve_definition(definition, str(base_dir)), **kwargs)


def test_resolve_makes_paths_absolute_and_collects_files(project):
    resolved = resolve_definition(full(project), str(project))
    deps = resolved.derived["dependencies"]
    assert deps["python"] == str(project / "requirements.txt")
    assert deps["system"] == str(project / "bindep.txt")
    collections = deps["galaxy"]["collections"]
    assert collections[0] == {"name": COLLECTIONS_IN_BUILD + "/ns-name-1.0.0.tar.gz", "type": "file"}
    assert collections[1] == "community.general"
    srcs = [entry["src"] for entry in resolved.derived["additional_build_files"]]
    assert srcs == [str(project / "files" / "a.cfg"), str(project / "files" / "b.cfg"),
                    str(project / "ns-name-1.0.0.tar.gz")]
    kinds = sorted(f.kind for f in resolved.files)
    assert kinds == ["additional_build_file", "additional_build_file", "collection", "python", "system"]
    assert resolved.base_image == BASE


def test_digest_is_stable_and_ignores_key_order_and_step_form(project):
    one = digest_of(full(project), project)
    reordered = dict(reversed(list(full(project).items())))
    assert digest_of(reordered, project) == one
    as_list = full(project)
    as_list["additional_build_steps"]["append_final"] = ["RUN echo one", "RUN echo two"]
    assert digest_of(as_list, project) == one
    assert one.startswith("sha256:") and len(one) == 71


@pytest.mark.parametrize("change", ["requirements.txt", "bindep.txt", "files/a.cfg", "ns-name-1.0.0.tar.gz"])
def test_digest_changes_with_any_referenced_file_bytes(project, change):
    before = digest_of(full(project), project)
    path = project / change
    path.write_bytes(path.read_bytes() + b"# changed\n")
    assert digest_of(full(project), project) != before


def test_digest_changes_with_build_args_version_and_extra(project):
    base = digest_of(full(project), project, build_args={"A": "1"}, builder_version="3.2.0")
    assert digest_of(full(project), project, build_args={"A": "2"}, builder_version="3.2.0") != base
    assert digest_of(full(project), project, build_args={"A": "1"}, builder_version="3.1.0") != base
    assert digest_of(full(project), project, build_args={"A": "1"}, builder_version="3.2.0",
                     extra={"labels": {"x": "y"}}) != base
    assert digest_of(full(project), project, build_args={"A": "1"}, builder_version="3.2.0") == base


def test_digest_changes_with_inline_python_list(project):
    one = minimal(dependencies={"python": ["six"]})
    two = minimal(dependencies={"python": ["six", "idna"]})
    assert digest_of(one, project) != digest_of(two, project)
    text = minimal(dependencies={"python": "six\nidna\n"})
    assert digest_of(text, project) == digest_of(two, project)


def test_moving_the_project_keeps_the_digest(project, tmp_path_factory):
    other = tmp_path_factory.mktemp("moved")
    for name in ("requirements.txt", "bindep.txt", "ns-name-1.0.0.tar.gz"):
        (other / name).write_bytes((project / name).read_bytes())
    (other / "files").mkdir()
    for name in ("a.cfg", "b.cfg"):
        (other / "files" / name).write_bytes((project / "files" / name).read_bytes())
    assert digest_of(full(project), project) == digest_of(full(other), other)


def test_resolve_does_not_modify_the_input(project):
    definition = full(project)
    saved = copy.deepcopy(definition)
    resolve_definition(definition, str(project))
    assert definition == saved


@pytest.mark.parametrize(
    "definition, fragment",
    [
        (minimal(dependencies={"python": "nope.txt"}), "python requirements file 'nope.txt' does not exist"),
        (minimal(dependencies={"galaxy": "nope.yml"}), "galaxy requirements file 'nope.yml' does not exist"),
        (minimal(dependencies={"galaxy": {"collections": [{"name": "x-y-1.0.0.tar.gz", "type": "file"}]}}),
         "collection tarball 'x-y-1.0.0.tar.gz' does not exist"),
        (minimal(additional_build_files=[{"src": "files/*.none", "dest": "c"}]),
         "additional_build_files[0].src 'files/*.none' matches no file"),
    ],
)
def test_resolve_errors_are_one_line(project, definition, fragment):
    with pytest.raises(DefinitionError) as err:
        resolve_definition(definition, str(project))
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_relative_path_without_base_dir():
    with pytest.raises(DefinitionError, match="Set project_dir"):
        resolve_definition(minimal(dependencies={"python": "requirements.txt"}), None)


def test_galaxy_file_and_tarball_relative_to_requirements(project):
    (project / "sub").mkdir()
    (project / "sub" / "requirements.yml").write_text("collections:\n  - name: local-col-2.0.0.tar.gz\n    type: file\n")
    (project / "sub" / "local-col-2.0.0.tar.gz").write_bytes(b"x")
    resolved = resolve_definition(minimal(dependencies={"galaxy": "sub/requirements.yml"}), str(project))
    assert resolved.derived["dependencies"]["galaxy"]["collections"][0]["name"].endswith("/local-col-2.0.0.tar.gz")
    assert {f.kind for f in resolved.files} == {"galaxy", "collection"}


@pytest.mark.parametrize(
    "definition, fragment",
    [
        ([], "not a mapping"),
        ({"images": {}}, "key 'version' is missing"),
        (minimal(version="three"), "not a number"),
        (minimal(version=1), "version 1 is not supported"),
        ({"version": 3, "images": {"base_image": {"name": "quay.io/x/y"}}}, "has no tag"),
        (minimal(additional_build_files=[{"src": "a", "dest": "/abs"}]), "must be relative"),
        (minimal(additional_build_files=[{"src": "a", "dest": "x/../../y"}]), "must be relative"),
    ],
)
def test_validate_rules(definition, fragment):
    with pytest.raises(DefinitionError) as err:
        validate_definition(definition, "ee.yml")
    assert fragment in str(err.value)
    assert str(err.value).startswith("Failed to validate execution environment definition 'ee.yml': ")


def test_validate_with_a_schema_names_the_key():
    pytest.importorskip("jsonschema")
    schema = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "version": {"type": "number"}, "images": {"type": "object"},
            "dependencies": {"type": "object", "properties": {
                "python": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}}},
        },
    }
    with pytest.raises(DefinitionError, match=r"at 'dependencies.python': 5 is not of type string or list of strings"):
        validate_definition(minimal(dependencies={"python": 5}), "ee.yml", schema=schema)
    with pytest.raises(DefinitionError, match="'dependancies' was unexpected"):
        validate_definition(minimal(dependancies={}), "ee.yml", schema=schema)
    validate_definition(minimal(dependencies={"python": ["six"]}), "ee.yml", schema=schema)


def test_load_definition_file_errors(tmp_path):
    with pytest.raises(DefinitionError, match="the file does not exist"):
        load_definition_file(str(tmp_path / "none.yml"))
    bad = tmp_path / "bad.yml"
    bad.write_text("version: 3\nimages: [\n")
    with pytest.raises(DefinitionError, match="YAML error at line"):
        load_definition_file(str(bad))
    scalar = tmp_path / "scalar.yml"
    scalar.write_text("just text\n")
    with pytest.raises(DefinitionError, match="holds a str, not a mapping"):
        load_definition_file(str(scalar))
    good = tmp_path / "good.yml"
    good.write_text("version: 3\n")
    assert load_definition_file(str(good)) == {"version": 3}
    assert os.path.exists(str(good))


def test_no_base_image_means_ansible_builders_default():
    """A v3 definition without images.base_image is valid, as for ansible-builder: its default base is used."""
    from ansible_builder import constants  # pylint: disable=import-outside-toplevel
    validate_definition({"version": 3})
    assert builder_default_base_image() == constants.build_arg_defaults["EE_BASE_IMAGE"]
    assert resolve_definition({"version": 3}, None).base_image == constants.build_arg_defaults["EE_BASE_IMAGE"]
    chosen = {"version": 3, "build_arg_defaults": {"EE_BASE_IMAGE": "quay.io/x/y:2"}}
    assert resolve_definition(chosen, None).base_image == "quay.io/x/y:2"


def test_definition_label_is_compact_json_or_nothing_when_too_large():
    normalized = {"version": 3, "dependencies": {"python": ["boto3"]}}
    assert definition_label(normalized) == '{"dependencies":{"python":["boto3"]},"version":3}'
    assert definition_label({"version": 3, "dependencies": {"python": ["x" * 100] * 400}}) is None


SCHEMA_IMPORT = """
import json, sys
from ansible_collections.eeforge.builder.plugins.module_utils import _definition as defn
from ansible_collections.eeforge.builder.plugins.modules.ee_build import builder_schema
schema = builder_schema()
errors = []
for definition in ({"version": 3, "images": {"base_image": {"name": "r.io/b:1"}}},
                   {"version": 3, "images": {"base_image": {"name": "r.io/b:1"}}, "dependancies": {}}):
    try:
        defn.validate_definition(definition, "x", schema=schema)
    except defn.DefinitionError as exc:
        errors.append(str(exc))
print(json.dumps({"grammars": "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is not None,
                  "left": "rfc3987_syntax" in sys.modules, "errors": errors}))
"""


def test_the_schema_is_loaded_without_rfc3987_grammars():
    """jsonschema builds an 'iri' format checker from rfc3987-syntax's Lark grammars when it is installed
    (cyclonedx-python-lib brings it): about a second per run. ee_build's schema check imports neither."""
    import json  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    pytest.importorskip("ansible_builder")
    proc = subprocess.run([sys.executable, "-c", SCHEMA_IMPORT], capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report == {"grammars": False, "left": False, "errors": [report["errors"][0]]}, report
    assert "dependancies" in report["errors"][0] and "\n" not in report["errors"][0]
