# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which execution environment (EE) AWX would run a job in, and the chain of candidates that decided it.

Pure logic over AWX objects (the dicts the API returns); the objects are read through an
``AwxObjects``-like reader, so the unit tests need no server. The order is AWX 24.6.1's
(``ExecutionEnvironmentMixin.resolve_execution_environment`` in awx/main/models/mixins.py and
``get_default_execution_environment`` in awx/main/utils/execution_environments.py), first match wins:

1. ``launch``: the EE given at launch (a job template prompt, kept only when the template has
   ``ask_execution_environment_on_launch``), or the ``execution_environment`` of an ad hoc command;
   ``workflow_node``: the EE a workflow node prompts its job template with (same condition).
2. ``template``: the EE of the template that spawns the job (job template or inventory source).
3. ``project``: the ``default_environment`` of the job's project (jobs only).
4. ``organization``: the ``default_environment`` of the job's organization (the template's).
5. ``inventory_organization``: the ``default_environment`` of the organization of the job's inventory.
6. ``global_setting``: the ``DEFAULT_EXECUTION_ENVIRONMENT`` setting (/api/v2/settings/system/).
7. ``global``: the newest global (no organization), unmanaged EE whose image is listed in AWX's
   ``GLOBAL_JOB_EXECUTION_ENVIRONMENTS`` (a server setting the API does not show), else the newest
   global unmanaged EE.

Project updates do not follow that order: they always run in the control plane EE (the newest global
*managed* EE, ``ProjectUpdate.resolve_execution_environment``); a project's ``default_environment`` is
for the jobs that use the project. Updates of a constructed inventory also run in the control plane EE.
Workflow jobs, approvals and system jobs run in no EE.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# AWX's default GLOBAL_JOB_EXECUTION_ENVIRONMENTS (awx/settings/defaults.py); the awx-operator and
# installers may set others. The API does not expose this setting, so it is an option.
DEFAULT_GLOBAL_JOB_EE_IMAGES = ("quay.io/ansible/awx-ee:latest",)

SOURCES = (
    "launch",
    "workflow_node",
    "template",
    "project",
    "organization",
    "inventory_organization",
    "global_setting",
    "global",
    "control_plane",
)

NO_EE_MESSAGE = "Job could not start because no Execution Environment could be found."


class AwxObjects(object):
    """What the resolver reads. The module implements it over the AWX client; tests over dicts.

    ``get(endpoint, ident)`` returns the object (``endpoint`` like ``'projects/'``) or None when it
    cannot be read; ``execution_environments()`` every EE the user can see; ``system_settings()``
    the /api/v2/settings/system/ document, or None when it cannot be read.
    """

    def get(self, endpoint, ident):
        raise NotImplementedError

    def execution_environments(self):
        raise NotImplementedError

    def system_settings(self):
        raise NotImplementedError


def ref(obj, obj_type=None):
    """``{type, id, name}`` of an AWX object (a node is named by its identifier)."""
    if obj is None:
        return None
    name = obj.get("name")
    if name is None:
        name = obj.get("identifier")
    return {"type": obj_type or obj.get("type"), "id": obj.get("id"), "name": name}


def ee_summary(ee):
    """What the module reports of an EE: id, name, image, pull, organization, managed."""
    if ee is None:
        return None
    return {
        "id": ee.get("id"),
        "name": ee.get("name"),
        "image": ee.get("image"),
        "pull": ee.get("pull", ""),
        "organization": ee.get("organization"),
        "managed": bool(ee.get("managed", False)),
    }


def _newest(ees):
    """AWX's ``.first()`` under ``ordering = ('-created',)``; ids break ties."""
    ordered = sorted(ees, key=lambda ee: (ee.get("created") or "", ee.get("id") or 0), reverse=True)
    return ordered[0] if ordered else None


def newest_global_job_ee(ees, images):
    """Newest global unmanaged EE whose image is one of ``images`` (exact string match, as AWX)."""
    return _newest([ee for ee in ees if ee.get("organization") is None and not ee.get("managed")
                    and ee.get("image") in images])


def newest_global_ee(ees):
    """Newest global unmanaged EE."""
    return _newest([ee for ee in ees if ee.get("organization") is None and not ee.get("managed")])


def control_plane_ee(ees):
    """AWX's ``get_control_plane_execution_environment()``: newest global managed EE."""
    return _newest([ee for ee in ees if ee.get("organization") is None and ee.get("managed")])


