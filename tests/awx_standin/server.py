# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP front of the stand-in AWX: routing, auth, request log, fault injection."""

from __future__ import annotations

import base64
import collections
import copy
import glob
import json
import os
import shutil
import socket
import struct
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .resources import ASSOCIATIONS, LIST_ALLOW, NESTED, RESOURCES
from .store import VERSION, ApiError, Store, load_data

AUTH_REQUIRED = {"detail": "Authentication credentials were not provided. To establish a login session, visit /api/login/."}
NOT_FOUND = {"detail": "The requested resource could not be found."}
WWW_AUTHENTICATE = 'Bearer realm=api authorization_url=/api/o/authorize/'
PUBLIC = ("/api/", "/api/v2/", "/api/v2/ping/")
INTERNAL_HEADER = "X-Standin-Internal"
OWNER_FILE = ".owner-pid"
Request = collections.namedtuple("Request", "method path status fault body")
Request.__new__.__defaults__ = (None, None)


class Fault:
    """Queued answers for requests whose path starts with ``prefix``: an int status, "timeout" or "reset"."""

    def __init__(self, prefix, actions, method=None, delay=30.0):
        self.prefix = prefix
        self.actions = collections.deque(actions)
        self.method = method.upper() if method else None
        self.delay = delay

    def take(self, method, path):
        if self.actions and path.startswith(self.prefix) and self.method in (None, method):
            return self.actions.popleft()
        return None


