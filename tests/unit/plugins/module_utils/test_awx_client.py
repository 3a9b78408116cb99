# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AwxClient against a scripted transport (a requests adapter): retries, errors, pagination, lookups."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import subprocess
import sys

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from ansible_collections.eeforge.builder.plugins.module_utils._awx_client import (
    AwxClient,
    AwxError,
    find_workflow_node,
    in_organization,
    make_connection,
    pick,
    same_ref,
)
from ansible_collections.eeforge.builder.plugins.module_utils._awx_messages import describe_http_error, render_body
from ansible_collections.eeforge.builder.plugins.module_utils._awx_settings import AwxSettings

HOST = "https://awx.example.com"
UNAUTHORIZED = {"detail": "Authentication credentials were not provided. To establish a login session, visit /api/login/."}


class ScriptedAdapter(BaseAdapter):
    """Answers requests from a script: each entry is ``(status, body)``, ``(status, body, headers)`` or an exception."""

    def __init__(self, script):
        super(ScriptedAdapter, self).__init__()
        self.script = list(script)
        self.sent = []

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        self.sent.append(dict(method=request.method, url=request.url, headers=dict(request.headers),
                              body=json.loads(request.body) if request.body else None, timeout=kwargs.get("timeout")))
        entry = self.script.pop(0)
        if isinstance(entry, Exception):
            raise entry
        status, body = entry[0], entry[1]
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(entry[2] if len(entry) > 2 else {})
        response._content = b"" if body is None else json.dumps(body).encode("utf-8")  # pylint: disable=protected-access
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


def make_client(script, attempts=4, **settings):
    settings.setdefault("host", HOST)
    settings.setdefault("username", "admin")
    settings.setdefault("password", "s3cret")
    awx = AwxSettings(**settings)
    adapter = ScriptedAdapter(script)
    connection = make_connection(awx)
    connection.session.mount("https://", adapter)
    connection.session.mount("http://", adapter)
    sleeps = []
    client = AwxClient(awx, connection=connection, attempts=attempts, sleep=sleeps.append)
    return client, adapter, sleeps


def page(results, next_url=None):
    return {"count": len(results), "next": next_url, "previous": None, "results": results}


# -- settings ------------------------------------------------------------------------------

@pytest.mark.parametrize("host, origin, api_root", [
    ("awx.example.com", "https://awx.example.com", "/api/v2/"),
    ("http://127.0.0.1:8052/", "http://127.0.0.1:8052", "/api/v2/"),
    ("https://example.com/awx", "https://example.com", "/awx/api/v2/"),
    (None, "https://127.0.0.1", "/api/v2/"),
])
def test_settings_normalize_host_like_awx_awx(host, origin, api_root):
    settings = AwxSettings(host=host)
    assert (settings.origin, settings.api_root) == (origin, api_root)


def test_settings_api_prefix_from_environment():
    settings = AwxSettings.from_params({"controller_host": HOST},
                                       environ={"CONTROLLER_OPTIONAL_API_URLPATTERN_PREFIX": "/api/controller/"})
    assert settings.api_root == "/api/controller/v2/"


@pytest.mark.parametrize("token, expected", [("abc", "abc"), ({"token": "xyz", "id": 4}, "xyz")])
def test_settings_token_string_or_token_module_dict(token, expected):
    settings = AwxSettings.from_params({"controller_oauthtoken": token, "controller_username": "u",
                                        "controller_password": "p"}, environ={})
    assert (settings.auth, settings.token) == ("token", expected)


def test_settings_reject_bad_token_and_timeout():
    with pytest.raises(ValueError, match="without a 'token' key"):
        AwxSettings.from_params({"controller_oauthtoken": {"id": 1}}, environ={})
    with pytest.raises(ValueError, match="request_timeout"):
        AwxSettings(host=HOST, request_timeout=0)


def test_settings_defaults():
    settings = AwxSettings.from_params({}, environ={})
    assert settings.validate_certs is True
    assert settings.request_timeout == 10.0
    assert settings.auth is None