def _id(value):
    """An object reference as AWX gives it (an id, or None)."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def _placeholder(obj_type, ident, name=None):
    return {"type": obj_type, "id": ident, "name": name}


class EEResolver(object):
    """Builds the chain for each kind of job and picks the EE AWX would use.

    Every ``for_*`` method returns a dict: ``job_type``, ``execution_environment`` (``ee_summary``
    or None), ``source`` (one of ``SOURCES`` or None), ``chain`` (every candidate in AWX's order,
    including those after the selected one: ``source``, ``object``, ``field``,
    ``execution_environment``, ``usable``, ``selected``, ``note``) and ``notes``.
    """

    def __init__(self, objects, global_job_ee_images=DEFAULT_GLOBAL_JOB_EE_IMAGES):
        self.objects = objects
        self.global_job_ee_images = tuple(global_job_ee_images or ())
        self._ees = None

    # -- reading -------------------------------------------------------------------------------
    def ees(self):
        if self._ees is None:
            self._ees = list(self.objects.execution_environments())
        return self._ees

    def ee(self, ident):
        """The EE with id ``ident`` (from the list, else read on its own); None when unreadable."""
        ident = _id(ident)
        if ident is None:
            return None
        for ee in self.ees():
            if ee.get("id") == ident:
                return ee
        return self.objects.get("execution_environments/", ident)

    def get(self, endpoint, ident):
        ident = _id(ident)
        if ident is None:
            return None
        return self.objects.get(endpoint, ident)

    # -- chain entries -------------------------------------------------------------------------
    def _entry(self, source, obj, field, ee_id, usable=True, note=None):
        """One candidate. ``obj`` is a ``ref()``; ``ee_id`` the EE it names (or None)."""
        ee_id = _id(ee_id)
        ee = None
        if ee_id is not None:
            found = self.ee(ee_id)
            if found is None:
                ee = {"id": ee_id, "name": None, "image": None, "pull": None, "organization": None, "managed": None}
                usable = False
                note = note or "EE %s cannot be read by this user" % ee_id
            else:
                ee = ee_summary(found)
        elif note is None:
            note = "not set"
        return {
            "source": source,
            "object": obj,
            "field": field,
            "execution_environment": ee,
            "usable": bool(usable and ee is not None),
            "selected": False,
            "note": note,
        }

    def _object_entry(self, source, obj_type, ident, field, missing_note):
        """A candidate read from object ``ident`` of ``obj_type`` (a project, an organization)."""
        if ident is None:
            return self._entry(source, None, field, None, usable=False, note=missing_note)
        obj = self.get(_ENDPOINTS[obj_type], ident)
        if obj is None:
            return self._entry(source, _placeholder(obj_type, _id(ident)), field, None, usable=False,
                               note="%s %s cannot be read by this user" % (obj_type, _id(ident)))
        return self._entry(source, ref(obj, obj_type), field, obj.get(field))

    def _global_entries(self):
        settings = self.objects.system_settings()
        setting = _placeholder("setting", None, "DEFAULT_EXECUTION_ENVIRONMENT")
        if settings is None:
            entries = [self._entry("global_setting", setting, "DEFAULT_EXECUTION_ENVIRONMENT", None, usable=False,
                                   note="unknown: /api/v2/settings/system/ cannot be read by this user "
                                        "(a superuser or system auditor can)")]
        else:
            entries = [self._entry("global_setting", setting, "DEFAULT_EXECUTION_ENVIRONMENT",
                                   settings.get("DEFAULT_EXECUTION_ENVIRONMENT"))]
        listed = newest_global_job_ee(self.ees(), self.global_job_ee_images)
        entries.append(self._entry(
            "global", _placeholder("setting", None, "GLOBAL_JOB_EXECUTION_ENVIRONMENTS"), "image",
            listed.get("id") if listed else None,
            note=None if listed else "no global unmanaged EE has an image listed there (%s)"
            % ", ".join(self.global_job_ee_images)))
        newest = newest_global_ee(self.ees())
        entries.append(self._entry(
            "global", _placeholder("execution_environment", None, "newest global unmanaged EE"), "created",
            newest.get("id") if newest else None, note=None if newest else "no global unmanaged EE exists"))
        return entries

    def _control_plane_entry(self):
        cp = control_plane_ee(self.ees())
        return self._entry(
            "control_plane", _placeholder("execution_environment", None, "control plane EE (newest global managed EE)"),
            "managed", cp.get("id") if cp else None,
            note=None if cp else "no global managed EE is visible: AWX would fail with 'Failed to find default "
                                 "control plane EE'")

    def _organization_entries(self, organization_id, inventory, inventory_note=None):
        """The job's organization, then the organization of its inventory."""
        entries = []
        if organization_id is not None:
            entries.append(self._object_entry("organization", "organization", organization_id,
                                              "default_environment", None))
        if inventory is None:
            entries.append(self._entry("inventory_organization", None, "default_environment", None, usable=False,
                                       note=inventory_note or "no inventory"))
        else:
            entries.append(self._object_entry(
                "inventory_organization", "organization", inventory.get("organization"), "default_environment",
                "inventory '%s' has no organization" % inventory.get("name")))
        return entries

    def _finish(self, job_type, chain, notes=None):
        selected = None
        for entry in chain:
            if entry["usable"]:
                entry["selected"] = True
                selected = entry
                break
        notes = list(notes or [])
        if selected is None and chain:
            notes.append("No candidate is set: AWX would fail the job with '%s'" % NO_EE_MESSAGE)
        return {
            "job_type": job_type,
            "execution_environment": selected["execution_environment"] if selected else None,
            "source": selected["source"] if selected else None,
            "chain": chain,
            "notes": notes,
        }

    # -- job templates and workflow nodes --------------------------------------------------------
    def for_job_template(self, template, launch_ee=None, node=None, workflow=None):
        """A job launched now from ``template``, with ``launch_ee`` (an EE id) given at launch, or
        spawned by the workflow ``node`` of ``workflow`` (the workflow job template)."""
        asks_ee = bool(template.get("ask_execution_environment_on_launch"))
        ignored = ("ignored: job template '%s' does not ask for the EE at launch "
                   "(ask_execution_environment_on_launch is false)" % template.get("name"))
        chain = []
        if node is not None:
            node_ee = _id(node.get("execution_environment"))
            chain.append(self._entry("workflow_node", ref(node, "workflow_job_template_node"), "execution_environment",
                                     node_ee, usable=asks_ee, note=ignored if node_ee is not None and not asks_ee else None))
        elif launch_ee is not None:
            chain.append(self._entry("launch", _placeholder("launch", None, "execution_environment given at launch"),
                                     "execution_environment", launch_ee, usable=asks_ee,
                                     note=None if asks_ee else ignored + "; AWX lists it under ignored_fields"))
        chain.append(self._entry("template", ref(template, "job_template"), "execution_environment",
                                 template.get("execution_environment")))
        chain.append(self._object_entry("project", "project", template.get("project"), "default_environment",
                                        "the job template has no project"))
        inventory_id = template.get("inventory")
        inventory_note = None
        if template.get("ask_inventory_on_launch"):
            # Workflow-level prompts win over node prompts (WorkflowJobNode.get_job_kwargs).
            prompted = (workflow or {}).get("inventory") or (node or {}).get("inventory")
            if prompted is not None:
                inventory_id = prompted
            elif inventory_id is None:
                inventory_note = "the inventory is given at launch (ask_inventory_on_launch): unknown until then"
        inventory = self.get("inventories/", inventory_id)
        if inventory_id is not None and inventory is None:
            inventory_note = "inventory %s cannot be read by this user" % _id(inventory_id)
        chain.extend(self._organization_entries(template.get("organization"), inventory, inventory_note))
        chain.extend(self._global_entries())
        return self._finish("job", chain)

    def for_workflow_node(self, node, workflow=None):
        """The job that workflow ``node`` (of workflow job template ``workflow``) spawns."""
        ujt_id = _id(node.get("unified_job_template"))
        summary = (node.get("summary_fields") or {}).get("unified_job_template") or {}
        job_type = summary.get("unified_job_type", "job")
        if ujt_id is None:
            return self._finish("none", [], ["Node '%s' runs nothing (it has no unified_job_template)"
                                             % node.get("identifier")])
        if job_type == "job":
            template = self.get("job_templates/", ujt_id)
            if template is None:
                return self._finish("job", [], ["job template %s cannot be read by this user" % ujt_id])
            return self.for_job_template(template, node=node, workflow=workflow)
        if job_type == "project_update":
            project = self.get("projects/", ujt_id) or _placeholder("project", ujt_id, summary.get("name"))
            result = self.for_project(project)
        elif job_type == "inventory_update":
            source = self.get("inventory_sources/", ujt_id)
            if source is None:
                return self._finish("inventory_update", [], ["inventory source %s cannot be read by this user"
                                                             % ujt_id])
            result = self.for_inventory_source(source)
        else:
            result = self._finish(job_type, [], ["A %s node runs in no execution environment" % job_type])
        if node.get("execution_environment") is not None:
            result["notes"].append("The node's execution_environment is ignored: only job templates take it")
        return result

    # -- ad hoc commands, inventory updates, project updates -------------------------------------
    def for_ad_hoc_command(self, inventory, launch_ee=None):
        """An ad hoc command run now on ``inventory``, with ``launch_ee`` (or none) in its POST."""
        chain = [self._entry("launch", _placeholder("launch", None, "execution_environment of the ad hoc command"),
                             "execution_environment", launch_ee)]
        chain.extend(self._organization_entries(None, inventory))
        chain.extend(self._global_entries())
        return self._finish("ad_hoc_command", chain, [
            "Ad hoc commands have no template, no project and no organization: after their own EE comes "
            "the organization of the inventory"])

    def for_inventory_source(self, source):
        """An update of inventory source ``source``."""
        inventory = self.get("inventories/", source.get("inventory"))
        if source.get("source") == "constructed" or (inventory or {}).get("kind") == "constructed":
            return self._finish("inventory_update", [self._control_plane_entry()], [
                "Updates of a constructed inventory always run in the control plane EE"])
        chain = [self._entry("template", ref(source, "inventory_source"), "execution_environment",
                             source.get("execution_environment"))]
        organization = source.get("organization")
        if organization is None and inventory is not None:
            organization = inventory.get("organization")
        chain.extend(self._organization_entries(organization, inventory))
        chain.extend(self._global_entries())
        return self._finish("inventory_update", chain, [
            "Inventory updates have no project step (the project of an SCM source is not used)"])

    def for_project(self, project):
        """An update of ``project``: always the control plane EE, whatever ``default_environment`` says."""
        entry = self._control_plane_entry()
        cp_name = (entry["execution_environment"] or {}).get("name") or "the control plane EE"
        default_id = _id(project.get("default_environment"))
        if default_id is None:
            note = "Updates of project '%s' always run in '%s' (the control plane EE)" % (project.get("name"), cp_name)
        else:
            default_name = (self.ee(default_id) or {}).get("name") or str(default_id)
            note = ("Updates of project '%s' run in '%s' (the control plane EE), not in its default_environment '%s': "
                    "that one is for the jobs of its job templates that have no EE of their own"
                    % (project.get("name"), cp_name, default_name))
        return self._finish("project_update", [entry], [note])


