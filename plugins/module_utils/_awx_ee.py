# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Execution environments in AWX: what ``awx_execution_environment`` does for one object and for many.

- ``ITEM_ARGSPEC`` / ``ITEM_RULES``: the options of one EE, declared once; the module uses them at the
  top level (one EE) and as the suboptions of ``items`` (many).
- ``Lookups`` (one request per name, as the single form always did) and ``BulkLookups`` (one list
  request per kind and page for every item at once) give ``plan_present`` the objects it refers to.
- ``plan_present(module, params, existing, lookups)``: validate, pin, compare; returns the writes to
  send and the diff, nothing is sent yet. ``apply(module, plan)`` sends them (check mode aware).
- ``find_references(client, ees)``: what points at each EE, one list request per kind for all of them.
- ``run_bulk(module)``: ``items`` (+ ``prune``): plan every item, refuse before any write, then apply.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.eeforge.builder.plugins.module_utils._awx_client import (
    MAX_PAGE_SIZE,
    AwxError,
    pick,
    same_ref,
)
from ansible_collections.eeforge.builder.plugins.module_utils._awx_compare import changed_fields
from ansible_collections.eeforge.builder.plugins.module_utils._awx_kinds import REFERENCE_KINDS
from ansible_collections.eeforge.builder.plugins.module_utils._awx_module import Plan
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import ImageRefError, split_ref

KIND = "execution environment"
ENDPOINT = "execution_environments/"

ITEM_ARGSPEC = dict(
    name=dict(type="str", required=True),
    new_name=dict(type="str"),
    image=dict(type="str"),
    pull=dict(type="str", choices=["", "always", "missing", "never"]),
    credential=dict(type="str"),
    organization=dict(type="str"),
    description=dict(type="str"),
    pin_digest=dict(type="bool", default=False),
    registry_username=dict(type="str"),
    registry_password=dict(type="str", no_log=True),
    auth_file=dict(type="path", aliases=["registry_auth_file"]),
    tls_verify=dict(type="bool", aliases=["registry_tls_verify"]),
    force=dict(type="bool", default=False),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)
ITEM_RULES = dict(
    required_if=[("pin_digest", True, ("image",))],
    required_together=[("registry_username", "registry_password")],
    mutually_exclusive=[("registry_password", "auth_file")],
)


def _summary(obj, field):
    return ((obj or {}).get("summary_fields") or {}).get(field) or {}


def view(obj, names=None):
    """The managed fields of an EE as the diff shows them; relations by name (``names`` overrides)."""
    if obj is None:
        return {}
    names = names or {}
    result = dict(name=obj.get("name"), image=obj.get("image"), pull=obj.get("pull") or "",
                  description=obj.get("description") or "")
    for field in ("organization", "credential"):
        result[field] = names[field] if field in names else _summary(obj, field).get("name")
    return result


def _is_registry(obj):
    return obj.get("kind") == "registry"


def choose_credential(candidates, value, org_id, who):
    """The Container Registry credential ``value`` among ``candidates``; the one in ``org_id`` if several."""
    registry = [obj for obj in candidates if _is_registry(obj)]
    if not value.isdigit() and org_id is not None:
        named = [obj for obj in registry if obj.get("name") == value]
        in_org = [obj for obj in named if obj.get("organization") == org_id]
        if len(in_org) == 1 or len(named) == 1:
            return (in_org or named)[0]
    return pick(registry, value, "Container Registry credential", who)


class Lookups(object):
    """Objects an EE refers to, one request each (the single form: a run touches one EE)."""

    def __init__(self, client):
        self.client = client

    def existing(self, name, new_name):
        found = self.client.find(ENDPOINT, name)
        if not found and new_name:
            found = self.client.find(ENDPOINT, new_name)
        return found[0] if found else None

    def organization(self, value):
        return self.client.resolve("organizations/", value, "organization")

    def credential(self, value, org_id):
        client = self.client
        if value.isdigit() or org_id is None:
            return client.resolve("credentials/", value, "Container Registry credential", match=_is_registry)
        return choose_credential(client.find("credentials/", value), value, org_id, client.settings.who())


