# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""In-memory AWX 24.6.1 object store: generic CRUD driven by ``resources.RESOURCES`` plus the few
behaviours the recorded contract shows (``$encrypted$`` inputs, EE rules, launch, settings)."""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
import secrets
import threading
import urllib.parse
import uuid

import yaml

from .resources import (
    ASK_FIELDS,
    RO_TARGETS,
    ASSOCIATIONS,
    RESOURCES,
    SUMMARY,
    UNIFIED_JOB_TEMPLATES,
)

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
ENCRYPTED = "$encrypted$"
VERSION = "24.6.1"
ADMIN_UUID = "e265f63a-54ec-4df1-ae00-43c0bbec3a2b"
INSTALL_UUID = "9dea7991-4708-4d51-9313-1020fa3bc264"
# settings.GLOBAL_JOB_EXECUTION_ENVIRONMENTS of a default AWX install.
GLOBAL_JOB_EXECUTION_ENVIRONMENTS = ({"name": "AWX EE (latest)", "image": "quay.io/ansible/awx-ee:latest"},)
NOT_PERMITTED = {"detail": "You do not have permission to perform this action."}
SERVER_ERROR = {"detail": "A server error has occurred."}
MANAGED_EE_ERROR = "Only the 'pull' field can be edited for managed execution environments."
PROMPT_ERROR = "Field is not configured to prompt on launch."
# On delete of the key's target, these references are deleted with it; every other reference is set to null.
CASCADE = {
    ("hosts", "inventory"), ("inventory_sources", "inventory"), ("credentials", "organization"),
    ("execution_environments", "organization"), ("inventories", "organization"), ("tokens", "user"),
    ("workflow_job_template_nodes", "workflow_job_template"), ("credentials", "user"), ("projects", "organization"),
}
# Docker distribution reference grammar (what AWX's validator accepts): optional registry host[:port],
# lower-case path components, optional :tag, optional @digest.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
IMAGE_RE = re.compile(
    r"^(?:%s(?::[0-9]+)?/)?%s(?:/%s)*(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
    % (_DOMAIN, _COMPONENT, _COMPONENT)
)
PLAYBOOK_RE = re.compile(r"^\s*-?\s*(?:hosts|import_playbook|include)\s*:", re.MULTILINE)
LOOKUPS = ("exact", "iexact", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith",
           "regex", "iregex", "gt", "gte", "lt", "lte", "isnull", "in")


class ApiError(Exception):
    """An HTTP answer other than success: status and JSON body."""

    def __init__(self, status, body, headers=None):
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def load_data(name):
    with open(os.path.join(DATA_DIR, name), encoding="utf-8") as handle:
        return json.load(handle)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _not_found(res):
    return ApiError(404, {"detail": "No %s matches the given query." % res.model})


def parse_vars(text):
    """Validate AWX ``variables``/``extra_vars``: empty, or a JSON or YAML dict (error text as AWX's)."""
    if text in ("", None):
        return {}
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text)
    except ValueError as json_err:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as yaml_err:
            raise ValueError("Cannot parse as JSON (error: %s) or YAML (error: %s)." % (json_err, yaml_err)) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("Input type `%s` is not a dictionary" % type(value).__name__)
    return value


def _as_bool(value):
    return str(value).lower() in ("true", "1", "yes")


