# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_awx_ee: which relations an EE needs looked up, credential choice, lookups from one listing, references."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._awx_client import AwxError
from ansible_collections.eeforge.builder.plugins.module_utils._awx_ee import (
    ITEM_ARGSPEC,
    BulkLookups,
    choose_credential,
    describe_references,
    relation_lookups,
    view,
)

EXISTING = {"id": 7, "name": "ee-aws", "image": "r/ee:1", "pull": "", "description": None, "organization": 2,
            "credential": 3, "summary_fields": {"organization": {"id": 2, "name": "Platform"},
                                                "credential": {"id": 3, "name": "registry"}}}


def params(**values):
    out = dict((key, spec.get("default")) for key, spec in ITEM_ARGSPEC.items())
    out.update(values)
    return out


@pytest.mark.parametrize("values, expected", [
    (dict(organization="Platform", credential="registry"), (None, None)),  # the summary names match: no lookup
    (dict(organization="2", credential="3"), (None, None)),  # ids match as well
    (dict(organization="Other", credential="registry"), ("Other", None)),
    (dict(organization="Platform", credential="other"), (None, "other")),
    (dict(organization=None, credential=""), (None, None)),  # made global, credential removed: nothing to look up
])
def test_relation_lookups_only_for_what_differs(values, expected):
    assert relation_lookups(params(**values), EXISTING) == expected


def test_relation_lookups_for_a_new_ee():
    assert relation_lookups(params(organization="Platform", credential="registry"), None) == ("Platform", "registry")


def test_choose_credential_prefers_the_one_in_the_organization():
    creds = [{"id": 3, "name": "registry", "kind": "registry", "organization": 1},
             {"id": 4, "name": "registry", "kind": "registry", "organization": 2},
             {"id": 5, "name": "registry", "kind": "ssh", "organization": 2}]
    assert choose_credential(creds, "registry", 2, "user 'x'")["id"] == 4
    assert choose_credential(creds, "4", None, "user 'x'")["id"] == 4
    with pytest.raises(AwxError, match="2 objects are named 'registry'"):
        choose_credential(creds, "registry", None, "user 'x'")
    with pytest.raises(AwxError, match="Container Registry credential '5' does not exist"):
        choose_credential(creds, "5", None, "user 'x'")  # not a registry credential


class ListingClient(object):
    """Answers ``list_in`` from fixed objects and records what was asked."""

    class settings(object):  # noqa: N801  pylint: disable=invalid-name
        @staticmethod
        def who():
            return "user 'admin'"

    def __init__(self, objects):
        self.objects = objects
        self.asked = []

    def list_in(self, endpoint, values, ids=True):
        self.asked.append((endpoint, list(values), ids))
        return [obj for obj in self.objects.get(endpoint, []) if obj["name"] in values
                or (ids and str(obj["id"]) in [str(value) for value in values])]


def test_bulk_lookups_answer_from_one_listing_per_kind():
    client = ListingClient({
        "execution_environments/": [EXISTING, {"id": 8, "name": "ee-new-name"}],
        "organizations/": [{"id": 2, "name": "Platform"}, {"id": 9, "name": "Other"}],
        "credentials/": [{"id": 3, "name": "registry", "kind": "registry", "organization": 2}],
    })
    lookups = BulkLookups(client)
    lookups.fetch_ees(["ee-aws", "ee-old-name", "ee-new-name"])
    lookups.fetch_relations(["Other", 2], ["registry"])
    assert lookups.existing("ee-aws", None)["id"] == 7
    assert lookups.existing("ee-old-name", "ee-new-name")["id"] == 8  # renamed already
    assert lookups.existing("ee-gone", None) is None
    assert lookups.organization("Other")["id"] == 9 and lookups.organization(2)["name"] == "Platform"
    assert lookups.credential("registry", 2)["id"] == 3
    with pytest.raises(AwxError, match="organization 'Nope' does not exist"):
        lookups.organization("Nope")
    assert [entry[0] for entry in client.asked] == ["execution_environments/", "organizations/", "credentials/"]
    assert client.asked[0][2] is False  # EEs by name only


def test_view_and_references_for_messages():
    assert view(EXISTING) == {"name": "ee-aws", "image": "r/ee:1", "pull": "", "description": "",
                              "organization": "Platform", "credential": "registry"}
    assert view(None) == {}
    assert describe_references([{"type": "job_template", "name": "deploy", "field": "execution_environment"},
                                {"type": "setting", "name": "DEFAULT_EXECUTION_ENVIRONMENT", "field": "value"}]) == \
        "job_template 'deploy' (execution_environment), setting 'DEFAULT_EXECUTION_ENVIRONMENT' (value)"
