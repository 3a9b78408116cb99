# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The table of AWX 24.6.1 resources the stand-in serves: fields, defaults, links, summaries.

Everything here is data read off the recorded exchanges in ``tests/awx_contract``; the
behaviour that is not a plain field (validators, launch, settings) lives in ``store.py``.
"""

from __future__ import annotations

# Projections AWX uses in ``summary_fields`` for a foreign key (SUMMARIZABLE_FK_FIELDS).
SUMMARY = {
    "organization": ("id", "name", "description"),
    "credential": ("id", "name", "description", "kind", "cloud", "kubernetes", "credential_type_id"),
    "credential_type": ("id", "name", "description"),
    "execution_environment": ("id", "name", "description", "image"),
    "inventory": ("id", "name", "description", "has_active_failures", "total_hosts", "hosts_with_active_failures",
                  "total_groups", "has_inventory_sources", "total_inventory_sources", "inventory_sources_with_failures",
                  "organization_id", "kind"),
    "project": ("id", "name", "description", "status", "scm_type", "allow_override"),
    "job_template": ("id", "name", "description"),
    "workflow_job_template": ("id", "name", "description"),
    "workflow_job": ("id", "name", "description"),
    "unified_job_template": ("id", "name", "description", "unified_job_type"),
    "user": ("id", "username", "first_name", "last_name"),
    "source_project": ("id", "name", "description", "status", "scm_type", "allow_override"),
}

# Resource of a read-only link field (jobs copy these from their template).
RO_TARGETS = {
    "inventory": "inventories", "project": "projects", "organization": "organizations", "user": "users",
    "execution_environment": "execution_environments", "unified_job_template": "unified_job_templates",
    "job_template": "job_templates", "credential": "credentials",
    "workflow_job": "workflow_jobs", "job": "jobs", "workflow_job_template": "workflow_job_templates",
}

# Resource names that share one id sequence in AWX (polymorphic parents).
UNIFIED_JOB_TEMPLATES = ("projects", "job_templates", "workflow_job_templates", "inventory_sources")
UNIFIED_JOBS = ("jobs", "ad_hoc_commands", "workflow_jobs")

LIST_ALLOW = "GET, POST, HEAD, OPTIONS"
DETAIL_ALLOW = "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"


class Field:
    """One serializer field.

    kind: str | int | bool | fk | choice | json | list | vars | ro
    ``ro`` fields are stored and shown but never written by a request.
    """

    def __init__(self, kind="str", default="", required=False, blank=True, null=False, choices=None,
                 target=None, write_only=False, create_only=False, missing=None, unique=None):
        self.kind = kind
        self.default = default
        self.required = required
        self.blank = blank
        self.null = null or kind == "fk"
        self.choices = choices
        self.target = target
        self.write_only = write_only
        self.create_only = create_only
        self.missing = missing  # (status, body) when an fk id does not exist, instead of the field error
        self.unique = unique  # message of a server-wide uniqueness error on this field

    @property
    def read_only(self):
        return self.kind == "ro"


def S(default="", **kw):
    return Field("str", default, **kw)


def INT(default=0, **kw):
    return Field("int", default, **kw)


def B(default=False, **kw):
    return Field("bool", default, **kw)


def FK(target, **kw):
    return Field("fk", None, target=target, **kw)


def RO(default=None):
    return Field("ro", default)


def C(choices, default="", **kw):
    return Field("choice", default, choices=choices, **kw)


def J(default=None, **kw):
    return Field("json", {} if default is None else default, **kw)


def L(default=None, **kw):
    return Field("list", [] if default is None else default, **kw)


def V(**kw):
    return Field("vars", "", **kw)


def NAME(unique=None):
    return Field("str", "", required=True, blank=False, unique=unique)


class Resource:
    """One collection under /api/v2/.

    subs: sub-endpoints listed in ``related`` (``/api/v2/<name>/<id>/<sub>/``); a tuple (key, value)
    gives a fixed value. related_fks: fk fields linked in ``related`` when set. summary_fks: fk fields
    summarized in ``summary_fields`` when set. roles: key of data/object_roles.json.
    """

    def __init__(self, name, type_, model, fields, subs=(), related_fks=(), summary_fks=(), roles=None,
                 capabilities=None, audit=True, unique_together=(), seq=None, named_url=None,
                 allow_list=LIST_ALLOW, allow_detail=DETAIL_ALLOW, ordering=("id",), search=("name", "description")):
        self.name = name
        self.type = type_
        self.model = model
        self.fields = fields
        self.subs = subs
        self.related_fks = related_fks
        self.summary_fks = summary_fks
        self.roles = roles
        self.capabilities = {"edit": True, "delete": True} if capabilities is None else capabilities
        self.audit = audit  # created_by / modified_by
        self.unique_together = unique_together
        self.seq = seq or name
        self.named_url = named_url
        self.allow_list = allow_list
        self.allow_detail = allow_detail
        self.ordering = ordering
        self.search = search


NOTIFY = ("notification_templates_started", "notification_templates_success", "notification_templates_error")

RESOURCES = {}


def register(res):
    RESOURCES[res.name] = res
    return res


register(Resource(
    "users", "user", "User",
    {
        "username": Field("str", "", required=True, blank=False, unique="A user with that username already exists."),
        "first_name": S(), "last_name": S(), "email": S(),
        "is_superuser": B(), "is_system_auditor": B(),
        "password": S(write_only=True),
        "ldap_dn": RO(""), "last_login": RO(), "external_account": RO(), "auth": RO([]),
    },
    subs=("teams", "organizations", "admin_of_organizations", "projects", "credentials", "roles", "activity_stream",
          "access_list", "tokens", "authorized_tokens", "personal_tokens"),
    audit=False, named_url="{username}", ordering=("username",), search=("username", "first_name", "last_name", "email"),
))

register(Resource(
    "organizations", "organization", "Organization",
    {
        "name": NAME(unique="Organization with this Name already exists."),
        "description": S(), "max_hosts": INT(), "custom_virtualenv": RO(),
        "default_environment": FK("execution_environments"),
    },
    subs=("execution_environments", "projects", "inventories", "job_templates", "workflow_job_templates", "users",
          "admins", "teams", "credentials", "applications", "activity_stream", "notification_templates")
    + NOTIFY + ("notification_templates_approvals", "object_roles", "access_list", "instance_groups",
                "galaxy_credentials"),
    related_fks=("default_environment",), summary_fks=("default_environment",), roles="organization",
    named_url="{name}", ordering=("name",),
))

register(Resource(
    "credential_types", "credential_type", "CredentialType",
    {
        "name": NAME(), "description": S(),
        "kind": C(["ssh", "vault", "net", "scm", "cloud", "registry", "token", "insights", "external", "kubernetes",
                   "galaxy", "cryptography"], required=True),
        "namespace": RO(), "managed": RO(False), "inputs": J(), "injectors": J(),
    },
    subs=("credentials", "activity_stream"), audit=False, ordering=("kind", "name"),
    unique_together=((("name", "kind"), "Credential type with this Name and Kind already exists."),),
))

register(Resource(
    "credentials", "credential", "Credential",
    {
        "name": NAME(), "description": S(),
        "organization": FK("organizations"),
        "credential_type": FK("credential_types", required=True),
        "managed": RO(False), "inputs": J(),
        "user": FK("users", write_only=True),
    },
    subs=("activity_stream", "access_list", "object_roles", "owner_users", "owner_teams", "copy", "input_sources"),
    related_fks=("organization", "credential_type"), summary_fks=("organization", "credential_type"),
    roles="credential", capabilities={"edit": True, "delete": True, "copy": True, "use": True},
    unique_together=((("organization", "name", "credential_type"),
                      "Credential with this Organization, Name and Credential type already exists."),),
    ordering=("name",),
))

register(Resource(
    "execution_environments", "execution_environment", "ExecutionEnvironment",
    {
        "name": NAME(unique="Execution environment with this Name already exists."),
        "description": S(),
        "organization": FK("organizations"),
        "image": Field("str", "", required=True, blank=False),
        "managed": RO(False),
        "credential": FK("credentials"),
        "pull": C(["", "always", "missing", "never"]),
    },
    subs=("activity_stream", "unified_job_templates", "copy"),
    related_fks=("organization", "credential"), summary_fks=("organization", "credential"),
    capabilities={"edit": True, "delete": True, "copy": True}, named_url="{name}", ordering=("-created",),
))

register(Resource(
    "tokens", "o_auth2_access_token", "OAuth2AccessToken",
    {
        "description": S(), "user": RO(), "token": RO(), "refresh_token": RO(),
        "application": FK("applications"), "expires": RO(),
        "scope": C(["read", "write"], default="write"),
    },
    subs=("activity_stream",), related_fks=("user", "application"), audit=False, search=("description",),
))

register(Resource(
    "inventories", "inventory", "Inventory",
    {
        "name": NAME(), "description": S(),
        "organization": FK("organizations", required=True),
        "kind": C(["", "smart", "constructed"], create_only=True),
        "host_filter": Field("str", None, null=True), "variables": V(),
        "has_active_failures": RO(False), "total_hosts": RO(0), "hosts_with_active_failures": RO(0),
        "total_groups": RO(0), "has_inventory_sources": RO(False), "total_inventory_sources": RO(0),
        "inventory_sources_with_failures": RO(0), "pending_deletion": RO(False),
        "prevent_instance_group_fallback": B(),
    },
    subs=("hosts", "variable_data", "script", "activity_stream", "job_templates", "ad_hoc_commands", "access_list",
          "object_roles", "instance_groups", "copy", "labels", "groups", "root_groups", "update_inventory_sources",
          "inventory_sources", "tree"),
    related_fks=("organization",), summary_fks=("organization",), roles="inventory",
    capabilities={"edit": True, "delete": True, "copy": True, "adhoc": True},
    unique_together=((("name", "organization"), "Inventory with this Name and Organization already exists."),),
    named_url="{name}++{organization__name}", ordering=("name",),
))

register(Resource(
    "hosts", "host", "Host",
    {
        "name": NAME(), "description": S(),
        "inventory": FK("inventories", required=True,
                        missing=(400, {"detail": "Inventory matching query does not exist."})),
        "enabled": B(True), "instance_id": S(), "variables": V(),
        "has_active_failures": RO(False), "has_inventory_sources": RO(False), "last_job": RO(),
        "last_job_host_summary": RO(), "ansible_facts_modified": RO(),
    },
    subs=("variable_data", "groups", "all_groups", "job_events", "job_host_summaries", "activity_stream",
          "inventory_sources", "smart_inventories", "ad_hoc_commands", "ad_hoc_command_events", "ansible_facts"),
    related_fks=("inventory",), summary_fks=("inventory",),
    unique_together=((("name", "inventory"), "Host with this Name and Inventory already exists."),),
    named_url="{name}++{inventory__name}++{inventory__organization__name}", ordering=("name",),
))

register(Resource(
    "projects", "project", "Project",
    {
        "name": NAME(), "description": S(), "local_path": S(),
        "scm_type": C(["", "git", "svn", "insights", "archive"]),
        "scm_url": S(), "scm_branch": S(), "scm_refspec": S(), "scm_clean": B(), "scm_track_submodules": B(),
        "scm_delete_on_update": B(), "credential": FK("credentials"), "timeout": INT(), "scm_revision": RO(""),
        "last_job_run": RO(), "last_job_failed": RO(False), "next_job_run": RO(), "status": RO("never updated"),
        "organization": FK("organizations"), "scm_update_on_launch": B(), "scm_update_cache_timeout": INT(),
        "allow_override": B(), "custom_virtualenv": RO(),
        "default_environment": FK("execution_environments"),
        "signature_validation_credential": FK("credentials"),
        "last_update_failed": RO(False), "last_updated": RO(),
    },
    subs=("teams", "playbooks", ("inventory_files", "inventories"), "update", "project_updates",
          "scm_inventory_sources", "schedules", "activity_stream") + NOTIFY + ("access_list", "object_roles", "copy"),
    related_fks=("organization", "default_environment", "credential", "signature_validation_credential"),
    summary_fks=("organization", "default_environment", "credential"), roles="project",
    seq="unified_job_templates", named_url="{name}++{organization__name}", ordering=("name",),
    unique_together=((("name", "organization"), "Project with this Name and Organization already exists."),),
))

ASK_FIELDS = ("ask_scm_branch_on_launch", "ask_diff_mode_on_launch", "ask_variables_on_launch", "ask_limit_on_launch",
              "ask_tags_on_launch", "ask_skip_tags_on_launch", "ask_job_type_on_launch", "ask_verbosity_on_launch",
              "ask_inventory_on_launch", "ask_credential_on_launch", "ask_execution_environment_on_launch",
              "ask_labels_on_launch", "ask_forks_on_launch", "ask_job_slice_count_on_launch",
              "ask_timeout_on_launch", "ask_instance_groups_on_launch")

_JT_FIELDS = {
    "name": NAME(), "description": S(), "job_type": C(["run", "check"], default="run"),
    "inventory": FK("inventories"), "project": FK("projects"), "playbook": S(),
    "scm_branch": S(), "forks": INT(), "limit": S(), "verbosity": INT(), "extra_vars": V(), "job_tags": S(),
    "force_handlers": B(), "skip_tags": S(), "start_at_task": S(), "timeout": INT(), "use_fact_cache": B(),
    "organization": RO(), "last_job_run": RO(), "last_job_failed": RO(False), "next_job_run": RO(),
    "status": RO("never updated"), "execution_environment": FK("execution_environments"),
    "host_config_key": S(),
}
_JT_FIELDS.update((key, B()) for key in ASK_FIELDS)
_JT_FIELDS.update({
    "survey_enabled": B(), "become_enabled": B(), "diff_mode": B(), "allow_simultaneous": B(),
    "custom_virtualenv": RO(), "job_slice_count": INT(1), "webhook_service": C(["", "github", "gitlab", "bitbucket_dc"]),
    "webhook_credential": FK("credentials"), "prevent_instance_group_fallback": B(),
})

register(Resource(
    "job_templates", "job_template", "JobTemplate", _JT_FIELDS,
    subs=("labels", "credentials", "jobs", "schedules", "activity_stream", "launch", "webhook_key",
          ("webhook_receiver", "")) + NOTIFY
    + ("access_list", "survey_spec", "object_roles", "instance_groups", "slice_workflow_jobs", "copy"),
    related_fks=("inventory", "project", "organization", "execution_environment", "webhook_credential"),
    summary_fks=("organization", "inventory", "execution_environment", "project"), roles="job_template",
    capabilities={"edit": True, "delete": True, "start": True, "schedule": True, "copy": True},
    seq="unified_job_templates", named_url="{name}++{organization__name}", ordering=("name",),
    unique_together=((("name", "organization"), "Job template with this Name and Organization already exists."),),
))

register(Resource(
    "workflow_job_templates", "workflow_job_template", "WorkflowJobTemplate",
    {
        "name": NAME(), "description": S(), "last_job_run": RO(), "last_job_failed": RO(False),
        "next_job_run": RO(), "status": RO("never updated"), "extra_vars": V(),
        "organization": FK("organizations"), "survey_enabled": B(), "allow_simultaneous": B(),
        "ask_variables_on_launch": B(), "inventory": FK("inventories"),
        "limit": Field("str", None, null=True), "scm_branch": Field("str", None, null=True),
        "ask_inventory_on_launch": B(), "ask_scm_branch_on_launch": B(), "ask_limit_on_launch": B(),
        "webhook_service": C(["", "github", "gitlab", "bitbucket_dc"]), "webhook_credential": FK("credentials"),
        "ask_labels_on_launch": B(), "ask_skip_tags_on_launch": B(), "ask_tags_on_launch": B(),
        "skip_tags": Field("str", None, null=True), "job_tags": Field("str", None, null=True),
    },
    subs=("workflow_jobs", "schedules", "launch", "webhook_key", ("webhook_receiver", ""), "workflow_nodes",
          "labels", "activity_stream") + NOTIFY
    + ("notification_templates_approvals", "access_list", "object_roles", "survey_spec", "copy"),
    related_fks=("organization", "inventory", "webhook_credential"), summary_fks=("organization", "inventory"),
    roles="workflow_job_template",
    capabilities={"edit": True, "delete": True, "start": True, "schedule": True, "copy": True},
    seq="unified_job_templates", named_url="{name}++{organization__name}", ordering=("name",),
    unique_together=((("name", "organization"),
                      "Workflow job template with this Name and Organization already exists."),),
))

register(Resource(
    "workflow_job_template_nodes", "workflow_job_template_node", "WorkflowJobTemplateNode",
    {
        "extra_data": J(), "inventory": FK("inventories"),
        "scm_branch": Field("str", None, null=True), "job_type": Field("choice", None, null=True,
                                                                       choices=["run", "check", None]),
        "job_tags": Field("str", None, null=True), "skip_tags": Field("str", None, null=True),
        "limit": Field("str", None, null=True), "diff_mode": Field("bool", None, null=True),
        "verbosity": Field("int", None, null=True), "execution_environment": FK("execution_environments"),
        "forks": Field("int", None, null=True), "job_slice_count": Field("int", None, null=True),
        "timeout": Field("int", None, null=True),
        "workflow_job_template": FK("workflow_job_templates", required=True),
        "unified_job_template": FK("unified_job_templates"),
        "success_nodes": RO([]), "failure_nodes": RO([]), "always_nodes": RO([]),
        "all_parents_must_converge": B(), "identifier": S(),
    },
    subs=("labels", "credentials", "instance_groups", "create_approval_template", "success_nodes", "failure_nodes",
          "always_nodes"),
    related_fks=("execution_environment", "inventory", "unified_job_template", "workflow_job_template"),
    summary_fks=("execution_environment", "inventory", "workflow_job_template", "unified_job_template"),
    audit=False, capabilities={},
    named_url="{identifier}++{workflow_job_template__name}++{workflow_job_template__organization__name}",
    unique_together=((("workflow_job_template", "identifier"),
                      "Workflow job template node with this Workflow job template and Identifier already exists."),),
    search=("identifier",),
))

register(Resource(
    "instance_groups", "instance_group", "InstanceGroup",
    {
        "name": NAME(unique="Instance group with this Name already exists."),
        "capacity": RO(0), "consumed_capacity": RO(0), "percent_capacity_remaining": RO(0.0),
        "jobs_running": RO(0), "max_concurrent_jobs": INT(), "max_forks": INT(), "jobs_total": RO(0), "instances": RO(0),
        "is_container_group": B(), "credential": FK("credentials"),
        "policy_instance_percentage": INT(), "policy_instance_minimum": INT(), "policy_instance_list": L(),
        "pod_spec_override": S(),
    },
    subs=("jobs", "instances", "access_list", "object_roles"), related_fks=("credential",),
    summary_fks=("credential",), roles="instance_group", audit=False, named_url="{name}", ordering=("name",),
    search=("name",),
))

_UNIFIED_JOB_FIELDS = {
    "name": RO(""), "description": RO(""), "launch_type": RO("manual"), "status": RO("pending"),
    "execution_environment": RO(), "failed": RO(False), "started": RO(), "finished": RO(), "canceled_on": RO(),
    "elapsed": RO(0.0), "job_explanation": RO(""), "execution_node": RO(""), "controller_node": RO(""),
    "launched_by": RO({}), "work_unit_id": RO(),
}

register(Resource(
    "jobs", "job", "Job",
    dict(_UNIFIED_JOB_FIELDS, **{
        "job_type": RO("run"), "inventory": RO(), "project": RO(), "playbook": RO(""), "scm_branch": RO(""),
        "forks": RO(0), "limit": RO(""), "verbosity": RO(0), "extra_vars": RO("{}"), "job_tags": RO(""),
        "force_handlers": RO(False), "skip_tags": RO(""), "start_at_task": RO(""), "timeout": RO(0),
        "use_fact_cache": RO(False), "organization": RO(), "unified_job_template": RO(),
        "job_args": RO(""), "job_cwd": RO(""), "job_env": RO({}), "result_traceback": RO(""),
        "event_processing_finished": RO(False), "job_template": RO(), "passwords_needed_to_start": RO([]),
        "allow_simultaneous": RO(False), "artifacts": RO({}), "scm_revision": RO(""), "instance_group": RO(),
        "diff_mode": RO(False), "job_slice_number": RO(0), "job_slice_count": RO(1), "webhook_service": RO(""),
        "webhook_credential": RO(), "webhook_guid": RO(""),
    }),
    subs=("labels", "credentials", "stdout", "job_events", "job_host_summaries", "activity_stream", "notifications",
          "create_schedule", "cancel", "relaunch"),
    related_fks=("inventory", "project", "organization", "unified_job_template", "execution_environment",
                 "job_template"),
    summary_fks=("organization", "inventory", "execution_environment", "project", "job_template",
                 "unified_job_template"),
    capabilities={"delete": True, "start": True}, seq="unified_jobs", allow_list="GET, HEAD, OPTIONS",
    allow_detail="GET, DELETE, HEAD, OPTIONS",
))

register(Resource(
    "ad_hoc_commands", "ad_hoc_command", "AdHocCommand",
    dict({key: value for key, value in _UNIFIED_JOB_FIELDS.items() if key != "description"}, **{
        "status": RO("new"), "job_type": C(["run", "check"], default="run"),
        "inventory": FK("inventories", required=True), "limit": S(), "credential": FK("credentials", required=True),
        "module_name": S("command"), "module_args": S(), "forks": INT(), "verbosity": INT(), "extra_vars": V(),
        "become_enabled": B(), "diff_mode": B(), "execution_environment": FK("execution_environments"),
    }),
    subs=("stdout", "events", "activity_stream", "notifications", "cancel", "relaunch"),
    related_fks=("execution_environment", "inventory", "credential"),
    summary_fks=("inventory", "execution_environment", "credential"),
    capabilities={"delete": True, "start": True}, seq="unified_jobs", allow_detail="GET, DELETE, HEAD, OPTIONS",
))

register(Resource(
    "inventory_sources", "inventory_source", "InventorySource",
    {
        "name": NAME(), "description": S(),
        "source": C(["file", "constructed", "scm", "ec2", "gce", "azure_rm", "vmware", "satellite6", "openstack",
                     "rhv", "controller", "insights", "terraform"], required=True),
        "source_path": S(), "source_vars": V(), "scm_branch": S(), "credential": FK("credentials"),
        "enabled_var": S(), "enabled_value": S(), "host_filter": S(), "overwrite": B(), "overwrite_vars": B(),
        "custom_virtualenv": RO(), "timeout": INT(), "verbosity": INT(1), "limit": S(),
        "last_job_run": RO(), "last_job_failed": RO(False), "next_job_run": RO(), "status": RO("never updated"),
        "execution_environment": FK("execution_environments"),
        "inventory": FK("inventories", required=True), "update_on_launch": B(), "update_cache_timeout": INT(),
        "source_project": FK("projects"), "last_update_failed": RO(False), "last_updated": RO(),
    },
    subs=("update", "inventory_updates", "schedules", "activity_stream", "hosts", "groups") + NOTIFY
    + ("credentials",),
    related_fks=("inventory", "source_project", "credential", "execution_environment"),
    summary_fks=("inventory", "source_project", "execution_environment"),
    capabilities={"edit": True, "delete": True, "start": True, "schedule": True},
    seq="unified_job_templates", named_url="{name}++{inventory__name}++{inventory__organization__name}",
    unique_together=((("name", "inventory"), "Inventory source with this Name and Inventory already exists."),),
))

# A bulk job launch (fleet 137): a workflow job without a template.
register(Resource(
    "workflow_jobs", "workflow_job", "WorkflowJob",
    {
        "name": RO(""), "description": RO(""), "unified_job_template": RO(), "launch_type": RO("manual"),
        "status": RO("pending"), "failed": RO(False), "started": RO(), "finished": RO(), "canceled_on": RO(),
        "elapsed": RO(0.0), "job_args": RO(""), "job_cwd": RO(""), "job_env": RO({}), "job_explanation": RO(""),
        "result_traceback": RO(""), "launched_by": RO({}), "work_unit_id": RO(), "workflow_job_template": RO(),
        "extra_vars": RO(""), "allow_simultaneous": RO(False), "job_template": RO(), "is_sliced_job": RO(False),
        "inventory": RO(), "limit": RO(), "scm_branch": RO(), "webhook_service": RO(""), "webhook_credential": RO(),
        "webhook_guid": RO(""), "skip_tags": RO(), "job_tags": RO(),
    },
    subs=("workflow_nodes", "labels", "activity_stream", "relaunch", "cancel"),
    capabilities={}, seq="unified_jobs", allow_list="GET, HEAD, OPTIONS", allow_detail="GET, DELETE, HEAD, OPTIONS",
))

register(Resource(
    "workflow_job_nodes", "workflow_job_node", "WorkflowJobNode",
    {
        "extra_data": RO({}), "inventory": RO(), "scm_branch": RO(), "job_type": RO(), "job_tags": RO(),
        "skip_tags": RO(), "limit": RO(), "diff_mode": RO(), "verbosity": RO(),
        "execution_environment": RO(), "forks": RO(), "job_slice_count": RO(), "timeout": RO(), "job": RO(),
        "workflow_job": RO(), "unified_job_template": RO(), "success_nodes": RO([]), "failure_nodes": RO([]),
        "always_nodes": RO([]), "all_parents_must_converge": RO(False), "do_not_run": RO(False), "identifier": RO(""),
    },
    subs=("labels", "credentials", "instance_groups", "success_nodes", "failure_nodes", "always_nodes"),
    related_fks=("execution_environment", "inventory", "unified_job_template", "workflow_job", "job"),
    summary_fks=("execution_environment", "workflow_job", "unified_job_template"),
    audit=False, capabilities={}, allow_list="GET, HEAD, OPTIONS", allow_detail="GET, HEAD, OPTIONS",
))

# /api/v2/<parent>/<id>/<sub>/ lists: (child resource, fk on the child that points at the parent, POST allowed)
NESTED = {
    ("organizations", "execution_environments"): ("execution_environments", "organization", True),
    ("organizations", "projects"): ("projects", "organization", True),
    ("organizations", "inventories"): ("inventories", "organization", False),
    ("organizations", "credentials"): ("credentials", "organization", False),
    ("organizations", "job_templates"): ("job_templates", "organization", False),
    ("organizations", "workflow_job_templates"): ("workflow_job_templates", "organization", True),
    ("credential_types", "credentials"): ("credentials", "credential_type", True),
    ("inventories", "hosts"): ("hosts", "inventory", True),
    ("inventories", "ad_hoc_commands"): ("ad_hoc_commands", "inventory", True),
    ("inventories", "inventory_sources"): ("inventory_sources", "inventory", True),
    ("inventories", "job_templates"): ("job_templates", "inventory", False),
    ("projects", "scm_inventory_sources"): ("inventory_sources", "source_project", False),
    ("job_templates", "jobs"): ("jobs", "job_template", False),
    ("workflow_job_templates", "workflow_nodes"): ("workflow_job_template_nodes", "workflow_job_template", True),
    ("workflow_jobs", "workflow_nodes"): ("workflow_job_nodes", "workflow_job", False),
    ("users", "tokens"): ("tokens", "user", False),
    ("users", "personal_tokens"): ("tokens", "user", True),
}

# Many-to-many links managed by POST {"id": N} / {"id": N, "disassociate": true}: (target resource, attribute).
ASSOCIATIONS = {
    ("job_templates", "credentials"): "credentials",
    ("job_templates", "instance_groups"): "instance_groups",
    ("workflow_job_template_nodes", "credentials"): "credentials",
    ("workflow_job_template_nodes", "instance_groups"): "instance_groups",
    ("organizations", "instance_groups"): "instance_groups",
    ("organizations", "galaxy_credentials"): "credentials",
    ("inventories", "instance_groups"): "instance_groups",
    ("workflow_job_template_nodes", "success_nodes"): "workflow_job_template_nodes",
    ("workflow_job_template_nodes", "failure_nodes"): "workflow_job_template_nodes",
    ("workflow_job_template_nodes", "always_nodes"): "workflow_job_template_nodes",
}
