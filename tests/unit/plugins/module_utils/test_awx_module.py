# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AwxModule: connection options from the task or the awx.awx environment variables, check mode, results."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.eeforge.builder.plugins.module_utils._awx_client import AwxError
from ansible_collections.eeforge.builder.plugins.module_utils._awx_module import AwxModule, failure_message

ENV_VARS = ("CONTROLLER_HOST", "TOWER_HOST", "CONTROLLER_USERNAME", "TOWER_USERNAME", "CONTROLLER_PASSWORD",
            "TOWER_PASSWORD", "CONTROLLER_OAUTH_TOKEN", "TOWER_OAUTH_TOKEN", "CONTROLLER_VERIFY_SSL",
            "TOWER_VERIFY_SSL", "CONTROLLER_REQUEST_TIMEOUT")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def module_args():
    """``build()`` patches the module args until the end of the test (exit_json needs them too)."""
    with contextlib.ExitStack() as stack:
        ARGS_STACK.append(stack)
        yield
        ARGS_STACK.pop()


ARGS_STACK = []


class FakeClient(object):
    def __init__(self):
        self.writes = []

    def create(self, endpoint, payload):
        self.writes.append(("POST", endpoint, payload))
        return dict(payload, id=5, url="/api/v2/things/5/")

    def patch(self, url, payload):
        self.writes.append(("PATCH", url, payload))
        if payload.get("fail"):
            raise AwxError("AWX answered 403 (user 'ops' may not PATCH %s)" % url, "Use an account with the admin role")
        return dict(payload, id=5, url=url)

    def delete(self, url):
        self.writes.append(("DELETE", url, None))

    def absolute_url(self, path):
        return "https://awx.example.com" + path


def build(args, spec=None):
    ARGS_STACK[-1].enter_context(patch_module_args(args))
    module = AwxModule(argument_spec=spec or dict(name=dict(type="str")))
    module._client = FakeClient()  # pylint: disable=protected-access
    return module


def run_exit(capsys, func):
    with pytest.raises(SystemExit):
        func()
    return json.loads(capsys.readouterr().out)


def test_connection_from_options():
    module = build({"controller_host": "awx.example.com", "controller_username": "admin",
                    "controller_password": "pw", "validate_certs": False, "request_timeout": 4})
    settings = module.settings
    assert (settings.origin, settings.auth, settings.username, settings.validate_certs, settings.request_timeout) == \
        ("https://awx.example.com", "basic", "admin", False, 4.0)


def test_controller_variables_win_over_tower_aliases(monkeypatch):
    monkeypatch.setenv("CONTROLLER_HOST", "https://controller.example.com")
    monkeypatch.setenv("TOWER_HOST", "https://tower.example.com")
    monkeypatch.setenv("TOWER_USERNAME", "tower-user")
    monkeypatch.setenv("TOWER_PASSWORD", "tower-pw")
    monkeypatch.setenv("CONTROLLER_VERIFY_SSL", "false")
    monkeypatch.setenv("CONTROLLER_REQUEST_TIMEOUT", "2.5")
    settings = build({}).settings
    assert settings.origin == "https://controller.example.com"
    assert (settings.username, settings.password) == ("tower-user", "tower-pw")
    assert settings.validate_certs is False
    assert settings.request_timeout == 2.5


def test_tower_variables_alone_and_token(monkeypatch):
    monkeypatch.setenv("TOWER_HOST", "tower.example.com")
    monkeypatch.setenv("TOWER_OAUTH_TOKEN", "tok")
    monkeypatch.setenv("TOWER_VERIFY_SSL", "no")
    settings = build({}).settings
    assert (settings.origin, settings.auth, settings.token, settings.validate_certs) == \
        ("https://tower.example.com", "token", "tok", False)


def test_options_win_over_environment(monkeypatch):
    monkeypatch.setenv("CONTROLLER_HOST", "https://env.example.com")
    monkeypatch.setenv("CONTROLLER_OAUTH_TOKEN", "env-token")
    settings = build({"tower_host": "https://task.example.com", "controller_oauthtoken": {"token": "task-token"}}).settings
    assert (settings.origin, settings.token) == ("https://task.example.com", "task-token")


def test_invalid_connection_option_fails_cleanly(capsys):
    result = run_exit(capsys, lambda: build({"controller_oauthtoken": ["x"]}))
    assert result["failed"] and result["msg"].startswith("Invalid AWX connection options: controller_oauthtoken")


def test_failure_message_is_one_line():
    assert failure_message("update", "execution environment", "ee-aws",
                           "AWX answered 403 (user 'ops' may not change it).", "Use an account with\nthe admin role.") == \
        ("Failed to update execution environment 'ee-aws': AWX answered 403 (user 'ops' may not change it). "
         "Use an account with the admin role.")


