# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which AWX objects use which execution environment (EE), and the state of each EE's image.

Pure logic over a ``Snapshot`` of AWX: every object of each kind read with one list request per
page (``page_size`` 200, the most AWX 24.6.1 returns: fleet exchanges 103 and 108), never one
request per object. The snapshot serves the resolver of ``_awx_resolve`` through its read interface
(``AwxObjects``), so "what would run in this EE" is AWX's own order, computed once, in one place.

- Direct references, one field per kind (the filters of fleet exchanges 111-115 name the same
  fields): job templates' ``execution_environment``, workflow nodes' ``execution_environment``
  (a launch prompt), organizations' and projects' ``default_environment``, inventory sources'
  ``execution_environment``, and the ``DEFAULT_EXECUTION_ENVIRONMENT`` setting (only visible in
  /api/v2/settings/system/, exchange 141).
- Resolved users: the templates whose next job would run in the EE through AWX's resolution
  without naming it (a job template without an EE of its own, a workflow node that prompts none,
  an inventory source without one, every project's updates in the control plane EE).
- ``unused``: neither.
- Image state (``image_state``): present, missing or unknown (with the reason) in its registry,
  the digest it serves now, and whether the reference is pinned (``@sha256:``) or a mutable tag.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.eeforge.builder.plugins.module_utils._awx_client import MAX_PAGE_SIZE
from ansible_collections.eeforge.builder.plugins.module_utils._awx_resolve import AwxObjects, EEResolver
from ansible_collections.eeforge.builder.plugins.module_utils._awx_kinds import REFERENCE_KINDS
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import ImageRefError, split_ref

# AWX caps page_size at 200 without an error (fleet/103, fleet/108): the fewest requests per list.
PAGE_SIZE = MAX_PAGE_SIZE

# Read only for the resolution (a job's inventory organization, a workflow's inventory prompt).
SUPPORT_KINDS = (("inventories", "inventories/"), ("workflows", "workflow_job_templates/"))
EE_ENDPOINT = "execution_environments/"
SETTINGS_ENDPOINT = "settings/system/"
SETTING = "DEFAULT_EXECUTION_ENVIRONMENT"


def _id(value):
    return value.get("id") if isinstance(value, dict) else value


class Snapshot(AwxObjects):
    """Every object of the kinds above, read once; the resolver's ``AwxObjects`` over them.

    ``lister(endpoint)`` returns every object of a list endpoint (the module passes the client's
    paged ``list`` with ``page_size=PAGE_SIZE``); ``settings_reader()`` returns the system settings
    or None when this user may not read them.
    """

    def __init__(self, lister, settings_reader):
        self.lists = {EE_ENDPOINT: list(lister(EE_ENDPOINT))}
        for _kind, endpoint, _field, _type in REFERENCE_KINDS:
            self.lists[endpoint] = list(lister(endpoint))
        for _kind, endpoint in SUPPORT_KINDS:
            self.lists[endpoint] = list(lister(endpoint))
        self.settings = settings_reader()
        self.index = {}
        for endpoint, objects in self.lists.items():
            for obj in objects:
                self.index[(endpoint, obj.get("id"))] = obj

    # -- AwxObjects ----------------------------------------------------------------------------
    def get(self, endpoint, ident):
        return self.index.get((endpoint, _id(ident)))

    def execution_environments(self):
        return self.lists[EE_ENDPOINT]

    def system_settings(self):
        return self.settings

    # -- helpers -------------------------------------------------------------------------------
    def objects(self, endpoint):
        return self.lists[endpoint]

    def name_of(self, endpoint, ident):
        obj = self.get(endpoint, ident)
        return obj.get("name") if obj else None

    def global_default(self):
        """The EE id of DEFAULT_EXECUTION_ENVIRONMENT, None when unset; ``False`` when unreadable."""
        if self.settings is None:
            return False
        return _id(self.settings.get(SETTING))


def find_ees(snapshot, names):
    """The EEs named (a name or an id each), in the order given; raises ``LookupError`` listing the misses."""
    ees = snapshot.execution_environments()
    if not names:
        return list(ees)
    found, missing = [], []
    for value in names:
        text = str(value)
        match = [ee for ee in ees if ee.get("name") == text]
        if not match and text.isdigit():
            match = [ee for ee in ees if ee.get("id") == int(text)]
        if match:
            if match[0] not in found:
                found.append(match[0])
        else:
            missing.append(text)
    if missing:
        raise LookupError(missing)
    return found


def _node_ref(snapshot, node):
    workflow_id = _id(node.get("workflow_job_template"))
    summary = node.get("summary_fields") or {}
    workflow_name = (summary.get("workflow_job_template") or {}).get("name") \
        or snapshot.name_of("workflow_job_templates/", workflow_id)
    template = summary.get("unified_job_template") or {}
    template_id = _id(node.get("unified_job_template"))
    job_template = snapshot.get("job_templates/", template_id)
    ref = {"type": "workflow_job_template_node", "id": node.get("id"), "identifier": node.get("identifier"),
           "workflow": {"id": workflow_id, "name": workflow_name},
           "unified_job_template": {"id": template_id, "name": template.get("name")
                                    or (job_template or {}).get("name")}}
    # AWX keeps the EE on the node but ignores it at launch when the job template does not ask for it.
    if job_template is not None:
        ref["prompt_ignored"] = not job_template.get("ask_execution_environment_on_launch")
    return ref


def _plain_ref(snapshot, kind, obj):
    ref = {"type": dict((k, t) for k, _e, _f, t in REFERENCE_KINDS)[kind], "id": obj.get("id"),
           "name": obj.get("name")}
    if kind == "inventory_sources":
        inventory_id = _id(obj.get("inventory"))
        ref["inventory"] = {"id": inventory_id, "name": snapshot.name_of("inventories/", inventory_id)}
    elif kind in ("job_templates", "projects"):
        ref["organization"] = _id(obj.get("organization"))
    return ref


def direct_references(snapshot):
    """``{ee_id: {kind: [ref, ...]}}`` over every object of the snapshot."""
    refs = {}
    for kind, endpoint, field, _type in REFERENCE_KINDS:
        for obj in snapshot.objects(endpoint):
            ee_id = _id(obj.get(field))
            if ee_id is None:
                continue
            entry = _node_ref(snapshot, obj) if kind == "workflow_nodes" else _plain_ref(snapshot, kind, obj)
            refs.setdefault(ee_id, {}).setdefault(kind, []).append(entry)
    return refs


def _decider(result):
    for entry in result["chain"]:
        if entry["selected"]:
            obj = entry["object"] or {}
            return {"source": entry["source"], "object": {"type": obj.get("type"), "id": obj.get("id"),
                                                          "name": obj.get("name")}, "field": entry["field"]}
    return None


def resolved_users(snapshot, resolver):
    """``{ee_id: [user, ...]}``: what would run in each EE through AWX's resolution without naming it.

    A user is ``{type, id, name, job_type, source, decided_by}``; ``decided_by`` is the candidate that
    decided (``source``, ``object``, ``field``), e.g. the project whose ``default_environment`` it is.
    """
    users = {}

    def add(obj_type, obj, result, name=None):
        ee = result.get("execution_environment")
        if ee is None or result.get("source") in ("template", "workflow_node", "launch"):
            return
        decided = _decider(result)
        users.setdefault(ee["id"], []).append({
            "type": obj_type, "id": obj.get("id"), "name": name if name is not None else obj.get("name"),
            "job_type": result["job_type"], "source": result["source"],
            "decided_by": decided})

    workflows = dict((wf.get("id"), wf) for wf in snapshot.objects("workflow_job_templates/"))
    for template in snapshot.objects("job_templates/"):
        add("job_template", template, resolver.for_job_template(template))
    for node in snapshot.objects("workflow_job_template_nodes/"):
        workflow = workflows.get(_id(node.get("workflow_job_template")))
        result = resolver.for_workflow_node(node, workflow=workflow)
        if result["job_type"] in ("job", "inventory_update", "project_update"):
            label = "%s/%s" % ((workflow or {}).get("name") or _id(node.get("workflow_job_template")),
                               node.get("identifier"))
            add("workflow_job_template_node", node, result, name=label)
    for source in snapshot.objects("inventory_sources/"):
        add("inventory_source", source, resolver.for_inventory_source(source))
    for project in snapshot.objects("projects/"):
        add("project", project, resolver.for_project(project))
    return users


def ee_view(ee, snapshot):
    org_id = _id(ee.get("organization"))
    return {
        "id": ee.get("id"), "name": ee.get("name"), "image": ee.get("image"), "pull": ee.get("pull", ""),
        "managed": bool(ee.get("managed")),
        "organization": None if org_id is None else {"id": org_id,
                                                     "name": snapshot.name_of("organizations/", org_id)},
        "credential": _id(ee.get("credential")),
    }


def usage_report(snapshot, names=None, global_job_ee_images=None):
    """One entry per EE (all, or those ``names``): ``references``, ``resolved``, ``unused``.

    Raises ``LookupError`` (the names not found) when a name matches no EE.
    """
    resolver = EEResolver(snapshot, global_job_ee_images) if global_job_ee_images is not None \
        else EEResolver(snapshot)
    wanted = find_ees(snapshot, names)
    refs = direct_references(snapshot)
    users = resolved_users(snapshot, resolver)
    default_id = snapshot.global_default()
    report = []
    for ee in wanted:
        ee_refs = refs.get(ee["id"], {})
        references = dict((kind, ee_refs.get(kind, [])) for kind, _e, _f, _t in REFERENCE_KINDS)
        references["global_default"] = None if default_id is False else default_id == ee["id"]
        resolved = users.get(ee["id"], [])
        entry = ee_view(ee, snapshot)
        direct = any(references[kind] for kind, _e, _f, _t in REFERENCE_KINDS) or references["global_default"]
        unused = not direct and not resolved
        if unused and references["global_default"] is None:
            unused = None  # it may be the global default, which this user cannot read
        entry.update(references=references, resolved=resolved, unused=unused,
                     reference_count=sum(len(references[kind]) for kind, _e, _f, _t in REFERENCE_KINDS)
                     + (1 if references["global_default"] else 0))
        report.append(entry)
    return report


# ---------------------------------------------------------------------------------------------
# Image state in the registry
# ---------------------------------------------------------------------------------------------
class ImageCheckError(Exception):
    """The registry could not say whether an image exists (``kind``: unauthorized, unreachable, tls, error)."""

    def __init__(self, message, kind="error"):
        super(ImageCheckError, self).__init__(message)
        self.kind = kind


def image_state(image, inspect):
    """The state of ``image`` in its registry. ``inspect(reference)`` returns the manifest digest the
    registry serves for that reference, None when it has none, or raises ``ImageCheckError``.

    Returns ``state`` (present | missing | unknown), ``reason`` (why missing or unknown), ``digest``
    (served now), ``pinned`` (the reference names a digest), ``mutable`` (a tag only), ``tag``, and
    for a reference with both a tag and a digest ``tag_digest`` and ``tag_moved``.
    """
    out = {"image": image, "state": "unknown", "reason": None, "digest": None, "pinned": False,
           "mutable": False, "tag": None, "tag_digest": None, "tag_moved": None, "error_kind": None}
    try:
        ref = split_ref(image or "")
    except ImageRefError as error:
        out.update(reason=str(error), error_kind="invalid")
        return out
    out.update(pinned=ref.digest is not None, mutable=ref.digest is None, tag=ref.tag)
    checked = "%s@%s" % (ref.name, ref.digest) if ref.digest else ref.tagged
    try:
        digest = inspect(checked)
    except ImageCheckError as error:
        out.update(reason=str(error), error_kind=error.kind)
        return out
    if digest is None:
        out.update(state="missing", reason=("the registry has no manifest %s in %s" % (ref.digest, ref.name))
                   if ref.digest else "the registry has no tag '%s' in %s" % (ref.tag or "latest", ref.name))
        return out
    out.update(state="present", digest=ref.digest or digest)
    if ref.digest and ref.tag:
        try:
            tag_digest = inspect(ref.tagged)
        except ImageCheckError as error:
            out["reason"] = "tag '%s' could not be checked: %s" % (ref.tag, error)
            return out
        out.update(tag_digest=tag_digest, tag_moved=tag_digest != ref.digest)
        if tag_digest is None:
            out["reason"] = "tag '%s' no longer exists; the pinned digest does" % ref.tag
        elif tag_digest != ref.digest:
            out["reason"] = "tag '%s' has moved to %s since the EE was pinned" % (ref.tag, tag_digest)
    return out


def summarize(report, checked_images):
    """Names of the EEs per finding: unused, referenced, and with ``checked_images`` each image state."""
    def names(test):
        return [entry["name"] for entry in report if test(entry)]

    summary = {
        "execution_environments": len(report),
        "unused": names(lambda entry: entry["unused"] is True),
        "referenced": names(lambda entry: entry["reference_count"] > 0),
    }
    if checked_images:
        for state in ("present", "missing", "unknown"):
            summary["images_%s" % state] = names(lambda entry, s=state: entry["image_state"]["state"] == s)
        summary["mutable_tags"] = names(lambda entry: entry["image_state"]["mutable"])
        summary["moved_tags"] = names(lambda entry: bool(entry["image_state"]["tag_moved"]))
    return summary


# ---------------------------------------------------------------------------------------------
# Moving every reference of one EE to another (awx_ee_assignment's replace)
# ---------------------------------------------------------------------------------------------
def referrer_queries(ee_id):
    """``(kind, endpoint, query)`` listing the objects that name EE ``ee_id``: one filter per kind
    (fleet exchanges 111-115), ``page_size`` as large as AWX allows."""
    return [(kind, endpoint, {field: ee_id, "page_size": PAGE_SIZE})
            for kind, endpoint, field, _type in REFERENCE_KINDS]


def _label(kind, obj):
    if kind == "workflow_nodes":
        workflow = ((obj.get("summary_fields") or {}).get("workflow_job_template") or {}).get("name") \
            or _id(obj.get("workflow_job_template"))
        return "%s/%s" % (workflow, obj.get("identifier"))
    return obj.get("name")


def replace_plan(referrers, settings, from_id, to_id):
    """The writes that move every reference of EE ``from_id`` to ``to_id`` (None clears them).

    ``referrers`` is ``{kind: [objects]}`` as the filters of ``referrer_queries`` listed them;
    ``settings`` the system settings (None when unreadable: the global default is left alone).
    Each change is ``{kind, type, id, name, url, field, payload}``; nothing when ``from_id == to_id``.
    """
    if from_id == to_id:
        return []
    changes = []
    for kind, _endpoint, field, obj_type in REFERENCE_KINDS:
        for obj in referrers.get(kind, []):
            if _id(obj.get(field)) != from_id:
                continue
            changes.append({"kind": kind, "type": obj_type, "id": obj.get("id"), "name": _label(kind, obj),
                            "url": obj.get("url"), "field": field, "payload": {field: to_id}})
    if settings is not None and _id(settings.get(SETTING)) == from_id:
        changes.append({"kind": "global_default", "type": "setting", "id": None, "name": SETTING,
                        "url": SETTINGS_ENDPOINT, "field": SETTING, "payload": {SETTING: to_id}})
    return changes


def replace_diff(changes, from_name, to_name):
    """``(before, after)``: per kind, each object's EE name before and after (the global default as one value)."""
    before, after = {}, {}
    for change in changes:
        if change["kind"] == "global_default":
            before["global_default"], after["global_default"] = from_name, to_name
            continue
        key = change["name"]
        if key in before.get(change["kind"], {}):  # two objects of one kind with the same name
            key = "%s (id %s)" % (key, change["id"])
        before.setdefault(change["kind"], {})[key] = from_name
        after.setdefault(change["kind"], {})[key] = to_name
    return before, after
