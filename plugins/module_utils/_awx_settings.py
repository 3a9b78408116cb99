# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where AWX is and how to authenticate, as awx.awx resolves it.

- ``CONNECTION_ARGSPEC``: the options shared by every AWX module, read from the task or from the
  environment variables awx.awx reads (``CONTROLLER_*`` first, then the ``TOWER_*`` aliases), so
  credentials AWX injects into a job ("Red Hat Ansible Automation Platform" credential type) just work.
- ``AwxSettings.from_params()``: those options turned into host, API root and auth.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.six import string_types
from ansible.module_utils.six.moves.urllib.parse import urlsplit

DEFAULT_HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 10.0
DEFAULT_API_PREFIX = "/api/"

# Options shared by every AWX module, with the environment variables awx.awx reads
# (awx.awx plugins/module_utils/controller_api.py, ControllerModule.AUTH_ARGSPEC).
CONNECTION_ARGSPEC = dict(
    controller_host=dict(
        type="str", aliases=["tower_host"],
        fallback=(env_fallback, ["CONTROLLER_HOST", "TOWER_HOST"]),
    ),
    controller_username=dict(
        type="str", aliases=["tower_username"],
        fallback=(env_fallback, ["CONTROLLER_USERNAME", "TOWER_USERNAME"]),
    ),
    controller_password=dict(
        type="str", no_log=True, aliases=["tower_password"],
        fallback=(env_fallback, ["CONTROLLER_PASSWORD", "TOWER_PASSWORD"]),
    ),
    controller_oauthtoken=dict(
        type="raw", no_log=True, aliases=["tower_oauthtoken"],
        fallback=(env_fallback, ["CONTROLLER_OAUTH_TOKEN", "TOWER_OAUTH_TOKEN"]),
    ),
    validate_certs=dict(
        type="bool", aliases=["tower_verify_ssl"],
        fallback=(env_fallback, ["CONTROLLER_VERIFY_SSL", "TOWER_VERIFY_SSL"]),
    ),
    request_timeout=dict(
        type="float",
        fallback=(env_fallback, ["CONTROLLER_REQUEST_TIMEOUT"]),
    ),
)


class AwxSettings(object):
    """Where AWX is and how to authenticate, resolved like awx.awx does.

    ``origin`` is ``scheme://host[:port]``; ``api_root`` the path of the v2 API (``/api/v2/``, with
    the path of ``controller_host`` in front when it has one, and ``CONTROLLER_OPTIONAL_API_URLPATTERN_PREFIX``
    instead of ``/api/`` when that is set). ``auth`` is ``'token'``, ``'basic'`` or None.
    """

    def __init__(self, host=None, username=None, password=None, token=None, validate_certs=True,
                 request_timeout=DEFAULT_TIMEOUT, api_prefix=DEFAULT_API_PREFIX):
        host = (host or DEFAULT_HOST).strip()
        if not re.match(r"^https?://", host):
            host = "https://" + host
        parts = urlsplit(host)
        if not parts.hostname:
            raise ValueError("controller_host '%s' is not a URL. Use e.g. https://awx.example.com" % host)
        self.host = host
        self.origin = "%s://%s" % (parts.scheme, parts.netloc)
        prefix = "/" + (api_prefix or DEFAULT_API_PREFIX).strip("/") + "/"
        self.api_root = parts.path.rstrip("/") + prefix + "v2/"
        self.username = username or None
        self.password = password or None
        self.token = token or None
        self.validate_certs = True if validate_certs is None else bool(validate_certs)
        self.request_timeout = DEFAULT_TIMEOUT if request_timeout is None else float(request_timeout)
        if self.request_timeout <= 0:
            raise ValueError("request_timeout must be more than 0 seconds, not %s" % request_timeout)
        if self.token:
            self.auth = "token"
        elif self.username and self.password:
            self.auth = "basic"
        else:
            self.auth = None

    @classmethod
    def from_params(cls, params, environ=None):
        """Build from module params (``CONNECTION_ARGSPEC`` keys, env fallbacks already applied)."""
        environ = os.environ if environ is None else environ
        token = params.get("controller_oauthtoken")
        if isinstance(token, dict):
            # What awx.awx's token module returns (controller_token fact).
            if "token" not in token:
                raise ValueError("controller_oauthtoken is a dict without a 'token' key. "
                                 "Give the token string, or the dict the awx.awx token module returns")
            token = token["token"]
        elif token is not None and not isinstance(token, string_types):
            raise ValueError("controller_oauthtoken must be a string or a dict with 'token', not a %s"
                             % type(token).__name__)
        return cls(
            host=params.get("controller_host"),
            username=params.get("controller_username"),
            password=params.get("controller_password"),
            token=token,
            validate_certs=params.get("validate_certs"),
            request_timeout=params.get("request_timeout"),
            api_prefix=environ.get("CONTROLLER_OPTIONAL_API_URLPATTERN_PREFIX") or DEFAULT_API_PREFIX,
        )

    def who(self):
        """How we authenticate, for messages (never the secret)."""
        if self.auth == "token":
            return "the OAuth token"
        if self.auth == "basic":
            return "user '%s'" % self.username
        return "anonymous access"