# -- transport -----------------------------------------------------------------------------

def test_basic_auth_timeout_and_verify_are_sent():
    client, adapter, dummy = make_client([(200, {"id": 1})], request_timeout=3.5, validate_certs=False)
    assert client.get("me/") == {"id": 1}
    sent = adapter.sent[0]
    assert sent["url"] == HOST + "/api/v2/me/"
    assert sent["headers"]["Authorization"] == "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert sent["timeout"] == 3.5
    assert client.connection.verify is False


def test_token_is_sent_as_bearer_and_wins_over_basic():
    client, adapter, dummy = make_client([(200, {})], token="tok-123")
    client.get("me/")
    assert adapter.sent[0]["headers"]["Authorization"] == "Bearer tok-123"


def test_503_twice_then_success_is_retried_with_backoff():
    client, adapter, sleeps = make_client([(503, None), (503, None, {"Retry-After": "1"}), (200, {"ok": True})])
    assert client.get("ping/") == {"ok": True}
    assert len(adapter.sent) == 3
    assert sleeps == [0.5, 1.0]
    assert [call[2] for call in client.calls] == [503, 503, 200]


def test_connection_reset_and_timeout_on_get_are_retried():
    reset = requests.exceptions.ConnectionError("('Connection aborted.', ConnectionResetError(104, 'reset'))")
    client, adapter, sleeps = make_client([reset, requests.exceptions.ReadTimeout("read timed out"), (200, [])])
    assert client.get("ping/") == []
    assert len(adapter.sent) == 3 and sleeps == [0.5, 1.0]


def test_retries_are_bounded_and_say_how_many_attempts():
    client, adapter, sleeps = make_client([(502, None)] * 4, attempts=4)
    with pytest.raises(AwxError) as error:
        client.get("ping/")
    assert len(adapter.sent) == 4 and sleeps == [0.5, 1.0, 2.0]
    assert error.value.status == 502
    assert "after 4 attempts" in error.value.cause


def test_timeout_message_names_the_timeout():
    client, adapter, dummy = make_client([requests.exceptions.ReadTimeout("x")] * 2, attempts=2, request_timeout=2.0)
    with pytest.raises(AwxError) as error:
        client.get("ping/")
    assert "did not answer GET /api/v2/ping/ within 2s (2 attempts)" in error.value.cause
    assert "request_timeout" in error.value.fix


def test_post_that_may_have_reached_awx_is_not_repeated():
    reset = requests.exceptions.ConnectionError("('Connection aborted.', ConnectionResetError(104, 'reset'))")
    client, adapter, dummy = make_client([reset, (201, {"id": 9})])
    with pytest.raises(AwxError) as error:
        client.create("execution_environments/", {"name": "x"})
    assert len(adapter.sent) == 1
    assert "may have been applied" in error.value.cause


def test_post_refused_connection_and_503_are_retried():
    refused = requests.exceptions.ConnectionError("HTTPSConnectionPool: Max retries exceeded (Caused by "
                                                  "NewConnectionError('Failed to establish a new connection: "
                                                  "[Errno 111] Connection refused'))")
    client, adapter, dummy = make_client([refused, (503, None), (201, {"id": 9})])
    assert client.create("execution_environments/", {"name": "x"}) == {"id": 9}
    assert len(adapter.sent) == 3


def test_tls_errors_are_not_retried():
    client, adapter, dummy = make_client([requests.exceptions.SSLError("certificate verify failed")])
    with pytest.raises(AwxError) as error:
        client.get("ping/")
    assert len(adapter.sent) == 1
    assert "validate_certs" in error.value.fix


def test_retried_delete_that_already_happened_is_a_success():
    client, adapter, dummy = make_client([requests.exceptions.ReadTimeout("x"), (404, {"detail": "Not found."})])
    assert client.delete("/api/v2/credentials/5/") is None


def test_delete_404_without_earlier_try_is_an_error():
    client, adapter, dummy = make_client([(404, {"detail": "Not found."})])
    with pytest.raises(AwxError) as error:
        client.delete("/api/v2/credentials/5/")
    assert error.value.status == 404


