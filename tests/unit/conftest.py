# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests run under ansible-core 2.19 (make units) and 2.16 (make compat-216).

``ansible.module_utils.testing.patch_module_args`` appeared in ansible-core 2.19; under older
releases the same thing is done the way their AnsibleModule reads its arguments (``_ANSIBLE_ARGS``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import sys
import types
from contextlib import contextmanager

try:
    from ansible.module_utils import testing as _testing  # noqa: F401  pylint: disable=unused-import
except ImportError:
    from unittest import mock

    from ansible.module_utils import basic

    @contextmanager
    def patch_module_args(args=None):
        """Expose ``args`` to the AnsibleModule instances created within this context (ansible-core < 2.19)."""
        if not isinstance(args, (dict, type(None))):
            raise TypeError("The `args` arg must be a dict or None.")
        data = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", data):
            yield

    _shim = types.ModuleType("ansible.module_utils.testing")
    _shim.patch_module_args = patch_module_args
    sys.modules["ansible.module_utils.testing"] = _shim
