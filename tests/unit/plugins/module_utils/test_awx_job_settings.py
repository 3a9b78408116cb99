# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
