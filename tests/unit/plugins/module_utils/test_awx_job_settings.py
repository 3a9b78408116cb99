# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._awx_job_settings import (
    OptionError,
    merge_run_options,
    merge_show_paths,
    parse_options,
    parse_wanted,
)

AWX_DEFAULT = ["--network", "slirp4netns:enable_ipv6=true"]


def test_parse_awx_default_and_mixed_spellings():
    assert parse_options(AWX_DEFAULT) == [("--network", "slirp4netns:enable_ipv6=true", AWX_DEFAULT)]
    assert parse_options(["--privileged", "--device=/dev/fuse", "-v", "/a:/b"]) == [
        ("--privileged", None, ["--privileged"]),
        ("--device", "/dev/fuse", ["--device=/dev/fuse"]),
        ("--volume", "/a:/b", ["-v", "/a:/b"]),
    ]


def test_parse_rejects_a_value_without_option():
    with pytest.raises(OptionError, match="is not an option"):
        parse_options(["slirp4netns"])
    with pytest.raises(OptionError, match="must start with '-'"):
        parse_wanted(["device=/dev/fuse"])


def test_parse_wanted_spellings():
    assert parse_wanted(["--device=/dev/fuse", "--security-opt unmask=/proc/*", "--privileged", "-e A=1"]) == [
        ("--device", "/dev/fuse", ["--device", "/dev/fuse"]),
        ("--security-opt", "unmask=/proc/*", ["--security-opt", "unmask=/proc/*"]),
        ("--privileged", None, ["--privileged"]),
        ("--env", "A=1", ["--env", "A=1"]),
    ]


def test_add_keeps_existing_options():
    # The list AWX would otherwise lose: a PATCH with only the new option drops the network option.
    assert merge_run_options(AWX_DEFAULT, ["--device=/dev/fuse"]) == AWX_DEFAULT + ["--device", "/dev/fuse"]


def test_add_is_idempotent_whatever_the_spelling():
    current = AWX_DEFAULT + ["--device=/dev/fuse"]
    assert merge_run_options(current, ["--device /dev/fuse"]) == current


def test_single_valued_option_is_replaced_in_place():
    current = AWX_DEFAULT + ["--device", "/dev/fuse"]
    merged = merge_run_options(current, ["--network=slirp4netns:enable_ipv6=true,allow_host_loopback=true"])
    assert merged == ["--network", "slirp4netns:enable_ipv6=true,allow_host_loopback=true", "--device", "/dev/fuse"]
    assert merge_run_options(["--net=host"], ["--network host"]) == ["--net=host"]


def test_repeatable_and_keyed_options():
    current = ["--security-opt", "label=disable", "--ulimit", "nofile=1024:1024"]
    merged = merge_run_options(current, ["--security-opt=unmask=/proc/*", "--ulimit nofile=4096:4096"])
    assert merged == ["--security-opt", "label=disable", "--ulimit", "nofile=4096:4096",
                      "--security-opt", "unmask=/proc/*"]


def test_absent_removes_only_what_is_named():
    current = AWX_DEFAULT + ["--device", "/dev/fuse", "--device", "/dev/net/tun", "--privileged"]
    assert merge_run_options(current, ["--device=/dev/fuse", "--privileged"], state="absent") == \
        AWX_DEFAULT + ["--device", "/dev/net/tun"]
    assert merge_run_options(current, ["--network"], state="absent") == current[2:]
    assert merge_run_options(current, ["--network=host"], state="absent") == current


def test_empty_and_none():
    assert merge_run_options(None, ["--device=/dev/fuse"]) == ["--device", "/dev/fuse"]
    assert merge_run_options(AWX_DEFAULT, []) == AWX_DEFAULT


def test_show_paths():
    current = ["/srv/share:/srv/share:O"]
    assert merge_show_paths(current, ["/var/cache/eeforge:/var/cache/eeforge:rw"]) == \
        current + ["/var/cache/eeforge:/var/cache/eeforge:rw"]
    assert merge_show_paths(current, ["/srv/share:/srv/share:O"]) == current
    # Same container path, other options: replaced.
    assert merge_show_paths(current, ["/srv/share:/srv/share:z"]) == ["/srv/share:/srv/share:z"]
    assert merge_show_paths(["/a", "/b:/c"], ["/x:/c"], state="absent") == ["/a"]
    with pytest.raises(OptionError, match="absolute host path"):
        merge_show_paths([], ["cache"])


# -- AWX's own format, from the recorded settings exchanges (tests/awx_contract/71-73) -------------

CONTRACT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "awx_contract")


def recorded(number):
    path = [name for name in os.listdir(CONTRACT) if name.startswith("%02d-" % number)][0]
    with open(os.path.join(CONTRACT, path)) as handle:
        return json.load(handle)


def test_awx_format_is_accepted_as_wanted_options():
    current = recorded(71)["response_body"]["DEFAULT_CONTAINER_RUN_OPTIONS"]
    assert current == AWX_DEFAULT
    # What AWX returns, given back as it is: nothing to change.
    assert merge_run_options(current, current) == current
    assert parse_wanted(current) == parse_options(current)
    # The list the recorded PATCH sent, in AWX's format, on top of what the GET returned: AWX's answer.
    patch = recorded(72)
    wanted = patch["request_body"]["DEFAULT_CONTAINER_RUN_OPTIONS"]
    assert merge_run_options(current, wanted) == patch["response_body"]["DEFAULT_CONTAINER_RUN_OPTIONS"]
    # Removing what the restore exchange removed gives what it sent.
    restore = recorded(73)
    assert merge_run_options(wanted, ["--device", "/dev/fuse"], state="absent") == \
        restore["request_body"]["DEFAULT_CONTAINER_RUN_OPTIONS"]


def test_awx_format_mixed_with_one_item_spellings():
    assert parse_wanted(["--network", "slirp4netns:allow_host_loopback=true", "--privileged", "--device=/dev/fuse",
                         "--security-opt", "label=disable"]) == [
        ("--network", "slirp4netns:allow_host_loopback=true", ["--network", "slirp4netns:allow_host_loopback=true"]),
        ("--privileged", None, ["--privileged"]),
        ("--device", "/dev/fuse", ["--device", "/dev/fuse"]),
        ("--security-opt", "label=disable", ["--security-opt", "label=disable"]),
    ]


def test_awx_format_value_after_a_flag_that_takes_none_is_refused():
    with pytest.raises(OptionError, match="'x' follows --privileged, which takes no value"):
        parse_wanted(["--privileged", "x"])
    with pytest.raises(OptionError, match="is not a podman run option"):
        parse_wanted(["slirp4netns:enable_ipv6=true"])
    with pytest.raises(OptionError, match="is not a podman run option"):
        parse_wanted(["--device=/dev/fuse", "/dev/kvm"])
