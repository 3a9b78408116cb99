# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX API client of eeforge.builder: connection settings, transport, retries, errors, lookups.

Everything here talks to AWX through awxkit's ``Connection`` (a ``requests`` session with basic or
bearer auth); nothing else in the collection does HTTP to AWX.

- ``_awx_settings``: the shared options (``CONNECTION_ARGSPEC``) and ``AwxSettings``, where AWX is
  and how to authenticate.
- ``AwxClient``: ``get``/``list``/``list_in``/``create``/``patch``/``delete`` plus name-or-id lookups,
  and ``open_token``/``close_token`` for runs that authenticate once (bulk forms). Transient
  failures (connection reset or refused, timeouts, 502/503/504) are retried a bounded number of times
  with exponential backoff; every other failure raises ``AwxError``.
- ``_awx_messages.describe_http_error()``: the ONE place that turns an HTTP status and body into a
  cause and a fix.
- ``pick()``, ``same_ref()``, ``in_organization()``, ``find_workflow_node()``: name-or-id matching on
  objects already fetched, shared by every module.

``AwxError`` carries ``cause`` ("AWX answered 403: ...") and ``fix`` ("Use an account ..."); the
base module (``_awx_module``) puts them into ``Failed to <verb> <kind> '<name>': <cause>. <fix>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import sys
import time
import traceback

from ansible.module_utils.six import string_types
from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.eeforge.builder.plugins.module_utils._awx_messages import (
    RETRY_STATUSES,
    describe_http_error,
    one_line,
    seconds,
)


def _awxkit_packages_without_init():
    """Register ``awxkit`` and ``awxkit.api`` as packages whose ``__init__`` did not run.

    ``awxkit/__init__.py`` imports all of awxkit (page models, the CLI, websockets, distutils): about
    a second per module run, more than the whole lookup of an unchanged object takes. This client only
    needs ``awxkit.api.client`` and ``awxkit.config``; with the two parent packages registered but not
    executed, importing them loads just those (and ``requests``). Nothing is done when awxkit is
    already imported, and a later ``import awxkit.api.pages`` still works through ``__path__``.
    """
    if "awxkit" in sys.modules:
        return
    import importlib.util  # pylint: disable=import-outside-toplevel

    spec = importlib.util.find_spec("awxkit")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("No module named 'awxkit'")
    package = importlib.util.module_from_spec(spec)
    sys.modules["awxkit"] = package
    api_spec = importlib.util.find_spec("awxkit.api")
    if api_spec is None:
        del sys.modules["awxkit"]
        raise ImportError("No module named 'awxkit.api'")
    package.api = sys.modules["awxkit.api"] = importlib.util.module_from_spec(api_spec)


try:
    import requests
    _awxkit_packages_without_init()
    from awxkit.api.client import Connection
    from awxkit.config import config as awxkit_config
except ImportError:
    HAS_AWXKIT = False
    AWXKIT_IMPORT_ERROR = traceback.format_exc()
    Connection = object
else:
    HAS_AWXKIT = True
    AWXKIT_IMPORT_ERROR = None

# AWX caps page_size at 200, silently (contract fleet/103, 108).
MAX_PAGE_SIZE = 200
# Values per ``__in`` filter: one page each, and a query string well under common URL limits.
IN_CHUNK = 200
IN_CHUNK_CHARS = 3000

# Statuses and exceptions worth another try: the request did not reach AWX's application, or AWX
# (or the proxy in front of it) was briefly unavailable (RETRY_STATUSES: _awx_messages).
IDEMPOTENT_METHODS = ("get", "head", "options", "put", "patch", "delete")
if HAS_AWXKIT:
    NOT_RETRIED_ERRORS = (requests.exceptions.SSLError, requests.exceptions.InvalidURL,
                          requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)


class AwxError(Exception):
    """A failed AWX call. ``cause`` and ``fix`` are one-line texts meant for the user.

    ``status`` is the HTTP status (None when AWX was not reached), ``body`` the parsed JSON body,
    ``method``/``path`` the request.
    """

    def __init__(self, cause, fix, status=None, method=None, path=None, body=None):
        super(AwxError, self).__init__("%s. %s" % (cause, fix))
        self.cause = cause
        self.fix = fix
        self.status = status
        self.method = method
        self.path = path
        self.body = body