class StandIn:
    """The stand-in AWX API server. ``start()`` it (a thread in this process), use ``url``, ``stop()`` it."""

    def __init__(self, host="127.0.0.1", port=0, username="admin", password="password", projects_root=None):
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.tmpdir = None
        if projects_root is None:
            _sweep_dead_tmpdirs()
            self.tmpdir = tempfile.mkdtemp(prefix="awx-standin-")
            with open(os.path.join(self.tmpdir, OWNER_FILE), "w", encoding="ascii") as handle:
                handle.write(str(os.getpid()))
        self.projects_root = projects_root or os.path.join(self.tmpdir, "projects")
        os.makedirs(self.projects_root, exist_ok=True)
        self.store = Store(self.projects_root, password)
        self.requests = []
        self.faults = []
        self.log_lock = threading.Lock()
        self.stopping = threading.Event()
        self.httpd = None
        self.thread = None
        self.token = None
        self.static = {name: load_data(name + ".json") for name in ("ping", "api_v2_root", "config", "ee_options")}
        self.connections = set()

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def start(self):
        handler = type("Handler", (_Handler,), {"standin": self})
        self.httpd = _Server((self.host, self.port), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="awx-standin-%d" % self.port, daemon=True)
        self.thread.start()
        self.token = self._new_token()
        return self

    def stop(self):
        """Stop serving: wake injected timeouts, close open keep-alive connections, join every thread,
        remove the temp dir. Safe to call twice."""
        self.stopping.set()
        if self.httpd is not None:
            if self.thread is not None:
                self.httpd.shutdown()
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.httpd.server_close()
            if self.thread is not None:
                self.thread.join(10)
            self.httpd = None
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _new_token(self):
        admin = self.store.find("users", 1)
        token = self.store.create("tokens", {"description": "awx-standin fixture token", "scope": "write"}, admin)
        return token["token"]

    # ------------------------------------------------------------------ test hooks
    def reset(self):
        """Fresh objects (seed ids), empty request log, no pending faults, empty projects root; new token."""
        with self.store.lock:
            self.store.reset()
            for entry in os.listdir(self.projects_root):
                path = os.path.join(self.projects_root, entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            self.token = self._new_token()
        with self.log_lock:
            del self.requests[:]
            del self.faults[:]

    def log(self, method, path, status, fault=None, body=None):
        with self.log_lock:
            self.requests.append(Request(method, path, status, fault, body))

    def clear_requests(self):
        with self.log_lock:
            del self.requests[:]

    def count(self, method=None, path_prefix=None, status=None):
        """Number of logged API requests matching method, path prefix (query included) and status."""
        with self.log_lock:
            return sum(1 for req in self.requests
                       if (method is None or req.method == method.upper())
                       and (path_prefix is None or req.path.startswith(path_prefix))
                       and (status is None or req.status == status))

    def writes(self, path_prefix=None):
        """Logged POST/PUT/PATCH/DELETE requests (optionally under a path prefix)."""
        with self.log_lock:
            return [req for req in self.requests if req.method in ("POST", "PUT", "PATCH", "DELETE")
                    and (path_prefix is None or req.path.startswith(path_prefix))]

    def inject(self, path_prefix, actions, method=None, delay=30.0):
        """Answer the next requests under path_prefix with actions, in order, then normally.

        An action is an HTTP status (503 → a proxy-style error page), ``"timeout"`` (no answer for
        ``delay`` seconds, then the connection is closed) or ``"reset"`` (TCP reset, no answer).
        """
        with self.log_lock:
            self.faults.append(Fault(path_prefix, actions, method, delay))

    def take_fault(self, method, path):
        with self.log_lock:
            for fault in self.faults:
                action = fault.take(method, path)
                if action is not None:
                    return action, fault.delay
        return None, None

    def request(self, method, path, body=None, token=None, auth=True, headers=None):
        """One unlogged HTTP request as the admin (basic auth); returns (status, parsed body or None)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method.upper())
        req.add_header(INTERNAL_HEADER, "1")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        elif auth:
            creds = base64.b64encode(("%s:%s" % (self.username, self.password)).encode()).decode()
            req.add_header("Authorization", "Basic " + creds)
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # nosec - loopback test server
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def _checked(self, method, path, body=None):
        status, data = self.request(method, path, body)
        if status >= 400:
            raise AssertionError("%s %s -> %d %s" % (method, path, status, data))
        return data

    def get(self, path, **params):
        if params:
            path += ("&" if "?" in path else "?") + urllib.parse.urlencode(params)
        return self._checked("GET", path)

    def post(self, path, body=None):
        return self._checked("POST", path, body if body is not None else {})

    def patch(self, path, body):
        return self._checked("PATCH", path, body)

    def put(self, path, body):
        return self._checked("PUT", path, body)

    def delete(self, path):
        return self._checked("DELETE", path)

    def find(self, resource, **params):
        """The one object of /api/v2/<resource>/ matching params (exact filters), or None."""
        data = self.get("/api/v2/%s/" % resource, **params)
        if data["count"] > 1:
            raise AssertionError("%d %s match %s" % (data["count"], resource, params))
        return data["results"][0] if data["results"] else None

    def add_project_dir(self, name, files=None):
        """Create a directory under the projects root (a manual project's local_path) with files {relpath: text}."""
        path = os.path.join(self.projects_root, name)
        os.makedirs(path, exist_ok=True)
        for rel, text in (files or {}).items():
            target = os.path.join(path, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(text)
        return path


def _sweep_dead_tmpdirs():
    """Remove awx-standin-* temp dirs whose owner process is gone (a test run killed before its teardown)."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), "awx-standin-*")):
        try:
            with open(os.path.join(path, OWNER_FILE), encoding="ascii") as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            # no owner recorded (an older stand-in): gone when nothing in it changed for an hour
            try:
                newest = max(os.stat(os.path.join(top, name)).st_mtime
                             for top, dirs, files in os.walk(path) for name in dirs + files + ["."])
            except (OSError, ValueError):
                continue
            if time.time() - newest > 3600:
                shutil.rmtree(path, ignore_errors=True)
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            continue


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads: nothing outlives stop()
    block_on_close = True
    allow_reuse_address = True


def _parsed(raw):
    """A logged request body: parsed JSON, the text when it is not JSON, None when empty."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _split(path):
    parts = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    return parts.path, query


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    standin = None  # set on the subclass made by StandIn
    server_version = "awx-standin"
    sys_version = ""

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        return

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.standin.connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.standin.connections.discard(self.connection)

    def do_GET(self):  # noqa: N802  pylint: disable=invalid-name
        self._handle("GET")

    def do_HEAD(self):  # noqa: N802  pylint: disable=invalid-name
        self._handle("HEAD")

    def do_POST(self):  # noqa: N802  pylint: disable=invalid-name
        self._handle("POST")

    def do_PUT(self):  # noqa: N802  pylint: disable=invalid-name
        self._handle("PUT")

    def do_PATCH(self):  # noqa: N802  pylint: disable=invalid-name
        self._handle("PATCH")

    def do_DELETE(self):  # noqa: N802  pylint: disable=invalid-name
        self._handle("DELETE")

    def do_OPTIONS(self):  # noqa: N802  pylint: disable=invalid-name
        self._handle("OPTIONS")

    # ------------------------------------------------------------------ plumbing
    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, allow=None, headers=None, content_type="application/json"):
        raw = b""
        if body is not None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", content_type)
        if allow:
            self.send_header("Allow", allow)
        self.send_header("X-API-Product-Name", "AWX")
        self.send_header("X-API-Product-Version", VERSION)
        self.send_header("Vary", "Accept")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(raw)))
        # Headers and body in one write: two small writes meet delayed ACKs (40 ms per keep-alive request).
        self._headers_buffer.append(b"\r\n")
        if raw and self.command != "HEAD":
            self._headers_buffer.append(raw)
        self.flush_headers()

    def _fault(self, action, delay):
        if action == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if action == "timeout":
            self.standin.stopping.wait(delay)
            self.close_connection = True
            return
        status = int(action)
        page = ("<html><head><title>%d</title></head><body><h1>%d</h1>Injected by the AWX stand-in.</body></html>"
                % (status, status)).encode()
        self._send(status, page, content_type="text/html")

    def _user(self):
        header = self.headers.get("Authorization", "")
        store = self.standin.store
        if header.startswith("Basic "):
            try:
                username, sep, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            for user in store.objects["users"].values():
                if sep and password and user["username"] == username and user["_password"] == password:
                    return user
            return None
        if header.startswith("Bearer "):
            value = header[7:].strip()
            for token in store.objects["tokens"].values():
                if token["token"] == value:
                    return store.find("users", token["user"])
        return None

    def _handle(self, method):
        raw_path = self.path
        internal = self.headers.get(INTERNAL_HEADER) == "1"
        body = self._read_body()
        if not internal and not raw_path.startswith("/_standin/"):
            action, delay = self.standin.take_fault(method, raw_path)
            if action is not None:
                kind = action if action in ("timeout", "reset") else "status"
                self.standin.log(method, raw_path, int(action) if kind == "status" else None, kind, _parsed(body))
                self._fault(action, delay)
                return
        status = 500
        try:
            status, payload, allow, headers = self._dispatch(method, raw_path, body)
        except ApiError as err:
            status, payload, allow, headers = err.status, err.body, None, err.headers
        except Exception:  # pylint: disable=broad-except
            traceback.print_exc()
            status, payload, allow, headers = 500, {"detail": "A server error has occurred."}, None, {}
        if not internal and not raw_path.startswith("/_standin/"):
            self.standin.log(method, raw_path, status, body=_parsed(body))
        headers = dict(headers or {})
        content_type = headers.pop("Content-Type", "application/json")
        try:
            self._send(status, payload, allow, headers, content_type=content_type)
        except OSError:
            pass

    def _dispatch(self, method, raw_path, raw_body):
        path, query = _split(raw_path)
        if path.startswith("/_standin/"):
            return self._control(method, path, raw_body)
        if not path.endswith("/"):
            raise ApiError(404, NOT_FOUND)
        router = Router(self.standin, self._user(), method, path, query, None)
        router.accept = self.headers.get("Accept") or "*/*"
        try:
            if router.user is None and path not in PUBLIC:
                raise ApiError(401, AUTH_REQUIRED, {"WWW-Authenticate": WWW_AUTHENTICATE})
            if raw_body:
                try:
                    router.data = json.loads(raw_body)
                except ValueError as err:
                    raise ApiError(400, {"detail": "JSON parse error - %s" % err}) from None
            elif method in ("POST", "PUT", "PATCH"):
                router.data = {}
            return router.route()
        except ApiError as err:
            if router.allow and "Allow" not in err.headers:
                err.headers["Allow"] = router.allow
            raise

    def _control(self, method, path, raw_body):
        """Test hooks for a stand-in run as a separate process (no auth, not logged)."""
        data = json.loads(raw_body) if raw_body else {}
        if path == "/_standin/requests/" and method == "GET":
            return 200, [list(req) for req in self.standin.requests], None, {}  # method, path, status, fault, body
        if path == "/_standin/reset/" and method == "POST":
            self.standin.reset()
            return 200, {"token": self.standin.token}, None, {}
        if path == "/_standin/inject/" and method == "POST":
            self.standin.inject(data["path_prefix"], data["actions"], data.get("method"), data.get("delay", 30.0))
            return 200, {}, None, {}
        if path == "/_standin/token/" and method == "GET":
            return 200, {"token": self.standin.token}, None, {}
        raise ApiError(404, NOT_FOUND)