class BulkLookups(object):
    """The same answers for many EEs, from one list request per kind and page (``name__in``/``id__in``)."""

    def __init__(self, client):
        self.client = client
        self.ees = {}
        self.orgs = []
        self.creds = []

    def fetch_ees(self, names):
        self.ees.update((obj["name"], obj) for obj in self.client.list_in(ENDPOINT, names, ids=False))

    def add_ees(self, objects):
        self.ees.update((obj["name"], obj) for obj in objects)

    def fetch_relations(self, orgs, creds):
        if orgs:
            self.orgs = self.client.list_in("organizations/", orgs)
        if creds:
            self.creds = self.client.list_in("credentials/", creds)

    def existing(self, name, new_name):
        return self.ees.get(name) or (self.ees.get(new_name) if new_name else None)

    def organization(self, value):
        return pick(self.orgs, value, "organization", self.client.settings.who())

    def credential(self, value, org_id):
        return choose_credential(self.creds, value, org_id, self.client.settings.who())


def validate_image(module, name, image):
    """Parse the image reference the way podman does; fail (before any AWX call) when it is not valid."""
    try:
        return split_ref(image, require_tag="@" not in image)
    except ImageRefError as error:
        module.fail_action("register", KIND, name, str(error))


def pinned_image(module, params, name, image, ref):
    """``(image@digest, digest)`` for ``image``, resolved in the registry."""
    if ref.digest:
        return image, ref.digest
    # Loaded for pin_digest only: the registry client (and the command runner under it) costs every other
    # task of a loop over many EEs its import time.
    from ansible_collections.eeforge.builder.plugins.module_utils._registry import (  # pylint: disable=import-outside-toplevel
        RegistryError,
        resolve_digest,
    )
    try:
        digest = resolve_digest(module, str(ref), username=params["registry_username"],
                                password=params["registry_password"], auth_file=params["auth_file"],
                                tls_verify=params["tls_verify"])
    except RegistryError as error:
        cause = str(error)
        if cause.startswith("Failed to "):
            cause = "could not " + cause[len("Failed to "):]
        module.fail_action("pin", KIND, name, cause)
    if not digest:
        module.fail_action("pin", KIND, name, "image '%s' does not exist in its registry" % image,
                           "Push it first, or check the repository and tag")
    # The name as the task wrote it (no docker.io/library/ added), without the tag.
    base = image[:-(len(ref.tag) + 1)] if ref.tag and image.endswith(":" + ref.tag) else image
    return "%s@%s" % (base, digest), digest


def checked_image(module, params, name):
    """``(image, digest)`` to register: validated and, with pin_digest, pinned (before AWX is called)."""
    image = params["image"]
    if image is None:
        return None, None
    ref = validate_image(module, name, image)
    if params["pin_digest"]:
        return pinned_image(module, params, name, image, ref)
    return image, None


def _org_differs(params, existing):
    return existing is None or not same_ref(params["organization"], existing.get("organization"),
                                            _summary(existing, "organization").get("name"))


def _cred_differs(params, existing):
    value = params["credential"]
    return value not in (None, "") and (existing is None or not same_ref(
        value, existing.get("credential"), _summary(existing, "credential").get("name")))


def relation_lookups(params, existing):
    """``(organization, credential)``: the values ``resolve_relations`` will look up (None: no lookup)."""
    org = params["organization"] if params["organization"] and _org_differs(params, existing) else None
    return org, params["credential"] if _cred_differs(params, existing) else None


def resolve_relations(module, params, existing, name, lookups):
    """``{'organization': id|None, 'credential': id|None}`` for the fields that differ, plus names for the diff."""
    wanted, names = {}, {}
    org_id = existing.get("organization") if existing else None
    with module.failing("update" if existing else "create", KIND, name):
        if _org_differs(params, existing):
            org = lookups.organization(params["organization"]) if params["organization"] else None
            wanted["organization"] = org["id"] if org else None
            names["organization"] = org["name"] if org else None
            org_id = wanted["organization"]
        if params["credential"] == "":
            wanted["credential"] = None
            names["credential"] = None
        elif _cred_differs(params, existing):
            found = lookups.credential(params["credential"], org_id)
            wanted["credential"] = found["id"]
            names["credential"] = found["name"]
    return wanted, names


def ee_plan(name, action, existing=None, payload=None, before=None, after=None, image=None, digest=None,
            references=None):
    """A ``Plan`` for one EE, with the image (after pinning), its digest and, to delete, its references."""
    return Plan(name, action, existing, payload, before, after, image=image, digest=digest, references=references)


