# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._awx_compare import (
    ENCRYPTED,
    SECRET_MASK,
    changed_fields,
    mask_secrets,
    merge_inputs,
    same_value,
)

STORED = {"host": "registry.example.com", "username": "bot", "password": ENCRYPTED, "verify_ssl": True}


@pytest.mark.parametrize("current, wanted, expected", [
    ("", None, True),          # AWX "" and "not set" are the same
    (None, "", True),
    ("a", "a", True),
    ("a", "b", False),
    (True, True, True),
    (True, False, False),
    (None, False, False),      # an unset boolean is not false
    (1, True, False),
    ({"a": 1}, {"a": 1}, True),
])
def test_same_value(current, wanted, expected):
    assert same_value(current, wanted) is expected


def test_changed_fields_only_returns_differences():
    current = {"name": "ee", "image": "r/ee:1", "pull": "", "description": "", "organization": 2}
    assert changed_fields(current, {"image": "r/ee:1", "pull": "", "organization": 2}) == {}
    assert changed_fields(current, {"image": "r/ee:2", "organization": None, "pull": ""}) == {
        "image": "r/ee:2", "organization": None}


def test_merge_keeps_every_stored_input_with_encrypted_password():
    inputs, changed = merge_inputs(STORED, {"host": "registry2.example.com", "username": None, "password": None,
                                            "verify_ssl": None}, ("password",), False)
    assert inputs == {"host": "registry2.example.com", "username": "bot", "password": ENCRYPTED, "verify_ssl": True}
    assert changed == ["host"]


def test_merge_on_create_does_not_resend_a_stored_password():
    inputs, changed = merge_inputs(STORED, {"host": "registry.example.com", "username": "bot", "password": "new",
                                            "verify_ssl": True}, ("password",), False)
    assert inputs["password"] == ENCRYPTED
    assert changed == []


def test_merge_always_sends_the_password():
    inputs, changed = merge_inputs(STORED, {"password": "new"}, ("password",), True)
    assert inputs["password"] == "new" and inputs["host"] == "registry.example.com"
    assert changed == ["password"]


def test_merge_sets_a_lost_password_even_on_create_policy():
    wiped = {"host": "registry2.example.com"}   # what awx#13169 leaves behind
    inputs, changed = merge_inputs(wiped, {"username": "bot", "password": "pw", "verify_ssl": True},
                                   ("password",), False)
    assert inputs == {"host": "registry2.example.com", "username": "bot", "password": "pw", "verify_ssl": True}
    assert changed == ["password", "username", "verify_ssl"]


def test_merge_for_create():
    inputs, changed = merge_inputs(None, {"host": "h", "username": None, "password": "pw", "verify_ssl": False},
                                   ("password",), True)
    assert inputs == {"host": "h", "password": "pw", "verify_ssl": False}
    assert changed == ["host", "password", "verify_ssl"]


def test_mask_secrets():
    data = {"name": "c", "inputs": {"host": "h", "password": "plain", "token": ""}}
    masked = mask_secrets(data, ("password", "token"))
    assert masked == {"name": "c", "inputs": {"host": "h", "password": ENCRYPTED, "token": ""}}
    assert mask_secrets(data, ("password",), ("password",))["inputs"]["password"] == SECRET_MASK
    assert data["inputs"]["password"] == "plain"
