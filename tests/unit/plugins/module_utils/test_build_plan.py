# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_build's plan on plain dicts: no podman, no registry."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._build_plan import NEW_IMAGE, UNKNOWN, plan_build
from ansible_collections.eeforge.builder.plugins.module_utils._definition import DEFINITION_LABEL, DIGEST_LABEL

DIGEST = "sha256:" + "1" * 64
OLD = "sha256:" + "0" * 64
PRIMARY, SECOND = "r.io/ee/x:1", "r.io/ee/x:latest"
LOCAL_ONLY = "localhost/x:1"
NEW_DEF = {"version": 3, "dependencies": {"python": ["boto3"]}}
OLD_DEF = {"version": 3, "dependencies": {"python": ["botocore"]}}


def image(digest=DIGEST, image_id="a" * 64, definition=None):
    labels = {DIGEST_LABEL: digest}
    if definition is not None:
        labels[DEFINITION_LABEL] = json.dumps(definition)
    return {"id": image_id, "labels": labels, "tags": []}


def remote(digest=DIGEST, registry_digest="sha256:" + "r" * 64):
    return {"digest": registry_digest, "labels": {DIGEST_LABEL: digest}}


def test_up_to_date_locally_is_no_change():
    plan = plan_build(DIGEST, [LOCAL_ONLY], [], {LOCAL_ONLY: image()}, {}, definition=NEW_DEF)
    assert (plan.changed, plan.actions, plan.image_id) == (False, [], "a" * 64)
    assert plan.diff["before"] == plan.diff["after"]


def test_missing_locally_builds():
    plan = plan_build(DIGEST, [LOCAL_ONLY], [], {LOCAL_ONLY: None}, {}, definition=NEW_DEF)
    assert (plan.changed, plan.actions, plan.image_id) == (True, ["build"], None)
    assert plan.diff["before"] == {"definition_digest": None, "image_id": None, "definition": None}
    assert plan.diff["after"] == {"definition_digest": DIGEST, "image_id": NEW_IMAGE, "definition": NEW_DEF}


def test_digest_differs_rebuilds_and_diffs_the_definitions():
    local = {LOCAL_ONLY: image(OLD, definition=OLD_DEF)}
    plan = plan_build(DIGEST, [LOCAL_ONLY], [], local, {}, definition=NEW_DEF)
    assert plan.actions == ["build"]
    assert plan.diff["before"]["definition"] == OLD_DEF and plan.diff["after"]["definition"] == NEW_DEF
    assert plan.diff["before"]["definition_digest"] == OLD


def test_image_without_definition_label_has_unknown_before():
    plan = plan_build(DIGEST, [LOCAL_ONLY], [], {LOCAL_ONLY: image(OLD)}, {}, definition=NEW_DEF)
    assert plan.diff["before"]["definition"] is None and plan.diff["after"]["definition"] == NEW_DEF


def test_force_rebuilds_an_up_to_date_image():
    plan = plan_build(DIGEST, [LOCAL_ONLY], [], {LOCAL_ONLY: image()}, {}, force=True, definition=NEW_DEF)
    assert plan.actions == ["build"] and plan.changed


def test_second_tag_missing_is_a_retag_only():
    local = {PRIMARY: image(), SECOND: None}
    plan = plan_build(DIGEST, [PRIMARY, SECOND], [], local, {})
    assert plan.actions == ["tag %s" % SECOND] and plan.changed


def test_up_to_date_in_registry_needs_no_local_image():
    plan = plan_build(DIGEST, [PRIMARY], [PRIMARY], {PRIMARY: None}, {PRIMARY: remote()})
    assert (plan.changed, plan.actions, plan.digest) == (False, [], "sha256:" + "r" * 64)


def test_push_only_when_the_local_image_is_current_and_the_registry_is_not():
    plan = plan_build(DIGEST, [PRIMARY, SECOND], [PRIMARY, SECOND], {PRIMARY: image(), SECOND: image()},
                      {PRIMARY: remote(OLD), SECOND: None})
    assert plan.actions == ["push %s" % PRIMARY, "push %s" % SECOND]
    assert plan.image_id == "a" * 64 and plan.digest is None