def plan_present(module, params, existing, lookups, image, digest):
    """The plan for one EE with state present (nothing sent; fails the task on bad input).

    ``image``/``digest``: what ``checked_image`` returned, before AWX was called."""
    name = params["name"]
    wanted = dict((field, params[field]) for field in ("pull", "description") if params[field] is not None)
    if image is not None:
        wanted["image"] = image
    elif existing is None:
        module.fail_action("create", KIND, name, "image is not set", "Give the image reference, e.g. registry/ee:1.0")
    if existing is None or params["new_name"]:
        wanted["name"] = params["new_name"] or name
    relations, names = resolve_relations(module, params, existing, name, lookups)
    wanted.update(relations)
    if existing is None:
        return ee_plan(wanted["name"], "create", None, wanted, {}, view(wanted, names), image, digest)
    payload = changed_fields(existing, wanted)
    not_pull = sorted(set(payload) - set(["pull"]))
    if existing.get("managed") and not_pull:
        module.fail_action("update", KIND, existing["name"],
                           "it is managed by AWX, which only lets 'pull' change (not %s)" % ", ".join(not_pull),
                           "Change only pull, or register the image as another execution environment")
    predicted = dict(existing)
    predicted.update(payload)
    return ee_plan(existing["name"], "update" if payload else "none", existing, payload, view(existing),
                   view(predicted, names), image, digest)


def describe_references(references):
    """``job_template 'deploy' (execution_environment), ...`` for messages."""
    return ", ".join("%s '%s' (%s)" % (ref["type"], ref["name"], ref["field"]) for ref in references)


def plan_absent(module, existing, references, force):
    """The plan for one EE to delete; refuses a managed or (without ``force``) a referenced one."""
    if existing is None:
        return None
    if existing.get("managed"):
        module.fail_action("delete", KIND, existing["name"], "it is managed by AWX",
                           "AWX recreates managed execution environments; leave it in place")
    if references and not force:
        module.fail_action("delete", KIND, existing["name"],
                           "it is used by %s, which AWX would silently set to null" % describe_references(references),
                           "Point them at another execution environment first, or set force: true",
                           references=references)
    return ee_plan(existing["name"], "delete", existing, before=view(existing), references=references)


def find_references(module, ee_ids):
    """``{ee_id: [{type, id, name, field}]}``: the objects of every kind of ``_awx_kinds.REFERENCE_KINDS``
    (job templates, workflow nodes, organization and project defaults, inventory sources; one list filter
    per kind, contract fleet/111-115) and the global default (67) that use each EE; one request per kind
    for all of them (``<field>__in``)."""
    client = module.client
    refs = dict((ee_id, []) for ee_id in ee_ids)
    if not refs:
        return refs
    ids = ",".join(str(ee_id) for ee_id in sorted(refs))
    for _kind, endpoint, field, obj_type in REFERENCE_KINDS:
        query = {"%s__in" % field: ids, "page_size": MAX_PAGE_SIZE}
        for item in client.list(endpoint, **query):
            if item.get(field) in refs:
                refs[item[field]].append(dict(type=obj_type, id=item.get("id"),
                                              name=item.get("name") or item.get("identifier"), field=field))
    try:
        default = client.get("settings/system/").get("DEFAULT_EXECUTION_ENVIRONMENT")
    except AwxError as error:
        if error.status != 403:
            raise
        module.warn("Could not read DEFAULT_EXECUTION_ENVIRONMENT (%s); only a superuser may read system settings."
                    % error.cause)
    else:
        if default in refs:
            refs[default].append(dict(type="setting", id=None, name="DEFAULT_EXECUTION_ENVIRONMENT", field="value"))
    return refs


def result_of(module, plan, pin_digest):
    """The per-item result (also the single form's extra return keys)."""
    obj = plan.obj
    result = dict(name=plan.name, action=plan.action, changed=plan.action != "none",
                  id=(obj or {}).get("id"),
                  url=module.client.absolute_url((obj or {}).get("url")) if obj and obj.get("url") else None)
    if plan.action == "delete":
        result["references"] = plan.references or []
    else:
        result["image"] = (obj or plan.payload).get("image") or (plan.existing or {}).get("image")
        result["previous_image"] = plan.existing.get("image") if plan.existing else None
        if pin_digest:
            result["digest"] = plan.digest
    return result


