# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""awx_job_settings against the stand-in AWX: options another team set survive (AWX replaces the list on
PATCH), check mode writes nothing, re-runs write nothing, and absent removes only what it names."""

from __future__ import annotations

from tests.integration.awx_tasks import run_tasks

MODULE = "eeforge.builder.awx_job_settings"
AWX_DEFAULT = ["--network", "slirp4netns:enable_ipv6=true"]


def test_merge_keeps_existing_options(awx_standin, tmp_path):
    # Someone else's option, set the way awx.awx's settings module would (the whole list).
    awx_standin.patch("/api/v2/settings/jobs/", {"DEFAULT_CONTAINER_RUN_OPTIONS": AWX_DEFAULT + ["--pids-limit", "2048"]})
    awx_standin.clear_requests()
    args = {"container_run_options": ["--security-opt=unmask=/proc/*",
                                      "--network=slirp4netns:enable_ipv6=true,allow_host_loopback=true"],
            "isolation_show_paths": ["/var/cache/eeforge:/var/cache/eeforge:z"]}
    predict, apply, again = run_tasks(awx_standin, tmp_path, [
        {"name": "Predict", MODULE: args, "check_mode": True, "diff": True},
        {"name": "Apply", MODULE: args, "diff": True},
        {"name": "Apply again", MODULE: args},
    ])
    wanted = ["--network", "slirp4netns:enable_ipv6=true,allow_host_loopback=true", "--pids-limit", "2048",
              "--security-opt", "unmask=/proc/*"]
    for result in (predict, apply):
        assert result["changed"] is True
        assert result["container_run_options"] == wanted
        assert result["isolation_show_paths"] == ["/var/cache/eeforge:/var/cache/eeforge:z"]
        assert result["previous"] == {"container_run_options": AWX_DEFAULT + ["--pids-limit", "2048"],
                                      "isolation_show_paths": []}
        assert result["diff"] == {
            "before": {"DEFAULT_CONTAINER_RUN_OPTIONS": AWX_DEFAULT + ["--pids-limit", "2048"],
                       "AWX_ISOLATION_SHOW_PATHS": []},
            "after": {"DEFAULT_CONTAINER_RUN_OPTIONS": wanted,
                      "AWX_ISOLATION_SHOW_PATHS": ["/var/cache/eeforge:/var/cache/eeforge:z"]}}
    assert again["changed"] is False
    assert apply["url"] == awx_standin.url + "/api/v2/settings/jobs/"
    jobs = awx_standin.get("/api/v2/settings/jobs/")
    assert jobs["DEFAULT_CONTAINER_RUN_OPTIONS"] == wanted
    assert jobs["AWX_ISOLATION_SHOW_PATHS"] == ["/var/cache/eeforge:/var/cache/eeforge:z"]
    # One PATCH with both settings; the check-mode run and the re-run only read.
    assert [(r.method, r.path) for r in awx_standin.writes()] == [("PATCH", "/api/v2/settings/jobs/")]
    assert awx_standin.count(method="GET", path_prefix="/api/v2/settings/jobs/") == 3


def test_absent_removes_only_what_it_names(awx_standin, tmp_path):
    awx_standin.patch("/api/v2/settings/jobs/", {
        "DEFAULT_CONTAINER_RUN_OPTIONS": AWX_DEFAULT + ["--device", "/dev/fuse", "--device", "/dev/net/tun"]})
    result = run_tasks(awx_standin, tmp_path, [{MODULE: {"container_run_options": ["--device /dev/fuse"],
                                                         "state": "absent"}}])[0]
    assert result["changed"] is True
    assert awx_standin.get("/api/v2/settings/jobs/")["DEFAULT_CONTAINER_RUN_OPTIONS"] == \
        AWX_DEFAULT + ["--device", "/dev/net/tun"]


def test_invalid_option_fails_before_any_write(awx_standin, tmp_path):
    result = run_tasks(awx_standin, tmp_path, [{MODULE: {"container_run_options": ["device=/dev/fuse"]}}])[0]
    assert result["failed"] is True
    assert result["msg"] == (
        "Failed to update AWX setting 'DEFAULT_CONTAINER_RUN_OPTIONS': 'device=/dev/fuse' is not a podman run option "
        "(it must start with '-', e.g. '--device=/dev/fuse', or be the value after its option, as in "
        "['--device', '/dev/fuse']). Fix container_run_options.")
    assert awx_standin.writes() == []


def test_awx_own_format_option_and_value_as_two_items(awx_standin, tmp_path):
    # What GET /api/v2/settings/jobs/ returns (contract 71) and the list the recorded PATCH sent (72),
    # given to the module as they are: option and value as separate elements.
    assert awx_standin.get("/api/v2/settings/jobs/")["DEFAULT_CONTAINER_RUN_OPTIONS"] == AWX_DEFAULT
    recorded_patch = AWX_DEFAULT + ["--device", "/dev/fuse"]
    awx_standin.clear_requests()
    same, added, again, moved = run_tasks(awx_standin, tmp_path, [
        {"name": "AWX's default as AWX returns it", MODULE: {"container_run_options": AWX_DEFAULT}},
        {"name": "The recorded PATCH list", MODULE: {"container_run_options": recorded_patch}},
        {"name": "Again", MODULE: {"container_run_options": recorded_patch}},
        {"name": "Another network, AWX format", MODULE: {
            "container_run_options": ["--network", "slirp4netns:enable_ipv6=true,allow_host_loopback=true"]}},
    ])
    assert same["changed"] is False and same["container_run_options"] == AWX_DEFAULT, same
    assert added["changed"] is True and added["container_run_options"] == recorded_patch, added
    assert again["changed"] is False
    assert moved["container_run_options"] == ["--network", "slirp4netns:enable_ipv6=true,allow_host_loopback=true",
                                              "--device", "/dev/fuse"]
    assert [req.body for req in awx_standin.writes()] == [
        {"DEFAULT_CONTAINER_RUN_OPTIONS": recorded_patch},
        {"DEFAULT_CONTAINER_RUN_OPTIONS": moved["container_run_options"]}]