# -- errors --------------------------------------------------------------------------------

def test_400_is_rendered_field_by_field():
    body = {"image": ["The container image name registry.example.com/Contract/EE:1.0 is not valid"],
            "name": ["Execution environment with this Name already exists."],
            "inputs": {"host": ["This field is required."]}}
    client, adapter, dummy = make_client([(400, body)])
    with pytest.raises(AwxError) as error:
        client.create("execution_environments/", {})
    assert error.value.cause == (
        "AWX rejected the request (400): image: The container image name registry.example.com/Contract/EE:1.0 "
        "is not valid; name: Execution environment with this Name already exists; inputs.host: This field is required")
    assert error.value.body == body


def test_render_body_all_and_detail_have_no_label():
    assert render_body({"__all__": ["Credential with this Organization, Name and Credential type already exists."]}) == \
        "Credential with this Organization, Name and Credential type already exists"
    assert render_body({"detail": "Inventory matching query does not exist."}) == "Inventory matching query does not exist"


def test_401_without_credentials_says_none_were_given():
    client, adapter, dummy = make_client([(401, UNAUTHORIZED)], username=None, password=None)
    with pytest.raises(AwxError) as error:
        client.get("me/")
    assert error.value.cause == "AWX answered 401: no credentials were given"
    assert "CONTROLLER_USERNAME" in error.value.fix
    assert "Authorization" not in adapter.sent[0]["headers"]


def test_401_with_wrong_password_says_it_was_rejected():
    client, adapter, dummy = make_client([(401, UNAUTHORIZED)])
    with pytest.raises(AwxError) as error:
        client.get("me/")
    assert error.value.cause == "AWX answered 401: it rejected the password of user 'admin'"
    assert "s3cret" not in str(error.value)


def test_401_with_token():
    client, adapter, dummy = make_client([(401, UNAUTHORIZED)], token="bad")
    with pytest.raises(AwxError) as error:
        client.get("me/")
    assert "rejected the OAuth token" in error.value.cause


def test_403_and_404_have_their_own_messages():
    settings = AwxSettings(host=HOST, username="ops", password="x")
    cause, fix = describe_http_error(403, "patch", "/api/v2/execution_environments/2/", {
        "detail": "Only the 'pull' field can be edited for managed execution environments."}, settings)
    assert cause == ("AWX answered 403 (user 'ops' may not PATCH /api/v2/execution_environments/2/): "
                     "Only the 'pull' field can be edited for managed execution environments")
    assert "admin role" in fix
    cause, fix = describe_http_error(404, "get", "/api/v2/execution_environments/999999/",
                                     {"detail": "No ExecutionEnvironment matches the given query."}, settings)
    assert cause == ("AWX answered 404 for GET /api/v2/execution_environments/999999/: "
                     "No ExecutionEnvironment matches the given query")
    assert "controller_host 'https://awx.example.com'" in fix


# -- lists and lookups ---------------------------------------------------------------------

def test_list_follows_relative_next():
    client, adapter, dummy = make_client([
        (200, page([{"id": 1}, {"id": 2}], "/api/v2/credential_types/?page=2&page_size=2")),
        (200, page([{"id": 3}], None)),
    ])
    assert [obj["id"] for obj in client.list("credential_types/", page_size=2)] == [1, 2, 3]
    assert adapter.sent[0]["url"] == HOST + "/api/v2/credential_types/?page_size=2"
    assert adapter.sent[1]["url"] == HOST + "/api/v2/credential_types/?page=2&page_size=2"


def test_find_uses_exact_name_filter():
    client, adapter, dummy = make_client([(200, page([{"id": 4, "name": "my ee"}]))])
    assert client.find("execution_environments/", "my ee") == [{"id": 4, "name": "my ee"}]
    assert adapter.sent[0]["url"] == HOST + "/api/v2/execution_environments/?name=my+ee"


