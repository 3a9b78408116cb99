# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP status and AWX error body -> one cause and one fix: the only place that maps them.

``render_body()`` turns AWX's error bodies (400s are keyed by field) into one line;
``describe_http_error()`` gives ``(cause, fix)`` for a status, for ``AwxClient`` and ``_awx_module``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.six import string_types

# Statuses worth another try: AWX (or the proxy in front of it) was briefly unavailable.
RETRY_STATUSES = (502, 503, 504)


def one_line(text):
    """``text`` on one line, whitespace runs made one space."""
    return re.sub(r"\s+", " ", str(text)).strip()


def _flatten(value):
    if isinstance(value, dict):
        return [one_line(item) for item in _render_fields(value)]
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            out.extend(_flatten(item))
        return out
    return [one_line(value)]


def _render_fields(body, prefix=""):
    parts = []
    for key, value in body.items():
        if isinstance(value, dict):
            parts.extend(_render_fields(value, prefix + key + "."))
            continue
        label = "" if key in ("__all__", "detail", "non_field_errors", "error") and not prefix else prefix + key + ": "
        parts.append(label + " ".join(_flatten(value)))
    return parts


def render_body(body, limit=400):
    """AWX's error body as one line: ``field: message; other.field: message`` (400s are keyed by field)."""
    if body is None or body == "" or body == {}:
        return ""
    if isinstance(body, dict):
        text = "; ".join(part.rstrip(".") for part in _render_fields(body) if part)
    elif isinstance(body, (list, tuple)):
        text = "; ".join(part.rstrip(".") for part in _flatten(body))
    else:
        text = one_line(body)
    if len(text) > limit:
        text = text[:limit] + "..."
    return text


def _detail(body):
    if isinstance(body, dict) and isinstance(body.get("detail"), string_types):
        return one_line(body["detail"]).rstrip(".")
    return render_body(body)


def describe_http_error(status, method, path, body, settings, attempts=1, location=None):
    """``(cause, fix)`` for an HTTP error answer. The only place that maps statuses to messages.

    A 2xx answer whose body is not JSON also comes here: it is not AWX's API answering.
    """
    method = method.upper()
    if status < 300:
        return ("%s answered %s %s with a %d that is not JSON (%s)" % (settings.origin, method, path, status,
                                                                       render_body(body, limit=80)),
                "Set controller_host to the address of AWX's API, not of a web page or login proxy")
    if status < 400:
        return ("AWX answered %d to %s %s, redirecting to %s" % (status, method, path, location or "another address"),
                "Set controller_host to the address AWX redirects to (for example https:// instead of http://)")
    if status == 400:
        return ("AWX rejected the request (400): %s" % (render_body(body) or "no details given"),
                "Fix the values named above")
    if status == 401:
        if settings.auth is None:
            return ("AWX answered 401: no credentials were given",
                    "Set controller_username and controller_password, or controller_oauthtoken "
                    "(or the CONTROLLER_USERNAME/CONTROLLER_PASSWORD or CONTROLLER_OAUTH_TOKEN environment variables)")
        if settings.auth == "token":
            return ("AWX answered 401: it rejected the OAuth token",
                    "Check controller_oauthtoken; the token may be expired, revoked or for another AWX")
        return ("AWX answered 401: it rejected the password of user '%s'" % settings.username,
                "Check controller_username and controller_password (basic authentication must be enabled in AWX)")
    if status == 403:
        detail = _detail(body)
        cause = "AWX answered 403 (%s may not %s %s)" % (settings.who(), method, path)
        if detail and not detail.startswith("You do not have permission"):
            cause += ": %s" % detail
        return (cause, "Use an account with the admin role on this object (or a superuser)")
    if status == 404:
        detail = _detail(body)
        return ("AWX answered 404 for %s %s%s" % (method, path, (": %s" % detail) if detail else ""),
                "Check that the object exists, that %s can see it, and that controller_host '%s' is AWX's address"
                % (settings.who(), settings.host))
    if status == 405:
        return ("AWX answered 405: %s is not allowed on %s" % (method, path),
                "Check the AWX version: this module needs AWX 21 or later")
    if status == 409:
        return ("AWX answered 409 (conflict): %s" % (render_body(body) or "no details given"),
                "Wait for running jobs that use the object to finish, then retry")
    if status in RETRY_STATUSES:
        return ("AWX answered %d to %s %s after %d attempt%s" % (status, method, path, attempts, "s" if attempts > 1 else ""),
                "AWX or the proxy in front of it is unavailable or overloaded; retry later")
    if status >= 500:
        return ("AWX answered %d (server error) to %s %s: %s" % (status, method, path, render_body(body) or "no details"),
                "Check the AWX task and web logs")
    return ("AWX answered %d to %s %s: %s" % (status, method, path, render_body(body) or "no details"),
            "Check controller_host and the AWX version")


def seconds(value):
    """A number of seconds for messages: ``10`` or ``2.5``."""
    return ("%g" % value) if isinstance(value, float) else str(value)