class Store:
    """All objects, id sequences and settings; every public method takes the lock."""

    def __init__(self, projects_root, admin_password):
        self.projects_root = projects_root
        self.admin_password = admin_password
        self.lock = threading.RLock()
        self.credential_types_seed = load_data("credential_types.json")
        self.roles_seed = load_data("object_roles.json")
        self.settings_seed = load_data("settings.json")
        self.reset()

    # ------------------------------------------------------------------ seed
    def reset(self):
        """Back to a fresh 24.6.1 install (ids as the recording's server had them)."""
        with self.lock:
            self.objects = {name: {} for name in RESOURCES}
            self.seq = {}
            self.role_seq = 1
            self.settings = copy.deepcopy(self.settings_seed)
            self.settings["jobs"]["AWX_ISOLATION_BASE_PATH"] = os.path.dirname(self.projects_root.rstrip("/"))
            self.survey_specs = {}
            self._raw_insert("users", {"username": "admin", "email": "admin@example.com", "is_superuser": True,
                                       "_password": self.admin_password, "_uuid": ADMIN_UUID,
                                       "created": "2026-11-23T00:04:50.697863Z"})
            system = 1  # objects made at install time are created by admin
            for ctype in self.credential_types_seed:
                self._raw_insert("credential_types", {
                    "id": ctype["id"], "name": ctype["name"], "kind": ctype["kind"], "namespace": ctype["namespace"],
                    "managed": True, "inputs": ctype["inputs"], "injectors": {}, "created": ctype["created"],
                    "modified": ctype["created"]})
            self._raw_insert("organizations", {"name": "Default", "description": "The default organization for Ansible Automation Platform"}, system)
            self._raw_insert("credentials", {"name": "Demo Credential", "credential_type": 1,
                                             "inputs": {"username": "admin"}, "user": 1}, system)
            self._raw_insert("credentials", {"name": "Ansible Galaxy", "credential_type": 19, "managed": True,
                                             "organization": None, "inputs": {"url": "https://galaxy.ansible.com/"}}, system)
            self.objects["organizations"][1]["_m2m"]["galaxy_credentials"] = [2]
            self._raw_insert("execution_environments", {"name": "AWX EE (latest)", "image": "quay.io/ansible/awx-ee:latest"}, system)
            self._raw_insert("execution_environments", {"name": "Control Plane Execution Environment", "managed": True,
                                                        "image": "quay.io/ansible/awx-ee:latest"}, system)
            self._raw_insert("inventories", {"name": "Demo Inventory", "organization": 1}, system)
            self._raw_insert("hosts", {"name": "localhost", "inventory": 1, "variables":
                                       "ansible_connection: local\nansible_python_interpreter: '{{ ansible_playbook_python }}'"}, system)
            self.seq["unified_job_templates"] = 5  # the system job templates (cleanup jobs) come first
            self._raw_insert("projects", {"name": "Demo Project", "organization": 1, "scm_type": "git",
                                          "scm_url": "https://github.com/ansible/ansible-tower-samples",
                                          "scm_update_on_launch": True, "local_path": "_6__demo_project"}, system)
            self._raw_insert("job_templates", {"name": "Demo Job Template", "inventory": 1, "project": 6,
                                               "organization": 1, "playbook": "hello_world.yml"}, system)
            self._raw_insert("instance_groups", {"name": "controlplane", "policy_instance_percentage": 100})
            self._raw_insert("instance_groups", {"name": "default", "policy_instance_percentage": 100})
            self.seq["users"] = 1
            self.role_seq = 40  # a fresh install has created 39 roles by now

    def _next_id(self, res):
        value = self.seq.get(res.seq, 0) + 1
        self.seq[res.seq] = value
        return value

    def _raw_insert(self, name, values, user_id=None):
        res = RESOURCES[name]
        obj = {}
        for fname, field in res.fields.items():
            obj[fname] = copy.deepcopy(field.default)
        obj.update({key: value for key, value in values.items() if not key.startswith("_")})
        if "id" not in values:
            obj["id"] = self._next_id(res)
        else:
            self.seq[res.seq] = max(self.seq.get(res.seq, 0), obj["id"])
        stamp = values.get("created") or now_iso()
        obj["created"] = stamp
        obj["modified"] = None if name == "users" else values.get("modified", stamp)
        obj["_created_by"] = user_id if res.audit else None
        obj["_modified_by"] = user_id if res.audit else None
        obj["_uuid"] = values.get("_uuid") or str(uuid.uuid4())
        obj["_m2m"] = {}
        obj["_password"] = values.get("_password")
        obj["_roles"] = {}
        if res.roles:
            for role in self.roles_seed[res.roles]:
                obj["_roles"][role["key"]] = self.role_seq
                self.role_seq += 1
        self.objects[name][obj["id"]] = obj
        return obj

    # ------------------------------------------------------------------ lookup
    def find(self, name, obj_id):
        """The object of resource ``name`` with this id, or None (``unified_job_templates`` spans its types)."""
        if obj_id is None:
            return None
        if name == "unified_job_templates":
            for sub in UNIFIED_JOB_TEMPLATES:
                if obj_id in self.objects[sub]:
                    return self.objects[sub][obj_id]
            return None
        return self.objects.get(name, {}).get(obj_id)

    def resource_of(self, name, obj):
        if name == "unified_job_templates":
            for sub in UNIFIED_JOB_TEMPLATES:
                if self.objects[sub].get(obj["id"]) is obj:
                    return RESOURCES[sub]
        return RESOURCES[name]

    def get(self, name, obj_id):
        with self.lock:
            obj = self.find(name, obj_id)
            if obj is None:
                raise _not_found(RESOURCES[name])
            return obj

    def path_value(self, res, obj, path):
        """Value of a filter path such as ``organization__name`` on obj (None when a link is unset)."""
        head, rest = path[0], path[1:]
        if head in ("id", "created", "modified"):
            value = obj.get(head)
        elif head in res.fields:
            value = obj.get(head)
            if res.name == "credentials" and head == "inputs":
                value = None
        elif res.name == "credentials" and head == "kind":
            value = self.find("credential_types", obj["credential_type"])["kind"]
        else:
            raise ApiError(400, {"detail": "Invalid field name: %s" % "__".join(path)})
        if not rest:
            return value
        field = res.fields.get(head)
        if field is None or field.kind != "fk" and not (field.kind == "ro" and head in RO_TARGETS):
            raise ApiError(400, {"detail": "Invalid field name: %s" % "__".join(path)})
        target_name = self.target_of(field, head)
        target = self.find(target_name, value)
        if target is None:
            return None
        return self.path_value(self.resource_of(target_name, target), target, rest)

    # ------------------------------------------------------------------ list
    def _match(self, res, obj, key, raw):
        parts = key.split("__")
        lookup = "exact"
        if len(parts) > 1 and parts[-1] in LOOKUPS:
            lookup = parts.pop()
        value = self.path_value(res, obj, parts)
        if lookup == "isnull":
            return (value is None) == _as_bool(raw)
        if lookup == "in":
            return any(self._equal(value, item) for item in raw.split(","))
        if lookup == "exact":
            return self._equal(value, raw)
        if value is None:
            return False
        text = value if isinstance(value, str) else json.dumps(value)
        if lookup == "iexact":
            return text.lower() == raw.lower()
        if lookup in ("contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"):
            if lookup.startswith("i"):
                text, raw = text.lower(), raw.lower()
            op = lookup.lstrip("i") if lookup != "icontains" else "contains"
            op = {"contains": "__contains__", "startswith": "startswith", "endswith": "endswith"}[op]
            return getattr(text, op)(raw)
        if lookup in ("regex", "iregex"):
            return re.search(raw, text, re.I if lookup == "iregex" else 0) is not None
        try:
            left, right = (float(value), float(raw)) if isinstance(value, (int, float)) else (text, raw)
        except ValueError:
            raise ApiError(400, {"detail": "Invalid value for %s" % key}) from None
        return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[lookup]

    @staticmethod
    def _equal(value, raw):
        if value is None:
            return raw.lower() in ("none", "null")
        if isinstance(value, bool):
            return value == _as_bool(raw)
        if isinstance(value, (int, float)):
            try:
                return float(raw) == value
            except ValueError:
                return False
        return str(value) == raw

    def filter_objects(self, res, objs, query):
        """Apply AWX list filters: ``field=value``, lookups, ``not__``/``or__``, ``search``, ``order_by``."""
        ands, ors = [], []
        order = None
        for key, raw in query:
            if key in ("page", "page_size", "format", "role_level", "chain"):
                continue
            if key == "order_by":
                order = raw
                continue
            if key == "search":
                terms = raw.lower()
                ands.append((False, lambda o, t=terms: any(t in str(o.get(f) or "").lower() for f in res.search)))
                continue
            target = ands
            if key.startswith("or__"):
                key, target = key[4:], ors
            negate = False
            if key.startswith("chain__"):
                key = key[7:]
            if key.startswith("not__"):
                key, negate = key[5:], True
            target.append((negate, lambda o, k=key, r=raw: self._match(res, o, k, r)))

        def keep(obj):
            if not all(test(obj) != negate for negate, test in ands):
                return False
            return not ors or any(test(obj) != negate for negate, test in ors)

        found = [obj for obj in objs if keep(obj)]
        keys = order.split(",") if order else list(res.ordering)
        for key in reversed(keys):
            desc = key.startswith("-")
            name = key.lstrip("-")
            found.sort(key=lambda o, n=name: (o.get(n) is None, o.get(n) if o.get(n) is not None else 0), reverse=desc)
        return found

    def list(self, res, query, path, user, base=None, view="list"):
        with self.lock:
            objs = list(self.objects[res.name].values()) if base is None else base
            objs = [obj for obj in objs if self.visible(res, obj, user)]
            found = self.filter_objects(res, objs, query)
            return self.paginate(found, query, path,
                                 lambda obj: self.serialize(self.resource_of(res.name, obj), obj, view, user))

    def list_unified_job_templates(self, query, path, user):
        """/api/v2/unified_job_templates/: every kind of template, filtered with each one's own fields."""
        with self.lock:
            found = []
            for name in UNIFIED_JOB_TEMPLATES:
                res = RESOURCES[name]
                try:
                    found += self.filter_objects(res, [obj for obj in self.objects[name].values()
                                                       if self.visible(res, obj, user)],
                                                 [(k, v) for k, v in query if k != "order_by"])
                except ApiError:
                    continue  # a filter on a field this kind of template does not have
            found.sort(key=lambda obj: (obj["name"], obj["id"]))
            return self.paginate(found, query, path, lambda obj: self.serialize(
                self.resource_of("unified_job_templates", obj), obj, "list", user))

    @staticmethod
    def paginate(found, query, path, serialize):
        """One page of found, with AWX's relative next/previous links (sorted query, page_size kept)."""
        params = dict(query)
        try:
            page = int(params.get("page", 1))
        except ValueError:
            raise ApiError(404, {"detail": "Invalid page."}) from None
        try:
            page_size = min(int(params.get("page_size", 25)), 200)
        except ValueError:
            # Pagination.cap_page_size calls int() on it: a server error whenever there is a next page.
            if len(found) > 25:
                raise ApiError(500, b"<h1>Server Error (500)</h1>", {"Content-Type": "text/html; charset=utf-8"}) \
                    from None
            page_size = 25
        if page_size < 1:
            page_size = 25
        pages = max(1, (len(found) + page_size - 1) // page_size)
        if page < 1 or page > pages:
            raise ApiError(404, {"detail": "Invalid page."})
        chunk = found[(page - 1) * page_size:page * page_size]

        def link(number):
            # A page_size over the cap is written into the links as the cap (fleet 108); 0 stays 0 (154).
            items = [(k, str(page_size) if k == "page_size" and str(v).isdigit() and int(v) > 200 else v)
                     for k, v in query if k != "page"] + [("page", str(number))]
            return path + "?" + urllib.parse.urlencode(sorted(items))

        return {
            "count": len(found),
            "next": link(page + 1) if page < pages else None,
            "previous": link(page - 1) if page > 1 else None,
            "results": [serialize(obj) for obj in chunk],
        }

    def visible(self, res, obj, user):
        if user is None or user["is_superuser"]:
            return True
        if res.name == "users":
            return obj["id"] == user["id"]
        if res.name == "execution_environments":
            return obj["organization"] is None
        return res.name in ("credential_types", "instance_groups")

    # ------------------------------------------------------------------ serialize
    def url(self, res, obj):
        return "/api/v2/%s/%d/" % (res.name, obj["id"])

    def named_url(self, res, obj):
        def repl(match):
            value = self.path_value(res, obj, match.group(1).split("__"))
            return "" if value is None else str(value)
        return "/api/v2/%s/%s/" % (res.name, re.sub(r"\{([a-z_]+)\}", repl, res.named_url))

    @staticmethod
    def target_of(field, fname):
        return field.target if field.kind == "fk" else RO_TARGETS[fname]

    def _fk_url(self, res, obj, fname):
        target_name = self.target_of(res.fields[fname], fname)
        target = self.find(target_name, obj[fname])
        if target is None:
            return None
        return self.url(self.resource_of(target_name, target), target)

    def summary_of(self, kind, target, target_res):
        if kind in ("user", "created_by", "modified_by", "launched_by"):
            return {key: target[key] for key in SUMMARY["user"]}
        proj = SUMMARY.get(kind) or SUMMARY.get({"default_environment": "execution_environment",
                                                 "webhook_credential": "credential"}.get(kind, ""), ())
        extra = self.computed(target_res, target)
        out = {}
        for key in proj:
            value = extra.get(key, target.get(key))
            if key == "unified_job_type":
                value = {"job_templates": "job", "projects": "project_update", "workflow_job_templates": "workflow_job",
                         "inventory_sources": "inventory_update"}[target_res.name]
            elif key == "organization_id":
                value = target.get("organization")
            elif key == "credential_type_id":
                value = target.get("credential_type")
            if value is not None:
                out[key] = value
        return out

    def computed(self, res, obj):
        """Read-only values derived from other objects."""
        if res.name == "credentials":
            kind = self.find("credential_types", obj["credential_type"])["kind"]
            return {"kind": kind, "cloud": kind == "cloud", "kubernetes": kind == "kubernetes"}
        return {}

    def serialize(self, res, obj, view="detail", user=None):
        """AWX's JSON for obj. view: list | create | detail | nested (a list under /<res>/<pk>/): AWX shows
        named_url in create and detail views and some summaries only when the URL has a pk."""
        out = {"id": obj["id"], "type": res.type, "url": self.url(res, obj)}
        related = {}
        if res.named_url and view in ("create", "detail"):
            related["named_url"] = self.named_url(res, obj)
        if res.audit:
            for key in ("created_by", "modified_by"):
                if obj["_" + key]:
                    related[key] = "/api/v2/users/%d/" % obj["_" + key]
        for sub in res.subs:
            if isinstance(sub, tuple):
                key, value = sub
                related[key] = value if value == "" else "/api/v2/%s/%d/%s/" % (res.name, obj["id"], value)
            else:
                related[sub] = "/api/v2/%s/%d/%s/" % (res.name, obj["id"], sub)
        for fname in res.related_fks:
            if obj.get(fname) is not None:
                link = self._fk_url(res, obj, fname)
                if link:
                    related[fname] = link
        out["related"] = related
        summary = {}
        for fname in res.summary_fks:
            target_name = self.target_of(res.fields[fname], fname)
            target = self.find(target_name, obj.get(fname))
            if target is not None:
                summary[fname] = self.summary_of(fname, target, self.resource_of(target_name, target))
        if res.name in ("organizations", "users"):
            summary["resource"] = {"ansible_id": obj["_uuid"], "resource_type": "shared." + res.type}
        if res.audit:
            for key in ("created_by", "modified_by"):
                user_obj = self.find("users", obj["_" + key])
                if user_obj:
                    summary[key] = self.summary_of("user", user_obj, RESOURCES["users"])
        if res.roles:
            roles = {}
            for role in self.roles_seed[res.roles]:
                entry = {key: role[key] for key in ("description", "name")}
                entry["id"] = obj["_roles"][role["key"]]
                if role.get("user_only"):
                    entry["user_only"] = True
                roles[role["key"]] = entry
            summary["object_roles"] = roles
        if res.capabilities:
            summary["user_capabilities"] = dict(res.capabilities)
        hook = getattr(self, "_out_" + res.name, None)
        out["summary_fields"] = summary
        out["created"] = obj["created"]
        out["modified"] = obj["modified"]
        computed = self.computed(res, obj)
        for fname, field in res.fields.items():
            if field.write_only:
                if fname == "password":
                    out[fname] = ENCRYPTED
                continue
            out[fname] = copy.deepcopy(obj.get(fname))
        out.update(computed)
        if hook:
            hook(obj, out, view, user)
        return out

    # per-resource output details
    def _out_users(self, obj, out, view, user):
        out["summary_fields"]["user_capabilities"] = {"edit": True, "delete": user is None or user["id"] != obj["id"]}
        for key in ("created_by", "modified_by"):
            out["related"].pop(key, None)

    def _out_organizations(self, obj, out, view, user):
        counts = {
            "inventories": self._count("inventories", "organization", obj["id"]),
            "teams": 0, "users": 0,
            "job_templates": self._count("job_templates", "organization", obj["id"]),
            "admins": 0,
            "projects": self._count("projects", "organization", obj["id"]),
        }
        if view == "detail":
            inventories = [inv["id"] for inv in self.objects["inventories"].values() if inv["organization"] == obj["id"]]
            counts["hosts"] = sum(1 for host in self.objects["hosts"].values() if host["inventory"] in inventories)
        out["summary_fields"]["related_field_counts"] = counts

    def _count(self, name, fname, value):
        return sum(1 for obj in self.objects[name].values() if obj.get(fname) == value)

    def _out_credential_types(self, obj, out, view, user):
        out["related"].pop("named_url", None)

    def _out_credentials(self, obj, out, view, user):
        ctype = self.find("credential_types", obj["credential_type"])
        secret = {field["id"] for field in ctype["inputs"].get("fields", []) if field.get("secret")}
        out["inputs"] = {key: (ENCRYPTED if key in secret and value not in ("", None) else value)
                         for key, value in sorted(obj["inputs"].items())}
        out.pop("user", None)
        owners = []
        if obj["organization"] is not None:
            org = self.find("organizations", obj["organization"])
            owners.append({"id": org["id"], "type": "organization", "name": org["name"],
                           "description": org["description"], "url": "/api/v2/organizations/%d/" % org["id"]})
        elif obj.get("user"):
            owner = self.find("users", obj["user"])
            if owner:
                owners.append({"id": owner["id"], "type": "user", "name": owner["username"], "description": " ",
                               "url": "/api/v2/users/%d/" % owner["id"]})
        out["summary_fields"]["owners"] = owners
        if view in ("create", "detail"):
            out["related"]["named_url"] = "/api/v2/credentials/%s++%s+%s++%s/" % (
                obj["name"], ctype["name"], ctype["kind"],
                self.find("organizations", obj["organization"])["name"] if obj["organization"] else "")

    def _out_tokens(self, obj, out, view, user):
        if view != "create":
            out["token"] = "************"
        owner = self.find("users", obj["user"])
        out["summary_fields"] = {"user": self.summary_of("user", owner, RESOURCES["users"])}
        out["related"]["user"] = "/api/v2/users/%d/" % obj["user"]

    def _resolved_ee(self, res, obj):
        """ExecutionEnvironmentMixin.resolve_execution_environment for a template (detail views)."""
        if res.name == "workflow_job_templates":
            return None
        if obj.get("execution_environment"):
            return self.find("execution_environments", obj["execution_environment"])
        project = self.find("projects", obj.get("project")) if res.name != "projects" else None
        if project and project["default_environment"]:
            return self.find("execution_environments", project["default_environment"])
        org = self.find("organizations", obj.get("organization"))
        if org and org["default_environment"]:
            return self.find("execution_environments", org["default_environment"])
        inventory = self.find("inventories", obj.get("inventory"))
        if inventory:
            inv_org = self.find("organizations", inventory["organization"])
            if inv_org and inv_org["default_environment"]:
                return self.find("execution_environments", inv_org["default_environment"])
        return self.default_ee()

    def default_ee(self):
        """get_default_execution_environment(): the setting, else newest global unmanaged EE (listed first)."""
        setting = self.settings["system"]["DEFAULT_EXECUTION_ENVIRONMENT"]
        if setting is not None:
            return self.find("execution_environments", setting)
        candidates = sorted((ee for ee in self.objects["execution_environments"].values()
                             if ee["organization"] is None and not ee["managed"]),
                            key=lambda ee: (ee["created"], ee["id"]), reverse=True)
        listed = {item["image"] for item in GLOBAL_JOB_EXECUTION_ENVIRONMENTS}
        for ee in candidates:
            if ee["image"] in listed:
                return ee
        return candidates[0] if candidates else None

    def _add_resolved(self, res, obj, out, view):
        if view in ("detail", "nested"):
            resolved = self._resolved_ee(res, obj)
            if resolved is not None:
                out["summary_fields"]["resolved_environment"] = self.summary_of(
                    "execution_environment", resolved, RESOURCES["execution_environments"])

    def _recent_jobs(self, obj):
        jobs = sorted((job for job in self.objects["jobs"].values() if job["unified_job_template"] == obj["id"]),
                      key=lambda job: job["id"], reverse=True)[:10]
        return [{"id": job["id"], "status": job["status"], "finished": job["finished"],
                 "canceled_on": job["canceled_on"], "type": "job"} for job in jobs]

    def _cred_summaries(self, ids):
        return [self.summary_of("credential", self.find("credentials", cid), RESOURCES["credentials"])
                for cid in ids if self.find("credentials", cid)]

    def _out_job_templates(self, obj, out, view, user):
        out["summary_fields"]["labels"] = {"count": 0, "results": []}
        self._add_resolved(RESOURCES["job_templates"], obj, out, view)
        out["summary_fields"]["recent_jobs"] = self._recent_jobs(obj)
        out["summary_fields"]["credentials"] = self._cred_summaries(obj["_m2m"].get("credentials", []))

    def _out_workflow_job_templates(self, obj, out, view, user):
        out["summary_fields"]["labels"] = {"count": 0, "results": []}
        out["summary_fields"]["recent_jobs"] = []

    def _out_projects(self, obj, out, view, user):
        manual = obj["scm_type"] == ""
        out["summary_fields"]["user_capabilities"] = {"edit": True, "delete": True, "start": not manual,
                                                      "schedule": not manual, "copy": not manual}
        self._add_resolved(RESOURCES["projects"], obj, out, view)

    def _out_inventories(self, obj, out, view, user):
        out["summary_fields"]["labels"] = {"count": 0, "results": []}

    def _out_hosts(self, obj, out, view, user):
        out["summary_fields"]["groups"] = {"count": 0, "results": []}
        out["summary_fields"]["recent_jobs"] = []

    def _out_workflow_job_template_nodes(self, obj, out, view, user):
        for key in ("success_nodes", "failure_nodes", "always_nodes"):
            out[key] = list(obj["_m2m"].get(key, []))
        out["related"].pop("created_by", None)

    def _out_instance_groups(self, obj, out, view, user):
        out["summary_fields"] = {key: value for key, value in out["summary_fields"].items()
                                 if key in ("object_roles", "user_capabilities", "credential")}

    def _out_jobs(self, obj, out, view, user):
        out["summary_fields"]["labels"] = {"count": 0, "results": []}
        out["summary_fields"]["credentials"] = self._cred_summaries(obj["_m2m"].get("credentials", []))
        out["related"]["unified_job_template"] = "/api/v2/job_templates/%d/" % obj["unified_job_template"] \
            if obj["unified_job_template"] else None
        if out["related"]["unified_job_template"] is None:
            del out["related"]["unified_job_template"]
        if view == "detail":
            out["host_status_counts"] = None
            out["playbook_counts"] = {"play_count": 0, "task_count": 0}
            out["custom_virtualenv"] = None

    # ------------------------------------------------------------------ write
    def _clean_value(self, res, fname, field, value, errors):
        """Coerce one incoming value like DRF does; record an error and return None when invalid."""
        if value is None:
            if field.null:
                return None
            # AWX's CharNullField/ChoiceNullField/BooleanNullField: null means "" (or False) for model fields
            if field.kind in ("str", "vars", "choice") and (field.kind != "choice" or "" in field.choices):
                return "" if field.blank or field.kind != "str" else self._blank_error(fname, errors)
            if field.kind == "bool":
                return False
            errors[fname] = ["This field may not be null."]
            return None
        if field.kind == "str" or field.kind == "vars":
            if isinstance(value, (dict, list)):
                if field.kind == "vars":
                    return json.dumps(value)
                errors[fname] = ["Not a valid string."]
                return None
            value = str(value).strip()
            if not value and not field.blank:
                errors[fname] = ["This field may not be blank."]
                return None
            if field.kind == "vars":
                try:
                    parse_vars(value)
                except ValueError as err:
                    errors[fname] = [str(err)]
                    return None
            return value
        if field.kind == "int":
            try:
                return int(value)
            except (TypeError, ValueError):
                errors[fname] = ["A valid integer is required."]
                return None
        if field.kind == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "false", "0", "yes", "no", "on", "off"):
                return str(value).lower() in ("true", "1", "yes", "on")
            errors[fname] = ["Must be a valid boolean."]
            return None
        if field.kind == "choice":
            if value not in field.choices:
                errors[fname] = ['"%s" is not a valid choice.' % value]
                return None
            return value
        if field.kind == "json":
            if not isinstance(value, dict):
                errors[fname] = ["Expected a dictionary of items but got type \"%s\"." % type(value).__name__]
                return None
            return copy.deepcopy(value)
        if field.kind == "list":
            if not isinstance(value, list):
                errors[fname] = ["Expected a list of items but got type \"%s\"." % type(value).__name__]
                return None
            return copy.deepcopy(value)
        if field.kind == "fk":
            if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
                errors[fname] = ["Incorrect type. Expected pk value, received %s." % type(value).__name__]
                return None
            value = int(value)
            if self.find(field.target, value) is None:
                if field.missing:
                    raise ApiError(*field.missing)
                errors[fname] = ['Invalid pk "%d" - object does not exist.' % value]
                return None
            return value
        return value

    @staticmethod
    def _blank_error(fname, errors):
        errors[fname] = ["This field may not be blank."]

    def _clean(self, res, data, obj, partial):
        if not isinstance(data, dict):
            raise ApiError(400, {"non_field_errors": ["Invalid data. Expected a dictionary, but got %s."
                                                      % type(data).__name__]})
        errors = {}
        clean = {}
        for fname, field in res.fields.items():
            if field.read_only or (field.create_only and obj is not None):
                continue
            if fname in data:
                clean[fname] = self._clean_value(res, fname, field, data[fname], errors)
            elif field.required and not partial:
                errors[fname] = ["This field is required."]
        return clean, errors

    def _check_unique(self, res, merged, obj, errors):
        for fname, field in res.fields.items():
            if field.unique and fname not in errors and merged.get(fname) is not None:
                for other in self.objects[res.name].values():
                    if other is not obj and other.get(fname) == merged[fname]:
                        errors[fname] = [field.unique]
                        break
        for fields, message in res.unique_together:
            if errors:
                break
            values = tuple(merged.get(fname) for fname in fields)
            for other in self.objects[res.name].values():
                if other is not obj and tuple(other.get(fname) for fname in fields) == values:
                    errors["__all__"] = [message]
                    break

    def create(self, name, data, user, extra=None):
        """POST: validate, store, answer with the ``create`` view."""
        res = RESOURCES[name]
        with self.lock:
            if not user["is_superuser"] and name != "tokens":
                raise ApiError(403, NOT_PERMITTED)
            clean, errors = self._clean(res, data, None, partial=False)
            if extra:
                clean.update(extra)
                for key in extra:
                    errors.pop(key, None)
            merged = {fname: copy.deepcopy(field.default) for fname, field in res.fields.items()}
            merged.update(clean)
            hook = getattr(self, "_validate_" + name, None)
            if hook:
                hook(merged, None, data, errors, user)
            self._check_unique(res, merged, None, errors)
            if errors:
                raise ApiError(400, errors)
            obj = self._raw_insert(name, dict(merged), user["id"])
            hook = getattr(self, "_after_create_" + name, None)
            if hook:
                hook(obj, data, user)
            return obj

    def update(self, name, obj, data, user, partial=True):
        res = RESOURCES[name]
        with self.lock:
            if not user["is_superuser"]:
                raise ApiError(403, NOT_PERMITTED)
            if name == "execution_environments" and obj["managed"]:
                self._check_managed_ee(obj, data, partial)
            clean, errors = self._clean(res, data, obj, partial=partial)
            merged = {key: value for key, value in obj.items() if not key.startswith("_")}
            merged.update(clean)
            hook = getattr(self, "_validate_" + name, None)
            if hook:
                hook(merged, obj, data, errors, user)
            self._check_unique(res, merged, obj, errors)
            if errors:
                raise ApiError(400, errors)
            for key, value in merged.items():
                obj[key] = value
            if name != "users":
                obj["modified"] = now_iso()
            obj["_modified_by"] = user["id"] if res.audit else None
            return obj

    def delete(self, name, obj, user):
        res = RESOURCES[name]
        with self.lock:
            if not user["is_superuser"] or (name == "execution_environments" and obj["managed"]):
                raise ApiError(403, NOT_PERMITTED)
            self._delete(res, obj)

    def _delete(self, res, obj):
        self.objects[res.name].pop(obj["id"], None)
        if res.name == "execution_environments":
            if self.settings["system"]["DEFAULT_EXECUTION_ENVIRONMENT"] == obj["id"]:
                self.settings["system"]["DEFAULT_EXECUTION_ENVIRONMENT"] = None
        for other_name, other_res in RESOURCES.items():
            for fname, field in other_res.fields.items():
                target = field.target if field.kind == "fk" else None
                if target is None or target not in (res.name, "unified_job_templates"
                                                    if res.name in UNIFIED_JOB_TEMPLATES else None):
                    continue
                for other in list(self.objects[other_name].values()):
                    if other.get(fname) == obj["id"]:
                        if (other_name, fname) in CASCADE:
                            self._delete(other_res, other)
                        else:
                            other[fname] = None
            for other in self.objects[other_name].values():
                for (owner, sub), target in ASSOCIATIONS.items():
                    if owner == other_name and target == res.name and obj["id"] in other["_m2m"].get(sub, []):
                        other["_m2m"][sub].remove(obj["id"])
        # Jobs keep copies of their template's links (read-only fields): those are nulled too.
        for job in self.objects["jobs"].values():
            for key in ("execution_environment", "inventory", "project", "unified_job_template", "job_template"):
                target = RO_TARGETS[key]
                if job.get(key) == obj["id"] and res.name in (target, "job_templates" if target ==
                                                              "unified_job_templates" else None):
                    job[key] = None

    # ------------------------------------------------------------------ validators
    def _validate_credentials(self, merged, obj, data, errors, user):
        ctype = self.find("credential_types", merged.get("credential_type"))
        if obj is None and not errors and merged.get("organization") is None and not data.get("user") \
                and not data.get("team"):
            raise ApiError(400, {"detail": "Missing 'user', 'team', or 'organization'."})
        if ctype is None or "inputs" not in data or "inputs" in errors:
            return
        fields = {field["id"]: field for field in ctype["inputs"].get("fields", [])}
        inputs = {}
        for key, value in merged["inputs"].items():
            field = fields.get(key)
            if field is None:
                errors["inputs"] = {key: ["'%s' is not a valid field for %s" % (key, ctype["name"])]}
                return
            if field["type"] == "boolean" and not isinstance(value, bool):
                errors["inputs"] = {key: ["%s is not of type 'boolean'" % json.dumps(value)]}
                return
            if field["type"] == "string" and not isinstance(value, str):
                errors["inputs"] = {key: ["%s is not of type 'string'" % json.dumps(value)]}
                return
            if field.get("secret"):
                if value == ENCRYPTED and obj is not None:
                    # Credential.save swaps $encrypted$ for the stored value: inputs_before[field] (KeyError -> 500)
                    if key not in obj["inputs"]:
                        raise ApiError(500, SERVER_ERROR)
                    value = obj["inputs"][key]
                if value == "":
                    continue
            inputs[key] = value
        merged["inputs"] = inputs
        if data.get("user") and obj is None:
            merged["user"] = int(data["user"])

    def _validate_execution_environments(self, merged, obj, data, errors, user):
        image = merged.get("image")
        if "image" in data and "image" not in errors and image and not IMAGE_RE.match(image):
            errors["image"] = ["The container image name %s is not valid" % image]
        cred = self.find("credentials", merged.get("credential"))
        if cred is not None and "credential" in data and self.computed(RESOURCES["credentials"], cred)["kind"] != "registry":
            errors["credential"] = ["Only Container Registry credentials can be associated with an Execution Environment"]
        if obj is None and merged.get("organization") is None and not user["is_superuser"]:
            raise ApiError(403, NOT_PERMITTED)

    @staticmethod
    def _check_managed_ee(obj, data, partial):
        for fname in ("name", "description", "organization", "image", "credential"):
            if partial and fname not in data:
                continue
            if data.get(fname) != obj.get(fname):
                raise ApiError(403, {"detail": MANAGED_EE_ERROR})

    def _validate_instance_groups(self, merged, obj, data, errors, user):
        cred = self.find("credentials", merged.get("credential"))
        if cred is not None and "credential" in data and \
                self.computed(RESOURCES["credentials"], cred)["kind"] != "kubernetes":
            errors["credential"] = ["Only Kubernetes credentials can be associated with an Instance Group"]

    def local_path_choices(self, keep=None):
        """Directories under the projects root not used by a manual project (config project_local_paths)."""
        try:
            names = sorted(entry for entry in os.listdir(self.projects_root)
                           if os.path.isdir(os.path.join(self.projects_root, entry)) and not entry.startswith("."))
        except OSError:
            names = []
        used = {proj["local_path"] for proj in self.objects["projects"].values() if proj["local_path"] != keep}
        return [name for name in names if name not in used]

    def _validate_projects(self, merged, obj, data, errors, user):
        if merged["scm_type"] == "":
            keep = obj["local_path"] if obj else None
            if "local_path" in data or obj is None:
                if merged["local_path"] not in self.local_path_choices(keep=keep):
                    used = any(proj["local_path"] == merged["local_path"] for proj in self.objects["projects"].values()
                               if proj is not obj)
                    errors["local_path"] = ["This path is already being used by another manual project." if used
                                            else "Invalid path choice."]
        elif obj is None:
            merged.pop("local_path", None)

    def _after_create_projects(self, obj, data, user):
        if obj["scm_type"] == "":
            path = os.path.join(self.projects_root, obj["local_path"])
            stamp = datetime.datetime.fromtimestamp(os.stat(path).st_mtime, datetime.timezone.utc)
            obj["last_job_run"] = obj["last_updated"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            obj["status"] = "ok"
        else:
            obj["local_path"] = "_%d__%s" % (obj["id"], re.sub(r"[^a-z0-9]+", "_", obj["name"].lower()).strip("_"))
            obj["status"] = "pending"

    def playbooks(self, project):
        if project["scm_type"] != "":
            return []
        root = os.path.join(self.projects_root, project["local_path"])
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            skip = ("roles", "tasks", "group_vars", "host_vars")
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in skip)
            for filename in sorted(filenames):
                if not filename.endswith((".yml", ".yaml")):
                    continue
                path = os.path.join(dirpath, filename)
                try:
                    with open(path, encoding="utf-8", errors="replace") as handle:
                        if PLAYBOOK_RE.search(handle.read()):
                            found.append(os.path.relpath(path, root))
                except OSError:
                    continue
        return sorted(found)

    def _validate_job_templates(self, merged, obj, data, errors, user):
        project = self.find("projects", merged.get("project"))
        if "project" not in errors and project is None:
            errors["project"] = ["This field is required."]
        if not merged.get("playbook") and "playbook" not in errors:
            errors["playbook"] = ["This field is required."]
        elif project is not None and project["scm_type"] == "" and merged["playbook"] not in self.playbooks(project):
            errors["playbook"] = ["Playbook not found for project."]
        if merged.get("inventory") is None and not merged.get("ask_inventory_on_launch") and "inventory" not in errors:
            errors["inventory"] = ["Job Template must provide 'inventory' or allow prompting for it."]
        if project is not None:
            merged["organization"] = project["organization"]

    def _validate_workflow_job_template_nodes(self, merged, obj, data, errors, user):
        if merged.get("execution_environment") is not None and "execution_environment" not in errors:
            template = self.find("unified_job_templates", merged.get("unified_job_template"))
            if template is None or not template.get("ask_execution_environment_on_launch"):
                errors["execution_environment"] = [PROMPT_ERROR]
        if merged.get("extra_data") and "extra_data" in data and "extra_data" not in errors:
            template = self.find("unified_job_templates", merged.get("unified_job_template"))
            if template is not None and "ask_variables_on_launch" in template \
                    and not template["ask_variables_on_launch"] and not template.get("survey_enabled"):
                errors["extra_data"] = ["Variables %s are not allowed on launch. Check the Prompt on Launch setting on "
                                        "the Job Template to include Extra Variables."
                                        % ", ".join(sorted(merged["extra_data"]))]
        if not merged.get("identifier"):
            merged["identifier"] = str(uuid.uuid4())

    def _validate_inventory_sources(self, merged, obj, data, errors, user):
        project = self.find("projects", merged.get("source_project"))
        if merged.get("source") == "scm" and project is not None and project["scm_type"] == "" \
                and "source_project" not in errors:
            errors["source_project"] = ["Cannot use manual project for SCM-based inventory."]

    def _out_inventory_sources(self, obj, out, view, user):
        inventory = self.find("inventories", obj["inventory"])
        org = self.find("organizations", inventory["organization"]) if inventory else None
        summary = out["summary_fields"]
        ordered = {}
        if org is not None:
            ordered["organization"] = self.summary_of("organization", org, RESOURCES["organizations"])
        ordered.update(summary)
        ordered["credentials"] = []
        out["summary_fields"] = ordered
        self._add_resolved(RESOURCES["inventory_sources"], obj, out, view)

    def _validate_ad_hoc_commands(self, merged, obj, data, errors, user):
        merged["name"] = merged.get("module_name") or "command"
        merged["launched_by"] = {"id": user["id"], "name": user["username"], "type": "user",
                                 "url": "/api/v2/users/%d/" % user["id"]}

    def _after_create_ad_hoc_commands(self, obj, data, user):
        obj["modified"] = now_iso()
        obj["_new"] = True

    def _out_ad_hoc_commands(self, obj, out, view, user):
        if obj.get("_new"):
            if view == "create":
                return
            obj.pop("_new")
            obj["status"] = out["status"] = "pending"
        if view == "detail":
            out.update(host_status_counts=None, job_args="", job_cwd="", job_env={}, result_traceback="",
                       event_processing_finished=False)

    def _validate_tokens(self, merged, obj, data, errors, user):
        if obj is None:
            merged["user"] = user["id"]
            merged["token"] = secrets.token_urlsafe(22)
            expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=31536000000)
            merged["expires"] = expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _validate_users(self, merged, obj, data, errors, user):
        if "password" in data and data["password"] not in ("", None, ENCRYPTED):
            merged["_password"] = data["password"]
        merged.pop("password", None)

    def _after_create_users(self, obj, data, user):
        obj["_password"] = data.get("password")

    # ------------------------------------------------------------------ actions
    def associate(self, name, obj, sub, data, user):
        target_name = ASSOCIATIONS[(name, sub)]
        with self.lock:
            if not user["is_superuser"]:
                raise ApiError(403, NOT_PERMITTED)
            if not isinstance(data, dict) or "id" not in data:
                raise ApiError(400, {"msg": "\"id\" field is required."})
            target = self.find(target_name, data["id"] if isinstance(data["id"], int) else -1)
            if target is None:
                raise _not_found(RESOURCES[target_name])
            links = obj["_m2m"].setdefault(sub, [])
            if data.get("disassociate"):
                if target["id"] in links:
                    links.remove(target["id"])
            elif target["id"] not in links:
                links.append(target["id"])

    BULK_HOST_MAX_CREATE = 100
    BULK_JOB_MAX_LAUNCH = 100

    def bulk_host_create(self, data, user):
        """POST /api/v2/bulk/host_create/ (fleet 107): every host or none."""
        with self.lock:
            if not user["is_superuser"]:
                raise ApiError(403, NOT_PERMITTED)
            if not isinstance(data, dict):
                raise ApiError(400, {"non_field_errors": ["Invalid data."]})
            inventory = self.find("inventories", data.get("inventory") if isinstance(data.get("inventory"), int)
                                  else -1)
            hosts = data.get("hosts")
            if inventory is None:
                raise ApiError(400, {"inventory": ['Invalid pk "%s" - object does not exist.' % data.get("inventory")]})
            if not isinstance(hosts, list) or not hosts:
                raise ApiError(400, {"hosts": ["This field is required."]})
            if len(hosts) > self.BULK_HOST_MAX_CREATE:
                raise ApiError(400, {"hosts": ["Number of hosts exceeds system setting BULK_HOST_MAX_CREATE"]})
            snapshot = copy.deepcopy(self.objects["hosts"]), self.seq.get("hosts")
            made = []
            try:
                for host in hosts:
                    made.append(self.create("hosts", dict(host, inventory=inventory["id"]), user))
                    # Inserted with bulk_create: no created_by/modified_by (fleet 108).
                    made[-1]["_created_by"] = made[-1]["_modified_by"] = None
            except ApiError:
                self.objects["hosts"], self.seq["hosts"] = snapshot
                raise
            url = "/api/v2/inventories/%d/" % inventory["id"]
            return {"url": url, "hosts": [{"name": host["name"], "enabled": host["enabled"],
                                           "instance_id": host["instance_id"], "description": host["description"],
                                           "variables": host["variables"], "id": host["id"],
                                           "url": "/api/v2/hosts/%d/" % host["id"], "inventory": url}
                                          for host in made]}

    def bulk_job_launch(self, data, user):
        """POST /api/v2/bulk/job_launch/ (fleet 137-139): one pending workflow job, a node per job with its
        prompts as posted (no prompt checks: BulkJobNodeSerializer)."""
        with self.lock:
            if not isinstance(data, dict) or not isinstance(data.get("jobs"), list) or not data["jobs"]:
                raise ApiError(400, {"jobs": ["This field is required."]})
            if len(data["jobs"]) > self.BULK_JOB_MAX_LAUNCH:
                raise ApiError(400, {"jobs": ["Number of requested jobs exceeds system setting BULK_JOB_MAX_LAUNCH"]})
            for label, key, name in (("Unified Job Templates", "unified_job_template", "unified_job_templates"),
                                     ("Execution Environments", "execution_environment", "execution_environments")):
                missing = sorted(set(job[key] for job in data["jobs"] if job.get(key) is not None
                                     and self.find(name, job[key]) is None))
                if missing:
                    raise ApiError(400, {"__all__": ["%s {%s} not found or you don't have permissions to access it"
                                                     % (label, ", ".join(str(item) for item in missing))]})
            job = self._raw_insert("workflow_jobs", {
                "name": data.get("name") or "Bulk Job Launch", "description": data.get("description", ""),
                "launched_by": {"id": user["id"], "name": user["username"], "type": "user",
                                "url": "/api/v2/users/%d/" % user["id"]}}, user["id"])
            for spec in data["jobs"]:
                values = {key: spec.get(key) for key in ("inventory", "scm_branch", "job_type", "job_tags",
                                                         "skip_tags", "limit", "diff_mode", "verbosity",
                                                         "execution_environment", "forks", "job_slice_count",
                                                         "timeout")}
                values.update(extra_data=copy.deepcopy(spec.get("extra_data") or {}), workflow_job=job["id"],
                              unified_job_template=spec["unified_job_template"], identifier=str(uuid.uuid4()))
                node = self._raw_insert("workflow_job_nodes", values)
                node["modified"] = now_iso()
            job["modified"] = now_iso()
            return job

    def _out_workflow_jobs(self, obj, out, view, user):
        out["summary_fields"]["labels"] = {"count": 0, "results": []}

    def launch_info(self, jt):
        ee = self.find("execution_environments", jt["execution_environment"])
        inventory = self.find("inventories", jt["inventory"])
        asks = {key: jt[key] for key in ASK_FIELDS}
        out = {
            "can_start_without_user_input": not any(asks.values()) and not jt["survey_enabled"],
            "passwords_needed_to_start": [],
        }
        order = ("ask_scm_branch_on_launch", "ask_variables_on_launch", "ask_tags_on_launch", "ask_diff_mode_on_launch",
                 "ask_skip_tags_on_launch", "ask_job_type_on_launch", "ask_limit_on_launch", "ask_verbosity_on_launch",
                 "ask_inventory_on_launch", "ask_credential_on_launch", "ask_execution_environment_on_launch",
                 "ask_labels_on_launch", "ask_forks_on_launch", "ask_job_slice_count_on_launch",
                 "ask_timeout_on_launch", "ask_instance_groups_on_launch")
        out.update((key, asks[key]) for key in order)
        out.update({
            "survey_enabled": jt["survey_enabled"], "variables_needed_to_start": [],
            "credential_needed_to_start": False, "inventory_needed_to_start": inventory is None,
            "job_template_data": {"name": jt["name"], "id": jt["id"], "description": jt["description"]},
            "defaults": {
                "inventory": {"name": inventory["name"], "id": inventory["id"]} if inventory else {},
                "limit": jt["limit"], "scm_branch": jt["scm_branch"], "job_tags": jt["job_tags"],
                "skip_tags": jt["skip_tags"], "extra_vars": jt["extra_vars"], "diff_mode": jt["diff_mode"],
                "job_type": jt["job_type"], "verbosity": jt["verbosity"],
                "execution_environment": {"name": ee["name"], "id": ee["id"]} if ee else {},
                "forks": jt["forks"], "job_slice_count": jt["job_slice_count"], "timeout": jt["timeout"],
                "instance_groups": [],
            },
        })
        if jt["survey_enabled"] and self.survey_specs.get(jt["id"]):
            out["variables_needed_to_start"] = [item["variable"] for item in self.survey_specs[jt["id"]].get("spec", [])
                                                if item.get("required")]
        return out

    def launch(self, jt, data, user):
        """POST /job_templates/<id>/launch/: a pending job; prompts the JT does not ask for are ignored."""
        with self.lock:
            if not isinstance(data, dict):
                data = {}
            prompts = {"execution_environment": "ask_execution_environment_on_launch",
                       "inventory": "ask_inventory_on_launch", "limit": "ask_limit_on_launch",
                       "job_type": "ask_job_type_on_launch", "verbosity": "ask_verbosity_on_launch",
                       "extra_vars": "ask_variables_on_launch", "scm_branch": "ask_scm_branch_on_launch",
                       "job_tags": "ask_tags_on_launch", "skip_tags": "ask_skip_tags_on_launch",
                       "diff_mode": "ask_diff_mode_on_launch", "forks": "ask_forks_on_launch",
                       "timeout": "ask_timeout_on_launch", "job_slice_count": "ask_job_slice_count_on_launch"}
            ignored, accepted, errors = {}, {}, {}
            for key, value in data.items():
                ask = prompts.get(key)
                if ask is None:
                    continue
                if not jt[ask]:
                    ignored[key] = value
                    continue
                if key in ("execution_environment", "inventory"):
                    target = "execution_environments" if key == "execution_environment" else "inventories"
                    if value is not None and self.find(target, value if isinstance(value, int) else -1) is None:
                        errors[key] = ['Invalid pk "%s" - object does not exist.' % value]
                        continue
                accepted[key] = value
            if errors:
                raise ApiError(400, errors)
            values = {key: jt[key] for key in ("name", "description", "job_type", "inventory", "project", "playbook",
                                               "scm_branch", "forks", "limit", "verbosity", "job_tags",
                                               "force_handlers", "skip_tags", "start_at_task", "timeout",
                                               "use_fact_cache", "organization", "execution_environment",
                                               "allow_simultaneous", "diff_mode", "job_slice_count",
                                               "webhook_service", "webhook_credential")}
            values["extra_vars"] = json.dumps(parse_vars(jt["extra_vars"]))
            values.update(accepted)
            if "extra_vars" in accepted:
                values["extra_vars"] = json.dumps(parse_vars(accepted["extra_vars"]))
            values.update({"unified_job_template": jt["id"], "job_template": jt["id"],
                           "launched_by": {"id": user["id"], "name": user["username"], "type": "user",
                                           "url": "/api/v2/users/%d/" % user["id"]}})
            job = self._raw_insert("jobs", values, user["id"])
            job["_m2m"]["credentials"] = list(jt["_m2m"].get("credentials", []))
            job["modified"] = now_iso()
            jt["last_job_run"] = None
            return job, ignored

    def cancel(self, job):
        with self.lock:
            if job["status"] not in ("new", "pending", "waiting", "running"):
                raise ApiError(405, {"error": "Job cannot be canceled."})
            stamp = now_iso()
            job.update({"status": "canceled", "failed": True, "canceled_on": stamp, "finished": stamp,
                        "event_processing_finished": True})

    # ------------------------------------------------------------------ settings
    SETTING_KINDS = {
        "DEFAULT_EXECUTION_ENVIRONMENT": "ee",
        "INSTALL_UUID": "ro", "LICENSE": "ro", "IS_K8S": "ro", "AUTOMATION_ANALYTICS_LAST_GATHER": "ro",
        "CLEANUP_HOST_METRICS_LAST_TS": "ro", "HOST_METRIC_SUMMARY_TASK_LAST_TS": "ro",
    }

    def settings_view(self, category):
        if category == "all":
            merged = {}
            for values in self.settings.values():
                merged.update(values)
            return copy.deepcopy(merged)
        return copy.deepcopy(self.settings[category])

    def patch_settings(self, category, data, user):
        """PATCH/PUT /api/v2/settings/<category>/: each key replaced as sent (lists too); answers the category."""
        with self.lock:
            if not user["is_superuser"]:
                raise ApiError(403, NOT_PERMITTED)
            if not isinstance(data, dict):
                raise ApiError(400, {"non_field_errors": ["Invalid data."]})
            known = {}
            for cat, values in self.settings.items():
                if category in (cat, "all"):
                    for key in values:
                        known[key] = cat
            errors, changes = {}, {}
            for key, value in data.items():
                if key not in known:
                    continue
                kind = self.SETTING_KINDS.get(key)
                current = self.settings[known[key]][key]
                if kind == "ro":
                    continue
                if kind == "ee":
                    if value is not None and (isinstance(value, bool) or not str(value).isdigit()
                                              or self.find("execution_environments", int(value)) is None):
                        errors[key] = ['Invalid pk "%s" - object does not exist.' % value]
                        continue
                    changes[key] = None if value is None else int(value)
                elif isinstance(current, list):
                    if not isinstance(value, list):
                        errors[key] = ['Expected a list of items but got type "%s".' % type(value).__name__]
                    else:
                        changes[key] = list(value)
                elif isinstance(current, dict):
                    if not isinstance(value, dict):
                        errors[key] = ['Expected a dictionary of items but got type "%s".' % type(value).__name__]
                    else:
                        changes[key] = dict(value)
                elif isinstance(current, bool):
                    if not isinstance(value, bool):
                        errors[key] = ["Must be a valid boolean."]
                    else:
                        changes[key] = value
                elif isinstance(current, int):
                    try:
                        changes[key] = int(value)
                    except (TypeError, ValueError):
                        errors[key] = ["A valid integer is required."]
                else:
                    changes[key] = value
            if errors:
                raise ApiError(400, errors)
            for key, value in changes.items():
                self.settings[known[key]][key] = value
            return self.settings_view(category)
