# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container Registry credentials in AWX: what ``awx_registry_credential`` does for one and for many.

- ``ITEM_ARGSPEC``: the options of one credential, declared once (top level, and suboptions of ``items``).
- ``Lookups`` (one ``?name=`` request, the single form) and ``BulkLookups`` (one ``name__in`` list for
  every item, organizations and the credential type only when a credential is created).
- ``plan(module, params, existing, lookups)``: the write and the diff of one credential, nothing sent;
  ``module.apply(plan, ENDPOINT, KIND)`` sends it (check mode aware); ``run_bulk(module)`` does all ``items``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.eeforge.builder.plugins.module_utils._awx_client import pick, same_ref
from ansible_collections.eeforge.builder.plugins.module_utils._awx_compare import (
    changed_fields,
    mask_secrets,
    merge_inputs,
)
from ansible_collections.eeforge.builder.plugins.module_utils._awx_module import Plan

KIND = "registry credential"
ENDPOINT = "credentials/"
TYPE_NAMESPACE = "registry"
SECRET_INPUTS = ("password",)
REQUIRED_INPUTS = ("host",)

ITEM_ARGSPEC = dict(
    name=dict(type="str", required=True),
    organization=dict(type="str", required=True),
    description=dict(type="str"),
    host=dict(type="str"),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    verify_ssl=dict(type="bool"),
    update_password=dict(type="str", default="on_create", choices=["on_create", "always"], no_log=False),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)


def view(obj, inputs=None, changed_secrets=()):
    if obj is None:
        return {}
    org = ((obj.get("summary_fields") or {}).get("organization") or {}).get("name")
    inputs = obj.get("inputs") if inputs is None else inputs
    return dict(name=obj.get("name"), organization=org, description=obj.get("description") or "",
                inputs=mask_secrets(inputs or {}, SECRET_INPUTS, changed_secrets))


def matches(name, organization):
    """A ``match`` for the registry credential ``name`` of ``organization`` (name or id)."""
    def match(obj):
        org = (obj.get("summary_fields") or {}).get("organization") or {}
        return (obj.get("name") == name and obj.get("kind") == TYPE_NAMESPACE
                and same_ref(organization, obj.get("organization"), org.get("name")))
    return match


def _registry_type(types):
    for obj in types:
        if obj.get("namespace") == TYPE_NAMESPACE or (obj.get("kind") == TYPE_NAMESPACE and obj.get("managed")):
            return obj
    return None


class Lookups(object):
    """One request per lookup (the single form)."""

    def __init__(self, client):
        self.client = client
        self._type = None

    def existing(self, name, organization):
        found = [obj for obj in self.client.find(ENDPOINT, name) if matches(name, organization)(obj)]
        return found[0] if found else None

    def organization(self, value):
        return self.client.resolve("organizations/", value, "organization")

    def credential_type(self):
        """The Container Registry credential type, looked up by namespace (then kind), never by id."""
        if self._type is None:
            for query in (dict(namespace=TYPE_NAMESPACE), dict(kind=TYPE_NAMESPACE)):
                self._type = _registry_type(self.client.list("credential_types/", **query))
                if self._type is not None:
                    break
        return self._type


class BulkLookups(Lookups):
    """The same answers for many credentials: one ``name__in`` list; organizations fetched once, when needed."""

    def __init__(self, client):
        super(BulkLookups, self).__init__(client)
        self.creds = []
        self.orgs = None

    def fetch(self, names):
        self.creds = self.client.list_in(ENDPOINT, names, ids=False)

    def existing(self, name, organization):
        found = [obj for obj in self.creds if matches(name, organization)(obj)]
        return found[0] if found else None

    def fetch_organizations(self, values):
        self.orgs = self.client.list_in("organizations/", values)

    def organization(self, value):
        return pick(self.orgs or [], value, "organization", self.client.settings.who())


def check_required(module, name, inputs, verb):
    missing = [key for key in REQUIRED_INPUTS if inputs.get(key) in (None, "")]
    if missing:
        module.fail_action(verb, KIND, name, "input %s is not set" % ", ".join(missing),
                           "Set %s (AWX would accept the credential but every job using it would fail)"
                           % " and ".join(missing))