_ENDPOINTS = {
    "project": "projects/",
    "organization": "organizations/",
    "inventory": "inventories/",
    "job_template": "job_templates/",
    "inventory_source": "inventory_sources/",
    "execution_environment": "execution_environments/",
}


def compare_with_awx(result, template):
    """Set ``awx_resolved_environment`` from AWX's own answer for ``template`` and note a disagreement.

    AWX shows ``summary_fields.resolved_environment`` on templates: its ``resolve_execution_environment()``
    applied to the template object (contract exchange 56). For a job template that is the chain
    without the launch or node prompt; for a project it is NOT the EE of its updates (a common
    misreading), which the note says.
    """
    awx = ((template or {}).get("summary_fields") or {}).get("resolved_environment")
    result["awx_resolved_environment"] = awx
    if awx is None:
        return result
    if result["job_type"] == "project_update":
        chosen = result["execution_environment"] or {}
        if awx.get("id") != chosen.get("id"):
            result["notes"].append(
                "AWX shows '%s' as the resolved_environment of project '%s': that is the job default computed for the "
                "project object, not the EE its updates run in" % (awx.get("name"), template.get("name")))
        return result
    template_choice = None
    for entry in result["chain"]:
        if entry["usable"] and entry["source"] not in ("launch", "workflow_node"):
            template_choice = entry["execution_environment"]
            break
    if template_choice is None or awx.get("id") != template_choice.get("id"):
        result["notes"].append(
            "AWX itself resolves template '%s' to '%s' (summary_fields.resolved_environment), but this chain gives "
            "'%s': check global_job_execution_environments, and that this user may read every candidate"
            % (template.get("name"), awx.get("name"), (template_choice or {}).get("name")))
    return result