def test_name_or_id_prefers_the_name_then_the_id():
    client, adapter, dummy = make_client([(200, page([])), (200, {"id": 7, "name": "platform"})])
    assert client.get_by_name_or_id("organizations/", "7")["name"] == "platform"
    assert adapter.sent[1]["url"] == HOST + "/api/v2/organizations/7/"


def test_name_or_id_missing_and_ambiguous():
    client, adapter, dummy = make_client([(200, page([]))])
    with pytest.raises(AwxError) as error:
        client.resolve("organizations/", "nope", "organization")
    assert error.value.cause == "organization 'nope' does not exist (or user 'admin' cannot see it)"
    client, adapter, dummy = make_client([(200, page([{"id": 1}, {"id": 2}]))])
    with pytest.raises(AwxError, match="ids 1, 2"):
        client.get_by_name_or_id("credentials/", "dup")


def test_match_narrows_candidates():
    client, adapter, dummy = make_client([(200, page([{"id": 1, "kind": "ssh"}, {"id": 2, "kind": "registry"}]))])
    assert client.get_by_name_or_id("credentials/", "c", match=lambda obj: obj["kind"] == "registry")["id"] == 2


def test_list_in_asks_names_and_ids_in_chunks_of_at_most_200():
    names = ["ee-%03d" % number for number in range(250)]
    client, adapter, dummy = make_client([(200, page([{"id": 1}])), (200, page([{"id": 2}])),
                                          (200, page([{"id": 2}, {"id": 3}])), (200, page([{"id": 4}]))])
    found = client.list_in("execution_environments/", names + ["12", 13, "with,comma"])
    assert sorted(obj["id"] for obj in found) == [1, 2, 3, 4]  # each object once
    queries = [requests.utils.urlparse(sent["url"]).query for sent in adapter.sent]
    first = dict(part.split("=", 1) for part in queries[0].split("&"))
    assert first["page_size"] == "200" and requests.utils.unquote(first["name__in"]).split(",") == sorted(
        names + ["12"])[:200]
    assert "id__in=12%2C13" in queries[2]
    assert queries[3] == "name=with%2Ccomma"  # AWX splits __in values on commas


def test_list_in_names_only_and_nothing_to_ask():
    client, adapter, dummy = make_client([(200, page([]))])
    assert client.list_in("execution_environments/", ["42"], ids=False) == []
    assert "id__in" not in adapter.sent[0]["url"]
    assert client.list_in("organizations/", [None, ""]) == [] and len(adapter.sent) == 1


def test_open_token_then_bearer_then_close_with_basic_auth():
    client, adapter, dummy = make_client([(201, {"id": 9, "token": "tok-123"}), (200, page([])), (204, None)])
    assert client.open_token("bulk run") == "tok-123"
    assert adapter.sent[0]["body"] == {"description": "bulk run", "application": None, "scope": "write"}
    assert adapter.sent[0]["headers"]["Authorization"].startswith("Basic ")
    client.list("execution_environments/")
    assert adapter.sent[1]["headers"]["Authorization"] == "Bearer tok-123"
    client.close_token()
    assert (adapter.sent[2]["method"], adapter.sent[2]["url"]) == ("DELETE", HOST + "/api/v2/tokens/9/")
    assert adapter.sent[2]["headers"]["Authorization"].startswith("Basic ")
    assert client.token_id is None
    client.close_token()  # nothing left to delete
    assert len(adapter.sent) == 3


def test_open_token_without_a_token_in_the_answer_is_an_error():
    client, adapter, dummy = make_client([(201, {"id": 9})])
    with pytest.raises(AwxError, match="without a token"):
        client.open_token("bulk run")
    assert client.token_id is None