def test_failing_turns_awx_errors_into_task_failures(capsys):
    module = build({"controller_host": "h"})
    obj = {"id": 5, "url": "/api/v2/things/5/"}
    result = run_exit(capsys, lambda: module.update(obj, {"fail": True}, "thing", "t1"))
    assert result["failed"] is True
    assert result["msg"] == ("Failed to update thing 't1': AWX answered 403 (user 'ops' may not PATCH "
                             "/api/v2/things/5/). Use an account with the admin role.")


def test_writes_and_result():
    module = build({"controller_host": "h", "_ansible_diff": True})
    assert module.update({"id": 5, "url": "/api/v2/things/5/"}, {}, "thing", "t") == {"id": 5, "url": "/api/v2/things/5/"}
    assert module.changed is False and module.client.writes == []
    created = module.create("things/", {"name": "t"}, "thing", "t")
    assert module.changed is True
    assert module.client.writes == [("POST", "things/", {"name": "t"})]
    assert created["id"] == 5


def test_check_mode_writes_nothing_and_predicts(capsys):
    module = build({"controller_host": "h", "_ansible_check_mode": True, "_ansible_diff": True})
    obj = {"id": 5, "url": "/api/v2/things/5/", "image": "a"}
    assert module.create("things/", {"name": "t"}, "thing", "t") is None
    assert module.update(obj, {"image": "b"}, "thing", "t")["image"] == "b"
    module.remove(obj, "thing", "t")
    assert module.client.writes == []
    module.set_diff({"image": "a"}, {"image": "b"})
    result = run_exit(capsys, lambda: module.exit_with(obj, extra=1))
    assert result["changed"] is True
    assert result["id"] == 5 and result["url"] == "https://awx.example.com/api/v2/things/5/"
    assert result["diff"] == {"before": {"image": "a"}, "after": {"image": "b"}}
    assert result["extra"] == 1


def test_no_diff_key_without_diff_mode(capsys):
    module = build({"controller_host": "h"})
    module.set_diff({"a": 1}, {"a": 2})
    result = run_exit(capsys, lambda: module.exit_with(None))
    assert "diff" not in result and result["id"] is None and result["url"] is None


class TokenClient(FakeClient):
    """A client that records the temporary token's life (``open_token``/``close_token``)."""

    def __init__(self, close_error=None):
        super(TokenClient, self).__init__()
        self.token_id = None
        self.close_error = close_error
        self.events = []

    def open_token(self, description):
        self.events.append(("open", description))
        self.token_id = 41
        return "tok-secret-41"

    def close_token(self):
        self.events.append(("close", self.token_id))
        self.token_id = None
        if self.close_error:
            raise self.close_error


def build_bulk(args, client):
    module = build(dict({"controller_host": "h", "controller_username": "admin", "controller_password": "pw",
                         "_ansible_module_name": "eeforge.builder.awx_execution_environment"}, **args))
    module._client = client  # pylint: disable=protected-access
    return module


def test_authenticate_once_then_token_deleted_on_exit_and_kept_out_of_results(capsys):
    client = TokenClient()
    module = build_bulk({}, client)
    module.authenticate_once()
    assert client.events == [("open", "eeforge.builder eeforge.builder.awx_execution_environment "
                                      "(temporary, deleted when the task ends)")]
    result = run_exit(capsys, lambda: module.exit_bulk([{"name": "a", "echo": "tok-secret-41"}], []))
    assert client.events[-1] == ("close", 41)
    assert "tok-secret-41" not in json.dumps(result)  # a no_log value from then on
    assert result["results"][0]["name"] == "a" and "diff" not in result


def test_token_deleted_when_the_task_fails_and_a_failed_delete_is_a_warning(capsys, monkeypatch):
    client = TokenClient(close_error=AwxError("AWX answered 503 to DELETE /api/v2/tokens/41/", "Retry later"))
    module = build_bulk({}, client)
    warnings = []
    # Where a warning goes depends on the process (a controller displays it); record it here.
    monkeypatch.setattr(module, "warn", warnings.append)
    module.authenticate_once()
    result = run_exit(capsys, lambda: module.fail_action("create", "execution environment", "a", "bad", "Fix it"))
    assert result["failed"] is True and client.events[-1] == ("close", 41)
    assert warnings == ["Could not delete the temporary OAuth2 token 41: AWX answered 503 to DELETE "
                        "/api/v2/tokens/41/. Delete it in AWX (Users, admin, Tokens)."]


def test_no_token_in_check_mode_or_with_a_given_token():
    client = TokenClient()
    build_bulk({"_ansible_check_mode": True}, client).authenticate_once()
    module = build(dict(controller_host="h", controller_oauthtoken="given"))
    module._client = client  # pylint: disable=protected-access
    module.authenticate_once()
    assert client.events == []
