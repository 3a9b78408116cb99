"""Modules driven through pytest-ansible's ``localhost`` fixture (pytest.ini: localhost, local connection).

A failed assertion prints the whole module result. The other integration tests run whole playbooks
(``ansible-playbook`` in a subprocess) where a task list, check mode or -vvv output is the subject.
"""

from __future__ import annotations

import sys

import pytest

from tests.integration.awx_tasks import connection

MARKER = "localhost"


@pytest.fixture(autouse=True)
def test_python(monkeypatch):
    """Modules run with the Python pytest runs with (the .venv: awxkit, ansible-builder)."""
    monkeypatch.setenv("ANSIBLE_PYTHON_INTERPRETER", sys.executable)


def run(localhost, module, **args):
    """Run ``module`` (FQCN) on localhost; returns that host's result as a plain dict."""
    result = getattr(localhost, module)(**args)
    assert MARKER in result.contacted, result
    return dict(result[MARKER])


def test_fixture_runs_with_the_test_python(localhost):
    facts = run(localhost, "ansible.builtin.setup", gather_subset=["!all", "!min", "python"])
    assert ".venv" in facts["ansible_facts"]["ansible_python"]["executable"], facts


def test_ee_info_on_an_image_without_ansible_fails_naming_what_is_missing(localhost, base_image):
    result = run(localhost, "eeforge.builder.ee_info", image=base_image, pull="never",
                 assert_collections=["containers.podman>=1.0.0"], assert_python=["ansible-runner"])
    assert result.get("failed") is True, result
    msg = result["msg"]
    assert "\n" not in msg, msg
    assert base_image in msg and "containers.podman" in msg and "ansible-runner" in msg, msg
    assert "Traceback" not in str(result)


def test_ee_info_pull_never_of_a_missing_image(localhost):
    result = run(localhost, "eeforge.builder.ee_info", image="localhost/eeforge-no-such-image:1", pull="never")
    assert result.get("failed") is True, result
    assert "\n" not in result["msg"] and "eeforge-no-such-image" in result["msg"], result


@pytest.mark.parametrize("definition, words", [
    ({"version": 1, "images": {"base_image": {"name": "localhost/x:1"}}}, ["version"]),
    ({"version": 3, "images": {"base_image": {"name": "localhost/x:1"}}, "dependencies": {"nope": 1}}, ["nope"]),
])
def test_ee_build_rejects_a_bad_definition_in_one_line(localhost, tmp_path, definition, words):
    result = run(localhost, "eeforge.builder.ee_build", definition=definition, tags=["localhost/eeforge-t3:1"],
                 project_dir=str(tmp_path))
    assert result.get("failed") is True and result.get("changed") is False, result
    assert "\n" not in result["msg"], result
    for word in words:
        assert word in result["msg"], result


def test_awx_registry_credential_create_then_unchanged(localhost, awx_standin):
    args = dict(connection(awx_standin), name="t3-fixture-registry", organization="Default",
                host="registry.example.com", username="bot", password="t3-Planted-Secret-41")
    first = run(localhost, "eeforge.builder.awx_registry_credential", **args)
    assert first["changed"] is True and first["id"], first
    assert "t3-Planted-Secret-41" not in str(first)
    awx_standin.clear_requests()
    again = run(localhost, "eeforge.builder.awx_registry_credential", **args)
    assert again["changed"] is False and again["id"] == first["id"], again
    assert [req.method for req in awx_standin.requests] == ["GET"]
