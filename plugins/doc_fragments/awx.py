# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Connection options of the eeforge.builder AWX modules (plugins/module_utils/_awx_settings.py)."""

    DOCUMENTATION = r"""
options:
  controller_host:
    description:
      - URL of AWX or Automation Controller, for example V(https://awx.example.com).
      - V(https://) is added when no scheme is given; a path (V(https://example.com/awx)) is kept in front of the API path.
      - If not set, the environment variable E(CONTROLLER_HOST) is used, then E(TOWER_HOST); without any, V(127.0.0.1), as awx.awx does.
      - The API path is V(/api/v2/) unless the environment variable E(CONTROLLER_OPTIONAL_API_URLPATTERN_PREFIX) replaces V(/api/).
    type: str
    aliases: [tower_host]
  controller_username:
    description:
      - User name for basic authentication.
      - If not set, the environment variable E(CONTROLLER_USERNAME) is used, then E(TOWER_USERNAME).
    type: str
    aliases: [tower_username]
  controller_password:
    description:
      - Password of O(controller_username).
      - If not set, the environment variable E(CONTROLLER_PASSWORD) is used, then E(TOWER_PASSWORD).
    type: str
    aliases: [tower_password]
  controller_oauthtoken:
    description:
      - OAuth2 token, sent in a C(Bearer) authorization header; it takes precedence over user name and password.
      - Either the token string, or the dictionary returned by the awx.awx token module (its C(token) key is used).
      - If not set, the environment variable E(CONTROLLER_OAUTH_TOKEN) is used, then E(TOWER_OAUTH_TOKEN).
    type: raw
    aliases: [tower_oauthtoken]
  validate_certs:
    description:
      - Verify the TLS certificate of O(controller_host).
      - If not set, the environment variable E(CONTROLLER_VERIFY_SSL) is used, then E(TOWER_VERIFY_SSL); without any, V(true).
      - Set to V(false) only for a test server with a self-signed certificate.
    type: bool
    aliases: [tower_verify_ssl]
  request_timeout:
    description:
      - Seconds to wait for each answer of AWX.
      - If not set, the environment variable E(CONTROLLER_REQUEST_TIMEOUT) is used; without it, V(10).
    type: float
notes:
  - The environment variables are those awx.awx reads, and those AWX injects into a job from a credential of
    the C(Red Hat Ansible Automation Platform) type, so inside an AWX job these modules need no connection options.
  - Transient failures (connection refused or reset, timeouts, HTTP 502, 503 and 504) are retried up to 3 times
    with exponential backoff (0.5, 1 and 2 seconds). A POST is retried only when it cannot have reached AWX.
  - Unlike awx.awx, these modules do not read C(tower_cli.cfg) configuration files, and a task that sends one or two
    requests authenticates with basic authentication instead of creating and deleting an OAuth token first. A bulk
    task (the O(ignore:items) option of the modules that have it) given a user name and password creates one
    temporary OAuth2 token, sends all its requests with it (a real AWX spends about 0.14 s checking the password of
    every basic-auth request) and deletes it at the end, also when the task fails; a given O(controller_oauthtoken)
    is used as it is, and check mode creates no token. Where AWX refuses to create a token (tokens turned off, or
    a gateway in front of AWX), the task warns and sends the password with every request.
requirements:
  - awxkit
"""
