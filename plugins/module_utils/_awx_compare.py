# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure functions that compare AWX objects with what a task asks for (no HTTP, no AnsibleModule).

- ``changed_fields(current, wanted)``: the fields of ``wanted`` whose values differ.
- ``merge_inputs(current, given, secret_fields, update_secrets)``: the full ``inputs`` dict to send
  for a credential (AWX replaces ``inputs`` as a whole on PATCH), with ``$encrypted$`` for stored
  secrets that stay as they are, and the names of the inputs that change.
- ``mask_secrets(data, secret_fields)``: a copy fit for ``diff`` and results.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

ENCRYPTED = "$encrypted$"
# How a secret the task sets (new or replaced) appears in diffs and results.
SECRET_MASK = "********"


def _normalize(value):
    # AWX answers "" for an unset text field and null for an unset relation; the module options
    # say None for "not set". Booleans and numbers compare as they are.
    if value is None:
        return ""
    return value


def same_value(current, wanted):
    """True when the AWX value ``current`` already is the ``wanted`` one."""
    if isinstance(current, dict) and isinstance(wanted, dict):
        keys = set(current) | set(wanted)
        return all(same_value(current.get(key), wanted.get(key)) for key in keys)
    if isinstance(wanted, bool) or isinstance(current, bool):
        return current is wanted
    return _normalize(current) == _normalize(wanted)


def changed_fields(current, wanted):
    """The subset of ``wanted`` (field -> value) that differs from ``current`` (an AWX object)."""
    return dict((key, value) for key, value in wanted.items() if not same_value(current.get(key), value))


def merge_inputs(current, given, secret_fields, update_secrets):
    """The whole credential ``inputs`` to send, and the sorted names of the inputs that change.

    ``current``: the stored inputs as AWX shows them (secrets as ``$encrypted$``), or None when
    creating. ``given``: the inputs the task sets (None values mean "not managed": keep the stored
    value). A stored secret is sent back as ``$encrypted$`` (AWX then keeps it) unless the task
    gives a value and ``update_secrets`` is true; a secret with no stored value is set when given.
    Every stored input is sent, because AWX drops those missing from a PATCH.
    """
    current = dict(current or {})
    merged = {}
    changed = set()
    for key, value in current.items():
        merged[key] = ENCRYPTED if key in secret_fields and value == ENCRYPTED else value
    for key, value in given.items():
        if value is None:
            continue
        if key in secret_fields:
            stored = current.get(key) not in (None, "")
            if stored and not update_secrets:
                continue
            merged[key] = value
            changed.add(key)
        elif not same_value(current.get(key), value) or key not in current:
            merged[key] = value
            changed.add(key)
    return merged, sorted(changed)


def mask_secrets(data, secret_fields, changed_secrets=()):
    """A deep copy of ``data`` where every value of a key in ``secret_fields`` is masked.

    A secret in ``changed_secrets`` shows as ``********`` (set by this task), any other one as
    ``$encrypted$`` (stored in AWX, unchanged); empty values stay empty.
    """
    def walk(value):
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key in secret_fields and item not in (None, ""):
                    out[key] = SECRET_MASK if key in changed_secrets else ENCRYPTED
                else:
                    out[key] = walk(item)
            return out
        if isinstance(value, list):
            return [walk(item) for item in value]
        return copy.deepcopy(value)
    return walk(data)
