# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module's argument spec, as AnsibleModule receives it.

AnsibleModule warns "Module did not set no_log for X" on every run for an option whose name looks
like a password (its PASSWORD_MATCH) unless the spec says no_log either way: each such option
must decide (a passphrase *file* path is not a secret: ``no_log=False``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import os
from unittest import mock

import pytest
from ansible.module_utils import basic

MODULES_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "modules")
MODULES = sorted(name[:-3] for name in os.listdir(MODULES_DIR) if name.endswith(".py") and name != "__init__.py")


class _Captured(Exception):
    def __init__(self, spec):
        super(_Captured, self).__init__("argument spec captured")
        self.spec = spec


def _argument_spec(name):
    module = importlib.import_module("ansible_collections.eeforge.builder.plugins.modules." + name)

    def capture(self, argument_spec=None, *args, **kwargs):  # pylint: disable=unused-argument,keyword-arg-before-vararg
        raise _Captured(argument_spec)

    with mock.patch.object(basic.AnsibleModule, "__init__", capture):
        with pytest.raises(_Captured) as caught:
            module.main()
    return caught.value.spec


def _options(spec, prefix=""):
    for option, opts in spec.items():
        yield prefix + option, option, opts
        for alias in opts.get("aliases") or ():
            yield prefix + alias, alias, opts
        if opts.get("options"):
            yield from _options(opts["options"], prefix + option + ".")


def test_every_module_is_checked():
    assert "ee_build" in MODULES and "awx_execution_environment" in MODULES and len(MODULES) >= 9


@pytest.mark.parametrize("name", MODULES)
def test_password_like_options_say_whether_they_are_secret(name):
    spec = _argument_spec(name)
    assert spec, "%s built no argument spec" % name
    undecided = [path for path, option, opts in _options(spec)
                 if basic.PASSWORD_MATCH.search(option) and "no_log" not in opts]
    assert undecided == [], "%s: set no_log=True (a secret) or no_log=False for %s" % (name, ", ".join(undecided))


def test_the_passphrase_file_is_a_path_not_a_secret():
    spec = _argument_spec("ee_build")
    assert spec["sign_passphrase_file"]["no_log"] is False
    assert spec["sigstore_passphrase"]["no_log"] is True
    assert spec["registry_password"]["no_log"] is True
