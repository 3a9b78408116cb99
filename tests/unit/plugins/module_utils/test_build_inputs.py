# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._build_inputs import (
    check_extra_args,
    check_labels,
    galaxy_signature_args,
    parse_tags,
)
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildInputError


@pytest.mark.parametrize("args, fragment", [
    (["--creds", "builder:s3cret"], "passes registry credentials inline (--creds)"),
    (["--creds=builder:s3cret"], "passes registry credentials inline (--creds)"),
    (["--password", "s3cret"], "passes a password inline (--password)"),
    (["--password=s3cret"], "passes a password inline (--password)"),
    (["--secret", "id=tok,src=/nonexistent/token"], "passes --secret 'id=tok' whose src is not an existing file"),
    (["--secret=id=tok"], "passes --secret 'id=tok' whose src is not an existing file"),
    (["--build-arg", "HUB_TOKEN=abc"], "passes 'HUB_TOKEN' as a build arg"),
    (["--build-arg=DB_PASSWORD=abc"], "passes 'DB_PASSWORD' as a build arg"),
    (["--build-arg", "my_secret=abc"], "passes 'my_secret' as a build arg"),
])
def test_inline_credentials_are_refused_each_with_its_own_message(args, fragment):
    with pytest.raises(BuildInputError) as err:
        check_extra_args(args)
    message = str(err.value)
    assert message.startswith("Failed to build image: extra_build_cli_args ") and fragment in message
    assert "s3cret" not in message and "abc" not in message and "\n" not in message
    # the module masks these in its whole result (the task's own arguments included)
    assert all(secret in " ".join(args) for secret in err.value.secrets)
    assert err.value.secrets or args == ["--secret=id=tok"]


def test_harmless_args_and_file_secrets_pass(tmp_path):
    token = tmp_path / "token"
    token.write_text("x")
    args = ["--pull=never", "--secret", "id=tok,src=%s" % token, "--secret=id=e,env=HUB", "--build-arg", "VERSION=1",
            "--build-arg", "HUB_TOKEN"]
    assert check_extra_args(args) == args


def test_own_labels_are_refused():
    for key in ("io.eeforge.definition-digest", "io.eeforge.definition"):
        with pytest.raises(BuildInputError, match="is set by ee_build itself"):
            check_labels({key: "x"})
    assert check_labels({"x": "$HOME ~/x ${PATH}"}) == {"x": "$HOME ~/x ${PATH}"}


def test_tags_unqualified_become_localhost_and_duplicates_are_refused():
    assert [str(r) for r in parse_tags(["ee:1", "r.io/ee:1"])] == ["localhost/ee:1", "r.io/ee:1"]
    with pytest.raises(BuildInputError, match="listed twice"):
        parse_tags(["ee:1", "localhost/ee:1"])
    with pytest.raises(BuildInputError, match="'tags' is empty"):
        parse_tags([])


# -- collection signatures: ansible-builder's galaxy options, as written ------------------------------

def test_galaxy_signature_options_become_ansible_builder_args(tmp_path):
    keyring = tmp_path / "galaxy.gpg"
    keyring.write_bytes(b"keys")
    params = {"galaxy_keyring": str(keyring), "galaxy_required_valid_signature_count": "+1",
              "galaxy_ignore_signature_status_codes": ["NO_PUBKEY", "BADSIG"]}
    assert galaxy_signature_args(params) == [
        "--galaxy-keyring", str(keyring), "--galaxy-ignore-signature-status-codes", "NO_PUBKEY",
        "--galaxy-ignore-signature-status-codes", "BADSIG", "--galaxy-required-valid-signature-count", "+1"]
    assert galaxy_signature_args({}) == []
    for count in ("1", "all", "+all", "-1", "12"):
        assert galaxy_signature_args(dict(params, galaxy_required_valid_signature_count=count))[-1] == count


@pytest.mark.parametrize("params, says", [
    ({"galaxy_required_valid_signature_count": "1"}, "galaxy_required_valid_signature_count is set but galaxy_keyring"),
    ({"galaxy_ignore_signature_status_codes": ["NO_PUBKEY"]}, "galaxy_ignore_signature_status_codes is set but"),
    ({"galaxy_keyring": "/nonexistent/galaxy.gpg"}, "Failed to read galaxy_keyring '/nonexistent/galaxy.gpg'"),
    ({"galaxy_keyring": "KEYRING", "galaxy_required_valid_signature_count": "some"}, "'some' is not a count"),
])
def test_galaxy_signature_options_that_cannot_work(tmp_path, params, says):
    keyring = tmp_path / "k.gpg"
    keyring.write_bytes(b"keys")
    if params.get("galaxy_keyring") == "KEYRING":
        params = dict(params, galaxy_keyring=str(keyring))
    with pytest.raises(BuildInputError) as err:
        galaxy_signature_args(params)
    assert says in str(err.value) and "\n" not in str(err.value)
