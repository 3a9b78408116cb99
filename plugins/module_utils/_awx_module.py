# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``AwxModule``: the base class of every AWX module of eeforge.builder.

API (what a module written on it uses)
======================================

Construction::

    module = AwxModule(argument_spec=dict(name=dict(required=True), ...), **AnsibleModule_kwargs)

- adds the connection options (``CONNECTION_ARGSPEC`` of ``_awx_client``: ``controller_host``,
  ``controller_username``, ``controller_password``, ``controller_oauthtoken``, ``validate_certs``,
  ``request_timeout``, with the awx.awx environment variables); document them with
  ``extends_documentation_fragment: [eeforge.builder.awx]``;
- ``supports_check_mode`` defaults to True; fails with ``missing_required_lib('awxkit')`` when
  awxkit cannot be imported;
- ``module.client`` is an ``AwxClient`` (built on first use): ``get``, ``get_or_none``, ``list``
  (follows ``next``), ``find(endpoint, name)``, ``get_by_name_or_id``, ``resolve(endpoint, value,
  kind)``, ``create``, ``patch``, ``delete``, ``absolute_url``. Endpoints are relative to
  ``/api/v2/`` (``'execution_environments/'``) or absolute paths (an object's ``url``).

Errors, one line each (``Failed to <verb> <kind> '<name>': <cause>. <fix>``)::

    with module.failing("update", "execution environment", name):
        ...                                   # any AwxError raised in here fails the task,
                                              # with ``status`` (HTTP) in the result when AWX answered
    module.fail_action("delete", "execution environment", name, cause, fix, references=[...])

``AwxError`` (from ``_awx_client``) has ``cause``, ``fix``, ``status``, ``method``, ``path`` and ``body``;
catch it yourself to treat a status as an answer (``client.get_or_none`` already turns 404 into None).
HTTP statuses become messages only in ``_awx_messages.describe_http_error``: never build them in a module.
``module.settings`` (``AwxSettings``) tells how the module authenticates (``settings.who()``).

Writes that honour check mode and set ``changed`` (check mode: nothing is sent, the result is
predicted: ``create`` returns None, ``update`` returns the object with the payload applied)::

    obj = module.create("execution_environments/", payload, kind, name)
    obj = module.update(obj, {"image": ...}, kind, name)     # no request when payload is empty
    module.remove(obj, kind, name)
    plan = module.apply(Plan(name, "update", obj, payload), endpoint, kind)   # the same, from a plan

Result::

    module.set_diff(before, after)            # dicts of managed fields; mask secrets first
                                              # (``_awx_compare.mask_secrets``)
    module.exit_with(obj, previous_image=...) # changed, id, url (absolute API URL), diff (--diff)

Bulk forms (``items``) authenticate once and return one result per item::

    module.authenticate_once()                # basic auth: a temporary OAuth2 token (deleted when the
                                              # module exits or fails); a given token is used as it is
    module.exit_bulk(results, diffs, pruned=[...])

A module reads top to bottom: argument spec -> ``AwxModule(...)`` -> find the object -> compute what
differs (``_awx_compare``) -> ``create``/``update``/``remove`` -> ``set_diff`` -> ``exit_with``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.eeforge.builder.plugins.module_utils._awx_client import (
    AWXKIT_IMPORT_ERROR,
    HAS_AWXKIT,
    AwxClient,
    AwxError,
)
from ansible_collections.eeforge.builder.plugins.module_utils._awx_settings import CONNECTION_ARGSPEC, AwxSettings


PAST = {"create": "created", "update": "updated", "delete": "deleted"}
# Answers to POST /api/v2/tokens/ after which a bulk run goes on with basic auth (tokens refused or not served there).
TOKEN_REFUSED = (400, 403, 404, 405)


class Plan(object):
    """What a task does to one AWX object, decided before anything is sent.

    ``action``: ``create``, ``update``, ``delete`` or ``none``; ``payload``: the fields to send;
    ``before``/``after``: the diff (secrets masked); ``existing``: the object found (None: none);
    ``obj``: the object after ``AwxModule.apply`` (predicted in check mode). Keyword arguments
    beyond these become attributes (what a kind needs in its result: ``digest``, ``references``...).
    """

    def __init__(self, name, action, existing=None, payload=None, before=None, after=None, **extra):
        self.name = name
        self.action = action
        self.existing = existing
        self.obj = existing
        self.payload = payload or {}
        self.before = before if before is not None else {}
        self.after = after if after is not None else {}
        for key, value in extra.items():
            setattr(self, key, value)

    def diff(self, header):
        """The diff of a bulk run's object, headed by ``header`` (``execution environment 'ee-aws'``)."""
        return dict(before_header=header, after_header=header, before=self.before, after=self.after)


def failure_message(verb, kind, name, cause, fix):
    """``Failed to <verb> <kind> '<name>': <cause>. <fix>``, on one line."""
    text = "Failed to %s %s '%s': %s." % (verb, kind, name, cause.rstrip(". "))
    if fix:
        text += " %s." % fix.rstrip(". ")
    return " ".join(text.split())


class AwxModule(AnsibleModule):
    """AnsibleModule with the AWX connection options, an ``AwxClient`` and result helpers."""

    def __init__(self, argument_spec=None, **kwargs):
        spec = dict(CONNECTION_ARGSPEC)
        spec.update(argument_spec or {})
        kwargs.setdefault("supports_check_mode", True)
        super(AwxModule, self).__init__(argument_spec=spec, **kwargs)
        if not HAS_AWXKIT:
            self.fail_json(msg=missing_required_lib("awxkit"), exception=AWXKIT_IMPORT_ERROR)
        try:
            self.settings = AwxSettings.from_params(self.params)
        except ValueError as error:
            self.fail_json(msg="Invalid AWX connection options: %s." % str(error).rstrip("."))
        self._client = None
        self.changed = False
        self.diff = None
        # A bulk run sets it to []: the writes ``apply`` sent, named in a failure that comes after them.
        self.applied = None

    # Description of the temporary token a bulk run creates (what an AWX admin sees in the token list).
    TOKEN_DESCRIPTION = "eeforge.builder %s (temporary, deleted when the task ends)"

    @property
    def client(self):
        if self._client is None:
            self._client = AwxClient(self.settings)
        return self._client

    # -- authenticate once ------------------------------------------------------------------
    def authenticate_once(self):
        """With user and password, create a token and use it for the rest of the run (one password
        check on the server instead of one per request). Not in check mode (a token is a write)."""
        if self.check_mode or self.settings.auth != "basic":
            return
        try:
            token = self.client.open_token(self.TOKEN_DESCRIPTION % self._name)
        except AwxError as error:
            if error.status not in TOKEN_REFUSED:
                self.fail_action("authenticate to", "AWX", self.settings.host, error.cause, error.fix,
                                 **({"status": error.status} if error.status is not None else {}))
            # OAuth2 tokens turned off or out of reach (a gateway in front of AWX): the password then.
            self.warn("Could not create a temporary OAuth2 token (%s); every request of this task sends the password."
                      % error.cause.rstrip("."))
            return
        self.no_log_values.add(token)

    def release_token(self):
        """Delete the token ``authenticate_once`` made (nothing when there is none); a failure is a warning."""
        client = getattr(self, "_client", None)  # fail_json may run before __init__ is done
        if client is None or getattr(client, "token_id", None) is None:
            return
        token_id = client.token_id
        try:
            client.close_token()
        except AwxError as error:
            self.warn("Could not delete the temporary OAuth2 token %s: %s. Delete it in AWX (Users, %s, Tokens)."
                      % (token_id, error.cause.rstrip("."), self.settings.username))

    def exit_json(self, **kwargs):
        self.release_token()
        super(AwxModule, self).exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):  # pylint: disable=arguments-differ
        self.release_token()
        if getattr(self, "applied", None):
            msg = "%s Already done before this failure: %s; run the task again for the rest." % (
                msg, ", ".join(self.applied))
            kwargs.setdefault("applied", list(self.applied))
            kwargs.setdefault("changed", True)
        super(AwxModule, self).fail_json(msg=msg, **kwargs)

    # -- errors ----------------------------------------------------------------------------
    def fail_action(self, verb, kind, name, cause, fix=None, **extra):
        self.fail_json(msg=failure_message(verb, kind, name, cause, fix), **extra)

    @contextlib.contextmanager
    def failing(self, verb, kind, name):
        """Turn an ``AwxError`` raised in the block into a one-line task failure."""
        try:
            yield
        except AwxError as error:
            extra = {}
            if error.status is not None:
                extra["status"] = error.status
            self.fail_action(verb, kind, name, error.cause, error.fix, **extra)

    # -- writes (check mode aware) ---------------------------------------------------------
    def create(self, endpoint, payload, kind, name):
        """POST ``payload``; in check mode send nothing and return None."""
        self.changed = True
        if self.check_mode:
            return None
        with self.failing("create", kind, name):
            return self.client.create(endpoint, payload)

    def update(self, obj, payload, kind, name):
        """PATCH the fields in ``payload`` (nothing when it is empty); returns the updated object."""
        if not payload:
            return obj
        self.changed = True
        if self.check_mode:
            predicted = dict(obj)
            predicted.update(payload)
            return predicted
        with self.failing("update", kind, name):
            return self.client.patch(obj["url"], payload)

    def remove(self, obj, kind, name):
        """DELETE the object (nothing when ``obj`` is None)."""
        if obj is None:
            return
        self.changed = True
        if self.check_mode:
            return
        with self.failing("delete", kind, name):
            self.client.delete(obj["url"])

    def apply(self, plan, endpoint, kind):
        """Send what ``plan`` decided (nothing in check mode, nothing for ``none``); returns the plan
        with ``plan.obj`` set to the object afterwards."""
        if plan.action == "create":
            plan.obj = self.create(endpoint, plan.payload, kind, plan.name)
        elif plan.action == "update":
            plan.obj = self.update(plan.existing, plan.payload, kind, plan.name)
        elif plan.action == "delete":
            self.remove(plan.existing, kind, plan.name)
        if plan.action != "none" and self.applied is not None and not self.check_mode:
            self.applied.append("%s %s '%s'" % (PAST[plan.action], kind, plan.name))
        return plan

    # -- result ----------------------------------------------------------------------------
    def set_diff(self, before, after):
        """Record the ``diff`` (returned with ``--diff``); mask secrets before calling this."""
        self.diff = dict(before=before, after=after)

    def exit_with(self, obj=None, **extra):
        """``exit_json`` with ``changed``, ``id`` and ``url`` of ``obj`` (None when there is none), and the diff."""
        result = dict(changed=self.changed)
        result["id"] = obj.get("id") if obj else None
        result["url"] = self.client.absolute_url(obj.get("url")) if obj and obj.get("url") else None
        result.update(extra)
        if self._diff and self.diff is not None:
            result["diff"] = self.diff
        self.exit_json(**result)

    def exit_bulk(self, results, diffs, **extra):
        """``exit_json`` of a bulk run: ``changed``, ``results`` (one dict per item) and, with --diff, the
        list of per-object diffs (each with ``before_header``/``after_header`` naming the object)."""
        result = dict(changed=self.changed, results=results)
        result.update(extra)
        if self._diff:
            result["diff"] = diffs
        self.exit_json(**result)