class Router:
    """Maps one request to the store."""

    def __init__(self, standin, user, method, path, query, data):
        self.standin = standin
        self.store = standin.store
        self.user = user
        self.method = method
        self.path = path
        self.query = query
        self.data = data
        self.parts = [part for part in path.split("/") if part]
        self.accept = "*/*"
        self.allow = self.allow_for()

    def allow_for(self):
        """The Allow header of the view this path maps to (AWX sends it with errors too)."""
        rest = self.parts[2:] if self.parts[:2] == ["api", "v2"] else None
        if not rest:
            return "GET, HEAD, OPTIONS" if self.parts in (["api"], ["api", "v2"]) else None
        res = RESOURCES.get(rest[0])
        if rest[0] in ("ping", "me", "unified_job_templates") and len(rest) == 1:
            return "GET, HEAD, OPTIONS"
        if rest[0] == "config":
            return "GET, POST, DELETE, HEAD, OPTIONS"
        if rest[0] == "bulk":
            return "GET, OPTIONS" if len(rest) == 1 else "GET, POST, OPTIONS"
        if rest[0] == "settings":
            return "GET, PUT, PATCH, DELETE, HEAD, OPTIONS" if len(rest) == 2 else "GET, HEAD, OPTIONS"
        if res is None:
            return None
        if len(rest) == 1:
            return res.allow_list
        if len(rest) == 2:
            return res.allow_detail
        key = (res.name, rest[2])
        if key in NESTED:
            return LIST_ALLOW if NESTED[key][2] else "GET, HEAD, OPTIONS"
        if key in ASSOCIATIONS:
            return LIST_ALLOW
        return {"launch": "GET, POST, HEAD, OPTIONS", "cancel": "GET, POST, HEAD, OPTIONS",
                "survey_spec": "GET, POST, DELETE, HEAD, OPTIONS"}.get(rest[2], "GET, HEAD, OPTIONS")

    def route(self):
        parts = self.parts
        if parts[:1] != ["api"]:
            raise ApiError(404, NOT_FOUND)
        if len(parts) == 1:
            return self._static({"description": "AWX REST API", "current_version": "/api/v2/",
                                 "available_versions": {"v2": "/api/v2/"}, "oauth2": "/api/o/",
                                 "custom_logo": "", "custom_login_info": "", "login_redirect_override": ""})
        if parts[1] != "v2":
            raise ApiError(404, NOT_FOUND)
        rest = parts[2:]
        if not rest:
            return self._static(self.standin.static["api_v2_root"])
        head = rest[0]
        if head == "ping" and len(rest) == 1:
            return self._static(self.standin.static["ping"])
        if head == "me" and len(rest) == 1:
            self._allow("GET", "HEAD", "OPTIONS")
            base = [self.user]
            return 200, self.store.list(RESOURCES["users"], self.query, self.path, self.user, base=base), \
                "GET, HEAD, OPTIONS", {}
        if head == "config" and len(rest) == 1:
            return self._config()
        if head == "settings":
            return self._settings(rest[1:])
        if head == "unified_job_templates" and len(rest) == 1:
            return self._ujt_list()
        if head == "bulk":
            return self._bulk(rest[1:])
        res = RESOURCES.get(head)
        if res is None:
            raise ApiError(404, NOT_FOUND)
        if len(rest) == 1:
            return self._list(res)
        if not rest[1].isdigit():
            raise ApiError(404, NOT_FOUND)
        obj = self.store.get(res.name, int(rest[1]))
        if not self.store.visible(res, obj, self.user):
            raise ApiError(403, {"detail": "You do not have permission to perform this action."})
        if len(rest) == 2:
            return self._detail(res, obj)
        if len(rest) == 3:
            return self._sub(res, obj, rest[2])
        raise ApiError(404, NOT_FOUND)

    def _allow(self, *methods):
        if self.method not in methods:
            raise ApiError(405, {"detail": 'Method "%s" not allowed.' % self.method}, {"Allow": ", ".join(methods)})

    def _static(self, body):
        self._allow("GET", "HEAD", "OPTIONS")
        return 200, copy.deepcopy(body), "GET, HEAD, OPTIONS", {}

    def _config(self):
        self._allow("GET", "HEAD", "OPTIONS")
        body = copy.deepcopy(self.standin.static["config"])
        body["project_base_dir"] = self.store.projects_root
        body["project_local_paths"] = self.store.local_path_choices()
        return 200, body, "GET, POST, DELETE, HEAD, OPTIONS", {}

    def _settings(self, rest):
        allow = "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
        if not rest:
            self._allow("GET", "HEAD", "OPTIONS")
            cats = [("all", "All"), ("jobs", "Jobs"), ("system", "System")]
            results = [{"url": "/api/v2/settings/%s/" % slug, "slug": slug, "name": name} for slug, name in cats]
            return 200, {"count": len(results), "next": None, "previous": None, "results": results}, \
                "GET, HEAD, OPTIONS", {}
        category = rest[0]
        if len(rest) != 1 or category not in ("all", "jobs", "system"):
            raise ApiError(404, NOT_FOUND)
        if not self.user["is_superuser"]:
            raise ApiError(403, {"detail": "You do not have permission to perform this action."})
        self._allow("GET", "HEAD", "OPTIONS", "PATCH", "PUT")
        if self.method in ("PATCH", "PUT"):
            return 200, self.store.patch_settings(category, self.data, self.user), allow, {}
        return 200, self.store.settings_view(category), allow, {}

    def _bulk(self, rest):
        """/api/v2/bulk/ and its host_create and job_launch views (fleet 107, 136-139)."""
        as_json = ("format", "json") in self.query
        if not rest:
            self._allow("GET", "OPTIONS")
            if not as_json and "application/json" not in self.accept:
                # This one view lists the browsable-API renderer first: Accept */* gets HTML (fleet 136).
                page = b"<!DOCTYPE html><html><head><title>Bulk - REST API</title></head><body></body></html>"
                return 200, page, "GET, OPTIONS", {"Content-Type": "text/html; charset=utf-8"}
            suffix = "?format=json" if as_json else ""
            return 200, {name: "/api/v2/bulk/%s/%s" % (name, suffix) for name in ("host_create", "host_delete",
                                                                                  "job_launch")}, \
                "GET, OPTIONS", {}
        allow = "GET, POST, OPTIONS"
        if len(rest) != 1 or rest[0] not in ("host_create", "job_launch"):
            raise ApiError(404, NOT_FOUND)
        self._allow("GET", "POST", "OPTIONS")
        if self.method != "POST":
            return 200, {}, allow, {}
        if rest[0] == "host_create":
            return 201, self.store.bulk_host_create(self.data, self.user), allow, {}
        job = self.store.bulk_job_launch(self.data, self.user)
        return 201, self.store.serialize(RESOURCES["workflow_jobs"], job, "create", self.user), allow, {}

    def _ujt_list(self):
        self._allow("GET", "HEAD", "OPTIONS")
        return 200, self.store.list_unified_job_templates(self.query, self.path, self.user), "GET, HEAD, OPTIONS", {}

    def _options(self, res, allow):
        if res.name == "execution_environments" and len(self.parts) == 3:
            return 200, copy.deepcopy(self.standin.static["ee_options"]), allow, {}
        fields = {}
        for fname, field in res.fields.items():
            if field.read_only or field.write_only:
                continue
            entry = {"type": {"str": "string", "vars": "string", "fk": "id", "json": "json", "list": "list",
                              "int": "integer", "bool": "boolean", "choice": "choice"}[field.kind],
                     "required": field.required, "label": fname.replace("_", " ").capitalize()}
            if field.choices:
                entry["choices"] = [[choice, choice] for choice in field.choices]
            if not field.required and field.kind != "fk":
                entry["default"] = field.default
            fields[fname] = entry
        body = {"name": res.model, "description": "", "renders": ["application/json", "text/html"],
                "parses": ["application/json"], "actions": {"GET": fields, "POST": fields} if "POST" in allow
                else {"GET": fields}, "types": [res.type], "max_page_size": 200}
        return 200, body, allow, {}

    def _list(self, res):
        allow = res.allow_list
        if self.method == "OPTIONS":
            return self._options(res, allow)
        if self.method == "POST" and "POST" in allow:
            obj = self.store.create(res.name, self.data, self.user)
            return 201, self.store.serialize(res, obj, "create", self.user), allow, {}
        self._allow(*[m.strip() for m in allow.split(",")])
        return 200, self.store.list(res, self.query, self.path, self.user), allow, {}

    def _detail(self, res, obj):
        allow = res.allow_detail
        if self.method == "OPTIONS":
            return self._options(res, allow)
        self._allow(*[m.strip() for m in allow.split(",")])
        if self.method in ("PATCH", "PUT"):
            obj = self.store.update(res.name, obj, self.data, self.user, partial=self.method == "PATCH")
        elif self.method == "DELETE":
            self.store.delete(res.name, obj, self.user)
            return 204, None, allow, {}
        return 200, self.store.serialize(res, obj, "detail", self.user), allow, {}

    def _sub(self, res, obj, sub):
        store = self.store
        key = (res.name, sub)
        if key in NESTED:
            child_name, fk, can_post = NESTED[key]
            child = RESOURCES[child_name]
            allow = LIST_ALLOW if can_post else "GET, HEAD, OPTIONS"
            if self.method == "POST" and can_post:
                extra = {fk: obj["id"]}
                data = dict(self.data) if isinstance(self.data, dict) else self.data
                if isinstance(data, dict):
                    data[fk] = obj["id"]
                created = store.create(child_name, data, self.user, extra=extra)
                return 201, store.serialize(child, created, "create", self.user), allow, {}
            self._allow(*[m.strip() for m in allow.split(",")])
            base = [child_obj for child_obj in store.objects[child_name].values() if child_obj.get(fk) == obj["id"]]
            return 200, store.list(child, self.query, self.path, self.user, base=base, view="nested"), allow, {}
        if key in ASSOCIATIONS:
            target = RESOURCES[ASSOCIATIONS[key]]
            if self.method == "POST" and res.name == "workflow_job_template_nodes" and isinstance(self.data, dict) \
                    and "id" not in self.data:
                # Node fields without an id: a new node in the parent's workflow, attached (fleet 132).
                data = dict(self.data, workflow_job_template=obj["workflow_job_template"])
                created = store.create("workflow_job_template_nodes", data, self.user)
                obj["_m2m"].setdefault(sub, []).append(created["id"])
                return 201, store.serialize(target, created, "create", self.user), LIST_ALLOW, {}
            if self.method == "POST":
                store.associate(res.name, obj, sub, self.data, self.user)
                return 204, None, LIST_ALLOW, {}
            self._allow("GET", "HEAD", "OPTIONS", "POST")
            base = [store.find(target.name, tid) for tid in obj["_m2m"].get(sub, []) if store.find(target.name, tid)]
            return 200, store.list(target, self.query, self.path, self.user, base=base, view="nested"), LIST_ALLOW, {}
        handler = getattr(self, "_sub_%s_%s" % (res.name, sub), None)
        if handler is None:
            raise ApiError(404, NOT_FOUND)
        return handler(obj)

    # special sub-endpoints
    def _sub_execution_environments_unified_job_templates(self, obj):
        self._allow("GET", "HEAD", "OPTIONS")
        # Templates whose own execution_environment is the EE: job templates and inventory sources, by name
        # (fleet 116); not workflow nodes, not project or organization defaults.
        store = self.store
        with store.lock:
            found = sorted((tpl for name in ("job_templates", "inventory_sources")
                            for tpl in store.objects[name].values() if tpl["execution_environment"] == obj["id"]),
                           key=lambda tpl: (tpl["name"], tpl["id"]))
            page = store.paginate(found, self.query, self.path, lambda tpl: store.serialize(
                store.resource_of("unified_job_templates", tpl), tpl, "nested", self.user))
        return 200, page, "GET, HEAD, OPTIONS", {}

    def _sub_projects_playbooks(self, obj):
        self._allow("GET", "HEAD", "OPTIONS")
        return 200, self.store.playbooks(obj), "GET, HEAD, OPTIONS", {}

    def _sub_job_templates_launch(self, obj):
        allow = "GET, POST, HEAD, OPTIONS"
        self._allow("GET", "HEAD", "OPTIONS", "POST")
        if self.method == "POST":
            if not self.user["is_superuser"]:
                raise ApiError(403, {"detail": "You do not have permission to perform this action."})
            job, ignored = self.store.launch(obj, self.data, self.user)
            body = {"job": job["id"], "ignored_fields": ignored}
            body.update(self.store.serialize(RESOURCES["jobs"], job, "create", self.user))
            return 201, body, allow, {}
        return 200, self.store.launch_info(obj), allow, {}

    def _sub_job_templates_survey_spec(self, obj):
        allow = "GET, POST, DELETE, HEAD, OPTIONS"
        self._allow("GET", "HEAD", "OPTIONS", "POST", "DELETE")
        specs = self.store.survey_specs
        if self.method == "POST":
            if not isinstance(self.data, dict) or not isinstance(self.data.get("spec"), list):
                raise ApiError(400, {"error": "'spec' doesn't exist in the survey specification."})
            specs[obj["id"]] = copy.deepcopy(self.data)
            return 200, None, allow, {}
        if self.method == "DELETE":
            specs.pop(obj["id"], None)
            return 200, None, allow, {}
        return 200, copy.deepcopy(specs.get(obj["id"], {})), allow, {}

    def _sub_jobs_cancel(self, obj):
        allow = "GET, POST, HEAD, OPTIONS"
        self._allow("GET", "HEAD", "OPTIONS", "POST")
        if self.method == "POST":
            self.store.cancel(obj)
            return 202, None, allow, {}
        return 200, {"can_cancel": obj["status"] in ("new", "pending", "waiting", "running")}, allow, {}

    def _sub_ad_hoc_commands_cancel(self, obj):
        return self._sub_jobs_cancel(obj)