def run_bulk(module):
    """Converge every EE of ``items`` (and, with ``prune``, delete the selected EEs not listed) in one run."""
    params = module.params
    items = params["items"]
    names = [item["name"] for item in items]
    duplicates = sorted(set(name for name in names if names.count(name) > 1))
    if duplicates:
        module.fail_action("converge", KIND, duplicates[0], "it is listed %d times in items" % names.count(duplicates[0]),
                           "List each execution environment once")
    listed = set(names) | set(item["new_name"] for item in items if item["new_name"])
    prefix = params["prune_prefix"]
    if params["prune"] and prefix == "":
        module.fail_action("prune", KIND, "", "prune_prefix is empty, which selects every execution environment",
                           "Give a name prefix, or prune_organization")

    images = dict((item["name"], checked_image(module, item, item["name"])) for item in items
                  if item["state"] == "present")
    lookups = BulkLookups(module.client)
    module.authenticate_once()
    with module.failing("look up", KIND, ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")):
        # With a name prefix as the only selector and every listed name under it, one listing serves both.
        one_listing = params["prune"] and not params["prune_organization"] and all(
            name.startswith(prefix) for name in listed)
        if one_listing:
            candidates = module.client.list(ENDPOINT, name__startswith=prefix, page_size=MAX_PAGE_SIZE)
            lookups.add_ees(candidates)
        else:
            lookups.fetch_ees(sorted(listed))
        existing = dict((item["name"], lookups.existing(item["name"], item["new_name"])) for item in items)
        orgs, creds = set(), set()
        for item in items:
            if item["state"] == "present":
                org, cred = relation_lookups(item, existing[item["name"]])
                orgs.update([org] if org else [])
                creds.update([cred] if cred else [])
        if params["prune_organization"]:
            orgs.add(params["prune_organization"])
        lookups.fetch_relations(sorted(orgs, key=str), sorted(creds, key=str))
        doomed = []
        if params["prune"]:
            if not one_listing:
                query = dict(page_size=MAX_PAGE_SIZE)
                if prefix:
                    query["name__startswith"] = prefix
                if params["prune_organization"]:
                    query["organization"] = lookups.organization(params["prune_organization"])["id"]
                candidates = module.client.list(ENDPOINT, **query)
            doomed = sorted((obj for obj in candidates if obj["name"] not in listed and not obj.get("managed")),
                            key=lambda obj: obj["name"])
        absent = [existing[item["name"]] for item in items if item["state"] == "absent" and existing[item["name"]]]
        references = find_references(module, [obj["id"] for obj in absent + doomed])

    plans = []
    for item in items:
        found = existing[item["name"]]
        if item["state"] == "absent":
            plan = plan_absent(module, found, references.get((found or {}).get("id")), item["force"])
            plans.append((item, plan or ee_plan(item["name"], "none")))
        else:
            plans.append((item, plan_present(module, item, found, lookups, *images[item["name"]])))
    refused = [obj for obj in doomed if references[obj["id"]] and not params["force"]]
    if refused:
        users = ["%s is used by %s" % ("it" if len(refused) == 1 else "'%s'" % obj["name"],
                                       describe_references(references[obj["id"]])) for obj in refused]
        module.fail_action("prune", KIND if len(refused) == 1 else KIND + "s", ", ".join(obj["name"] for obj in refused),
                           "; ".join(users) + ", which AWX would silently set to null",
                           "Point them at another execution environment first, or set force: true",
                           references=dict((obj["name"], references[obj["id"]]) for obj in refused))
    pruned = [plan_absent(module, obj, references[obj["id"]], True) for obj in doomed]

    results, diffs = [], []
    order = [plan for item, plan in plans if plan.action == "update"] + \
        [plan for item, plan in plans if plan.action == "create"] + \
        [plan for item, plan in plans if plan.action == "delete"] + pruned
    module.applied = []
    for plan in order:
        module.apply(plan, ENDPOINT, KIND)
    for item, plan in plans:
        results.append(result_of(module, plan, item.get("pin_digest")))
        if plan.action != "none":
            diffs.append(plan.diff("%s '%s'" % (KIND, plan.name)))
    for plan in pruned:
        diffs.append(plan.diff("%s '%s'" % (KIND, plan.name)))
    module.exit_bulk(results, diffs, pruned=[dict(name=plan.name, id=plan.existing["id"], references=plan.references)
                                             for plan in pruned])