def test_everything_current_returns_the_registry_digest():
    plan = plan_build(DIGEST, [PRIMARY], [PRIMARY], {PRIMARY: image()}, {PRIMARY: remote()})
    assert (plan.changed, plan.digest) == (False, "sha256:" + "r" * 64)


def test_build_pushes_every_pushed_tag():
    plan = plan_build(DIGEST, [PRIMARY, LOCAL_ONLY], [PRIMARY], {PRIMARY: None, LOCAL_ONLY: None}, {PRIMARY: None})
    assert plan.actions == ["build", "push %s" % PRIMARY]


@pytest.mark.parametrize("local", [None, image()])
def test_registry_unknown_in_check_mode_counts_as_a_push_with_a_warning(local):
    plan = plan_build(DIGEST, [PRIMARY], [PRIMARY], {PRIMARY: local}, {PRIMARY: UNKNOWN})
    assert "push %s" % PRIMARY in plan.actions and plan.changed
    assert len(plan.warnings) == 1 and "unknown" in plan.warnings[0] and PRIMARY in plan.warnings[0]
    assert plan.actions[0] == ("build" if local is None else "push %s" % PRIMARY)


def test_before_definition_comes_from_the_registry_copy_when_there_is_no_local_image():
    registry_copy = {"digest": "sha256:r", "labels": {DIGEST_LABEL: OLD, DEFINITION_LABEL: json.dumps(OLD_DEF)}}
    plan = plan_build(DIGEST, [PRIMARY], [PRIMARY], {PRIMARY: None}, {PRIMARY: registry_copy}, definition=NEW_DEF)
    assert plan.actions == ["build", "push %s" % PRIMARY]
    assert plan.diff["before"]["definition"] == OLD_DEF and plan.diff["before"]["definition_digest"] == OLD


def test_unreadable_definition_label_is_unknown_not_an_error():
    broken = image(OLD)
    broken["labels"][DEFINITION_LABEL] = "{not json"
    plan = plan_build(DIGEST, [LOCAL_ONLY], [], {LOCAL_ONLY: broken}, {}, definition=NEW_DEF)
    assert plan.diff["before"]["definition"] is None


# -- signing (sign_by): ``signed`` maps each pushed tag to its signature by the key, or None --------------

def test_signed_and_up_to_date_is_no_change():
    plan = plan_build(DIGEST, [PRIMARY], [PRIMARY], {PRIMARY: image()}, {PRIMARY: remote()},
                      signed={PRIMARY: "/store/sig-1"})
    assert (plan.changed, plan.actions) == (False, [])


def test_up_to_date_but_unsigned_is_a_sign_only():
    plan = plan_build(DIGEST, [PRIMARY, SECOND], [PRIMARY, SECOND], {PRIMARY: image(), SECOND: image()},
                      {PRIMARY: remote(), SECOND: remote()}, signed={PRIMARY: "/store/sig-1", SECOND: None})
    assert (plan.changed, plan.actions) == (True, ["sign %s" % SECOND])
    assert not plan.build and not plan.push


def test_up_to_date_in_registry_only_and_unsigned_signs_without_a_local_image():
    plan = plan_build(DIGEST, [PRIMARY], [PRIMARY], {PRIMARY: None}, {PRIMARY: remote()}, signed={PRIMARY: None})
    assert plan.actions == ["sign %s" % PRIMARY]


def test_every_push_is_signed_even_where_the_old_image_was():
    plan = plan_build(DIGEST, [PRIMARY], [PRIMARY], {PRIMARY: image(OLD)}, {PRIMARY: remote(OLD)},
                      signed={PRIMARY: "/store/old-sig"})
    assert plan.actions == ["build", "push %s" % PRIMARY, "sign %s" % PRIMARY]


def test_without_sign_by_nothing_is_signed():
    plan = plan_build(DIGEST, [PRIMARY], [PRIMARY], {PRIMARY: image()}, {PRIMARY: remote()}, signed=None)
    assert plan.sign == [] and not plan.changed