class _TimeoutSession(requests.Session if HAS_AWXKIT else object):
    """A requests session with a default timeout (awxkit's Connection passes none).

    Writes do not follow redirects: requests would turn a redirected POST into a GET.
    """

    def __init__(self, timeout):
        super(_TimeoutSession, self).__init__()
        self.default_timeout = timeout

    def request(self, method, url, **kwargs):  # pylint: disable=arguments-differ
        kwargs.setdefault("timeout", self.default_timeout)
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            kwargs.setdefault("allow_redirects", False)
        return super(_TimeoutSession, self).request(method, url, **kwargs)


def make_connection(settings):
    """An awxkit ``Connection`` to ``settings.origin``, authenticated, with the request timeout."""
    # This client does the retrying, with backoff; awxkit's own loop would retry a connection
    # error at once, 5 times (AWXKIT_CLIENT_CONNECTION_ATTEMPTS), multiplying every timeout.
    awxkit_config.client_connection_attempts = 1
    connection = Connection(settings.origin, verify=settings.validate_certs)
    connection.session = _TimeoutSession(settings.request_timeout)
    if settings.auth == "token":
        connection.login(token=settings.token)
    elif settings.auth == "basic":
        # Without 'next', awxkit uses basic auth on every request (no session login round trip).
        connection.login(username=settings.username, password=settings.password)
    return connection


def describe_transport_error(error, method, path, settings, attempts):
    """``(cause, fix)`` when AWX did not answer: TLS, timeouts, refused or reset connections."""
    tries = "%d attempt%s" % (attempts, "s" if attempts > 1 else "")
    reason = one_line(error)
    if isinstance(error, requests.exceptions.SSLError):
        return ("the TLS certificate of %s could not be verified (%s)" % (settings.origin, reason),
                "Install the CA that signed it, or set validate_certs to false for a test server only")
    if isinstance(error, requests.exceptions.Timeout):
        timeout = seconds(settings.request_timeout)
        return ("AWX at %s did not answer %s %s within %ss (%s)" % (settings.origin, method.upper(), path, timeout, tries),
                "Raise request_timeout, or check that AWX is up")
    return ("could not reach AWX at %s (%s; %s)" % (settings.origin, reason, tries),
            "Check controller_host, the network and that AWX is running")