def test_pick_by_name_then_id_and_errors():
    objects = [{"id": 3, "name": "a", "organization": 1}, {"id": 4, "name": "b", "organization": 2},
               {"id": 5, "name": "b", "organization": 1}]
    assert pick(objects, "a", "organization", "user 'x'")["id"] == 3
    assert pick(objects, 4, "organization", "user 'x'")["id"] == 4
    assert pick(objects, "5", "organization", "user 'x'")["id"] == 5
    assert pick(objects, "b", "credential", "user 'x'", match=in_organization({"id": 2}))["id"] == 4
    with pytest.raises(AwxError, match="ids 4, 5"):
        pick(objects, "b", "credential", "user 'x'")
    with pytest.raises(AwxError) as error:
        pick(objects, "c", "organization", "user 'x'")
    assert error.value.cause == "organization 'c' does not exist (or user 'x' cannot see it)"
    assert in_organization(None) is None


def test_find_workflow_node_by_identifier_or_id():
    nodes = page([{"id": 16, "identifier": "build-1"}, {"id": 19, "identifier": "converge"}])
    client, adapter, dummy = make_client([(200, nodes), (200, nodes), (200, nodes)])
    workflow = {"id": 48, "name": "build EEs"}
    assert find_workflow_node(client, workflow, "converge")["id"] == 19
    assert adapter.sent[0]["url"] == HOST + "/api/v2/workflow_job_templates/48/workflow_nodes/"
    assert find_workflow_node(client, workflow, "16")["identifier"] == "build-1"
    with pytest.raises(AwxError) as error:
        find_workflow_node(client, workflow, "nope")
    assert error.value.cause == ("workflow job template 'build EEs' has no node with identifier 'nope' "
                                 "(it has 'build-1', 'converge')")


def test_absolute_url():
    client, adapter, dummy = make_client([], host="https://example.com/awx/")
    assert client.absolute_url("/awx/api/v2/credentials/3/") == "https://example.com/awx/api/v2/credentials/3/"
    assert client.absolute_url("credentials/3/") == "https://example.com/awx/api/v2/credentials/3/"


@pytest.mark.parametrize("value, obj_id, obj_name, expected", [
    (None, None, None, True),
    (None, 2, "org", False),
    ("org", 2, "org", True),
    ("2", 2, "org", True),
    ("3", 2, "org", False),
    ("other", None, None, False),
])
def test_same_ref(value, obj_id, obj_name, expected):
    assert same_ref(value, obj_id, obj_name) is expected


def test_redirected_write_is_not_followed():
    client, adapter, dummy = make_client([(301, None, {"Location": "https://awx.example.com/api/v2/credentials/"})],
                                         host="http://awx.example.com")
    with pytest.raises(AwxError) as error:
        client.create("credentials/", {"name": "x"})
    assert len(adapter.sent) == 1 and error.value.status == 301
    assert error.value.cause == ("AWX answered 301 to POST /api/v2/credentials/, redirecting to "
                                 "https://awx.example.com/api/v2/credentials/")


def test_a_web_page_instead_of_the_api_is_an_error():
    client, adapter, dummy = make_client([(200, None)])
    adapter.script = []

    def send(request, **kwargs):
        response = requests.Response()
        response.status_code = 200
        response._content = b"<html>login</html>"  # pylint: disable=protected-access
        response.request = request
        return response
    adapter.send = send
    with pytest.raises(AwxError) as error:
        client.get("execution_environments/")
    assert "with a 200 that is not JSON (<html>login</html>)" in error.value.cause


def test_awxkit_is_imported_without_its_package_init():
    """A module run imports awxkit's client and config only, not all of awxkit (page models, CLI,
    websockets: about a second per task); a later full import of a submodule still works."""
    code = "\n".join([
        "import sys",
        "from ansible_collections.eeforge.builder.plugins.module_utils import _awx_client as c",
        "assert c.HAS_AWXKIT, c.AWXKIT_IMPORT_ERROR",
        "assert c.Connection.__module__ == 'awxkit.api.client', c.Connection",
        "loaded = sorted(name for name in sys.modules if name.startswith('awxkit'))",
        "assert 'awxkit.api.pages' not in loaded and 'awxkit.awx' not in loaded and 'awxkit.ws' not in loaded, loaded",
        "import awxkit.api.pages",
        "print('ok', awxkit.api.pages.Page.__name__)",
    ])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok Page"