def given_inputs(params):
    return dict((key, params[key]) for key in ("host", "username", "password", "verify_ssl"))


def plan(module, params, existing, lookups):
    """The plan for one credential (nothing sent; fails the task on bad input)."""
    name = params["name"]
    if params["state"] == "absent":
        return Plan(name, "delete" if existing else "none", existing, before=view(existing), changed=[], type_id=None)
    given = given_inputs(params)
    if existing is None:
        inputs, changed = merge_inputs(None, given, SECRET_INPUTS, True)
        check_required(module, name, inputs, "create")
        with module.failing("create", KIND, name):
            cred_type = lookups.credential_type()
            if cred_type is None:
                module.fail_action("create", KIND, name,
                                   "AWX has no Container Registry credential type (namespace 'registry')",
                                   "Check that controller_host is AWX 18 or later")
            org = lookups.organization(params["organization"])
        payload = dict(name=name, organization=org["id"], credential_type=cred_type["id"], inputs=inputs)
        if params["description"] is not None:
            payload["description"] = params["description"]
        after = view(dict(payload, summary_fields=dict(organization=dict(name=org["name"]))), inputs,
                     [key for key in changed if key in SECRET_INPUTS])
        return Plan(name, "create", None, payload, {}, after, changed=changed, type_id=cred_type["id"])
    inputs, changed = merge_inputs(existing.get("inputs"), given, SECRET_INPUTS, params["update_password"] == "always")
    check_required(module, name, inputs, "update")
    payload = {}
    if params["description"] is not None:
        payload = changed_fields(existing, dict(description=params["description"]))
    if changed:
        payload["inputs"] = inputs
    predicted = dict(existing)
    predicted.update(payload)
    return Plan(name, "update" if payload else "none", existing, payload, view(existing),
                view(predicted, inputs, [key for key in changed if key in SECRET_INPUTS]), changed=changed,
                type_id=existing.get("credential_type"))


def extra_result(plan_):
    """The keys the module returns besides ``changed``/``id``/``url`` for a present credential."""
    return dict(credential_type=plan_.type_id,
                changed_inputs=[key for key in plan_.changed if key not in SECRET_INPUTS],
                password_updated="password" in plan_.changed)


def run_bulk(module):
    """Converge every credential of ``items`` in one run: one list request, writes only for changes."""
    items = module.params["items"]
    keys = [(item["name"], str(item["organization"])) for item in items]
    for key in keys:
        if keys.count(key) > 1:
            module.fail_action("converge", KIND, key[0], "it is listed %d times in items for organization '%s'"
                               % (keys.count(key), key[1]), "List each credential once")
    lookups = BulkLookups(module.client)
    module.authenticate_once()
    with module.failing("look up", KIND, ", ".join(key[0] for key in keys[:3]) + (", ..." if len(keys) > 3 else "")):
        lookups.fetch(sorted(set(item["name"] for item in items)))
        existing = [lookups.existing(item["name"], item["organization"]) for item in items]
        new_orgs = set(item["organization"] for item, found in zip(items, existing)
                       if found is None and item["state"] == "present")
        if new_orgs:
            lookups.fetch_organizations(sorted(new_orgs))
    plans = [plan(module, item, found, lookups) for item, found in zip(items, existing)]
    order = [p for p in plans if p.action == "update"] + [p for p in plans if p.action == "create"] + \
        [p for p in plans if p.action == "delete"]
    module.applied = []
    for plan_ in order:
        module.apply(plan_, ENDPOINT, KIND)
    results, diffs = [], []
    for item, plan_ in zip(items, plans):
        obj = plan_.obj if plan_.action != "delete" else plan_.existing
        result = dict(name=plan_.name, organization=item["organization"], action=plan_.action,
                      changed=plan_.action != "none", id=(obj or {}).get("id"),
                      url=module.client.absolute_url(obj["url"]) if obj and obj.get("url") else None)
        if item["state"] == "present":
            result.update(extra_result(plan_))
        results.append(result)
        if plan_.action != "none":
            diffs.append(plan_.diff("%s '%s' (organization %s)" % (KIND, plan_.name, item["organization"])))
    module.exit_bulk(results, diffs)