def _sent_nothing(error):
    """True when a transport error happened before the request could reach AWX."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    text = repr(error)
    return "NewConnectionError" in text or "Connection refused" in text or "Name or service not known" in text


# ---------------------------------------------------------------------------------------------

class AwxClient(object):
    """AWX v2 API calls with bounded retries; errors raise ``AwxError``.

    Paths: ``'execution_environments/'`` is relative to the v2 API root; a path starting with ``/``
    (an object's ``url``, a list's ``next``) is used as it is.
    ``attempts`` is the total number of tries for one request (retries only for transient failures,
    and for a POST only when it cannot have reached AWX); the delay between tries doubles from
    ``backoff`` seconds up to ``max_backoff`` (a ``Retry-After`` header within that bound is honoured).
    ``calls`` records ``(method, path, status)`` of every HTTP exchange (status None: no answer).
    """

    def __init__(self, settings, connection=None, attempts=4, backoff=0.5, max_backoff=8.0, sleep=time.sleep):
        self.settings = settings
        self.connection = connection if connection is not None else make_connection(settings)
        self.attempts = max(1, int(attempts))
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.calls = []
        self.token_id = None

    # -- paths -----------------------------------------------------------------------------
    def path(self, endpoint):
        if endpoint.startswith("/"):
            return endpoint
        return self.settings.api_root + endpoint

    def absolute_url(self, path):
        """The full URL of an API path (what modules return as ``url``)."""
        if not path:
            return None
        if re.match(r"^https?://", path):
            return path
        return self.settings.origin + self.path(path)

    # -- transport -------------------------------------------------------------------------
    def _delay(self, attempt, response=None):
        delay = min(self.backoff * (2 ** (attempt - 1)), self.max_backoff)
        if response is not None:
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = min(max(delay, float(retry_after)), self.max_backoff)
        return delay

    def _retriable(self, method, error=None, status=None):
        """Whether a failed try may be repeated (bounded by ``attempts`` elsewhere)."""
        if error is not None:
            if isinstance(error, NOT_RETRIED_ERRORS):
                return False
            # A POST that may have reached AWX is not repeated: it could create a duplicate.
            return method != "post" or _sent_nothing(error)
        return status in RETRY_STATUSES and (method in IDEMPOTENT_METHODS or status != 504)

    def request(self, method, endpoint, json=None, query=None):
        """One API call; returns the parsed JSON body (None when empty). Raises ``AwxError``."""
        method = method.lower()
        path = self.path(endpoint)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.connection.request(path, method=method, json=json, query_parameters=query)
            except requests.exceptions.RequestException as error:
                self.calls.append((method.upper(), path, None))
                if self._retriable(method, error=error) and attempt < self.attempts:
                    self.sleep(self._delay(attempt))
                    continue
                cause, fix = describe_transport_error(error, method, path, self.settings, attempt)
                if method == "post" and not isinstance(error, NOT_RETRIED_ERRORS) and not _sent_nothing(error):
                    cause, fix = cause + "; the request may have been applied", "Run the task again (it is idempotent)"
                raise AwxError(cause, fix, method=method.upper(), path=path)

            status = response.status_code
            self.calls.append((method.upper(), path, status))
            if self._retriable(method, status=status) and attempt < self.attempts:
                self.sleep(self._delay(attempt, response))
                continue
            body = _json_body(response)
            if status == 404 and method == "delete" and attempt > 1:
                # An earlier try of this DELETE reached AWX before its answer was lost.
                return None
            if status >= 300 or (body is not None and not isinstance(body, (dict, list))):
                cause, fix = describe_http_error(status, method, path, body, self.settings, attempt,
                                                 location=response.headers.get("Location"))
                raise AwxError(cause, fix, status=status, method=method.upper(), path=path, body=body)
            return body

    # -- verbs -----------------------------------------------------------------------------
    def get(self, endpoint, **query):
        return self.request("get", endpoint, query=query or None)

    def get_or_none(self, endpoint, **query):
        """GET, or None on 404."""
        try:
            return self.get(endpoint, **query)
        except AwxError as error:
            if error.status == 404:
                return None
            raise

    def list(self, endpoint, **query):
        """Every item of a list endpoint, following ``next`` (a relative URL) page after page."""
        page = self.request("get", endpoint, query=query or None)
        items = list(page.get("results", []))
        seen = set()
        while page.get("next"):
            next_path = page["next"]
            if re.match(r"^https?://", next_path):
                parts = urlsplit(next_path)
                next_path = parts.path + ("?" + parts.query if parts.query else "")
            if next_path in seen:
                break
            seen.add(next_path)
            page = self.request("get", next_path)
            items.extend(page.get("results", []))
        return items

    def list_in(self, endpoint, values, ids=True, **query):
        """Objects of ``endpoint`` named (or, with ``ids``, numbered) by any of ``values``, in as few
        requests as AWX allows: ``name__in`` / ``id__in`` in chunks of up to 200 values (one page each).

        A name with a comma cannot be given to ``__in`` (AWX splits on commas): it is asked with ``?name=``.
        """
        names, numbers, odd = [], [], []
        for value in values:
            if value is None or value == "":
                continue
            if isinstance(value, int) and not isinstance(value, bool):
                numbers.append(str(value))
                continue
            value = str(value)
            (odd if "," in value else names).append(value)
            if ids and value.isdigit():
                numbers.append(value)
        found = {}
        for field, group in (("name__in", sorted(set(names))), ("id__in", sorted(set(numbers)))):
            for chunk in _chunks(group):
                params = dict(query, page_size=MAX_PAGE_SIZE)
                params[field] = ",".join(chunk)
                for obj in self.list(endpoint, **params):
                    found[obj.get("id")] = obj
        for name in sorted(set(odd)):
            for obj in self.list(endpoint, name=name, **query):
                found[obj.get("id")] = obj
        return list(found.values())

    def create(self, endpoint, payload):
        return self.request("post", endpoint, json=payload)

    def patch(self, endpoint, payload):
        return self.request("patch", endpoint, json=payload)

    def delete(self, endpoint):
        return self.request("delete", endpoint)

    # -- authenticate once -------------------------------------------------------------------
    def open_token(self, description):
        """Create an OAuth2 token with the basic-auth credentials and send every later request with it.

        A real AWX hashes the password of every basic-auth request (PBKDF2, 600,000 iterations: about
        0.14 s of the 0.17 s a GET takes; contract README, latency), so a run of many requests
        authenticates once. ``close_token()`` deletes it. Returns the token (keep it out of results).
        """
        body = self.create("tokens/", {"description": description, "application": None, "scope": "write"})
        if not isinstance(body, dict) or not body.get("token") or body.get("id") is None:
            raise AwxError("AWX answered POST %s without a token" % self.path("tokens/"),
                           "Check that controller_host is AWX's API and that OAuth2 tokens are enabled")
        self.token_id = body["id"]
        self.connection.login(token=body["token"])
        return body["token"]

    def close_token(self):
        """Delete the token ``open_token`` made, with basic auth as awx.awx does; go back to basic auth."""
        if self.token_id is None:
            return
        token_id, self.token_id = self.token_id, None
        self.connection.login(username=self.settings.username, password=self.settings.password)
        self.delete("tokens/%s/" % token_id)

    # -- lookups ---------------------------------------------------------------------------
    def find(self, endpoint, name, **filters):
        """Objects of ``endpoint`` whose name is exactly ``name`` (``?name=`` list, full objects)."""
        query = dict(filters)
        query["name"] = name
        return self.list(endpoint, **query)

    def get_by_name_or_id(self, endpoint, value, match=None):
        """The one object named ``value`` (or with id ``value`` when it is a number and no name matches).

        ``match(obj)`` narrows the candidates (e.g. credential kind). Returns None when nothing matches;
        raises ``AwxError`` when several objects match the name.
        """
        if isinstance(value, int) and not isinstance(value, bool):
            obj = self.get_or_none("%s%d/" % (endpoint, value))
            return obj if obj is not None and (match is None or match(obj)) else None
        candidates = [obj for obj in self.find(endpoint, value) if match is None or match(obj)]
        if len(candidates) > 1:
            raise ambiguous(value, candidates)
        if candidates:
            return candidates[0]
        if isinstance(value, string_types) and value.isdigit():
            obj = self.get_or_none("%s%s/" % (endpoint, value))
            if obj is not None and (match is None or match(obj)):
                return obj
        return None

    def resolve(self, endpoint, value, kind, match=None):
        """Like ``get_by_name_or_id``, but a miss raises ``AwxError`` naming ``kind`` and ``value``."""
        obj = self.get_by_name_or_id(endpoint, value, match=match)
        if obj is None:
            raise AwxError("%s '%s' does not exist (or %s cannot see it)" % (kind, value, self.settings.who()),
                           "Check the name or id, or create the %s first" % kind)
        return obj


def _json_body(response):
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _chunks(values):
    chunk, size = [], 0
    for value in values:
        if chunk and (len(chunk) >= IN_CHUNK or size + len(value) + 1 > IN_CHUNK_CHARS):
            yield chunk
            chunk, size = [], 0
        chunk.append(value)
        size += len(value) + 1
    if chunk:
        yield chunk


def ambiguous(value, objects):
    """The ``AwxError`` for a name that several objects have."""
    ids = ", ".join(str(obj.get("id")) for obj in objects)
    return AwxError("%d objects are named '%s' (ids %s)" % (len(objects), value, ids), "Give the id instead of the name")


def pick(objects, value, kind, who, match=None):
    """The one object of ``objects`` (already fetched) that ``value`` designates, as ``resolve`` would
    find it: by exact name first, then by id when ``value`` is a number. Raises ``AwxError``."""
    candidates = [obj for obj in objects if match is None or match(obj)]
    if not (isinstance(value, int) and not isinstance(value, bool)):
        named = [obj for obj in candidates if obj.get("name") == value]
        if len(named) > 1:
            raise ambiguous(value, named)
        if named:
            return named[0]
    for obj in candidates:
        if same_ref(value, obj.get("id"), None) and value is not None:
            return obj
    raise AwxError("%s '%s' does not exist (or %s cannot see it)" % (kind, value, who),
                   "Check the name or id, or create the %s first" % kind)


def in_organization(org):
    """A ``match`` for lookups: objects of organization ``org`` (a dict with ``id``; any when None)."""
    if org is None:
        return None
    return lambda obj: obj.get("organization") == org["id"]


def find_workflow_node(client, workflow, wanted):
    """The node of ``workflow`` (a workflow job template) whose identifier (or id) is ``wanted``."""
    nodes = client.list("workflow_job_templates/%d/workflow_nodes/" % workflow["id"])
    wanted = str(wanted)
    for node in nodes:
        if node.get("identifier") == wanted or (wanted.isdigit() and node.get("id") == int(wanted)):
            return node
    raise AwxError("workflow job template '%s' has no node with identifier '%s' (it has %s)"
                   % (workflow["name"], wanted, ", ".join(repr(n.get("identifier")) for n in nodes) or "none"),
                   "Give the identifier of one of its nodes (the awx.awx workflow_job_template_node "
                   "module's identifier option)")


def same_ref(value, obj_id, obj_name):
    """True when ``value`` (a name, an id, or a numeric string) designates the object ``obj_id``/``obj_name``."""
    if value is None:
        return obj_id is None
    if obj_id is None:
        return False
    if isinstance(value, int) and not isinstance(value, bool):
        return value == obj_id
    if value == obj_name:
        return True
    return isinstance(value, string_types) and value.isdigit() and int(value) == obj_id
