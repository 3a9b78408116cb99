# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provenance labels: the source URL without credentials, the revision, the build time."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import subprocess
import time

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._provenance import (
    CREATED_LABEL,
    REVISION_LABEL,
    SOURCE_LABEL,
    provenance_labels,
    public_url,
)


@pytest.mark.parametrize("url, public", [
    ("https://github.com/org/ee.git", "https://github.com/org/ee.git"),
    ("https://builder:ghp_s3cr3t@github.com/org/ee.git", "https://github.com/org/ee.git"),
    ("https://oauth2:glpat-xyz@gitlab.example.com/org/ee", "https://gitlab.example.com/org/ee"),
    ("ssh://git@github.com/org/ee.git", "ssh://git@github.com/org/ee.git"),
    ("ssh://git:pw@github.com/org/ee.git", "ssh://github.com/org/ee.git"),
    ("git@github.com:org/ee.git", "ssh://git@github.com/org/ee.git"),
    ("/srv/git/ee.git", None),
    ("", None),
])
def test_public_url_drops_credentials(url, public):
    assert public_url(url) == public


class Runner(object):
    def __init__(self, answers):
        self.answers = answers

    def get_bin(self, name):
        return "/usr/bin/" + name

    def run(self, argv, check=True, timeout=None):  # pylint: disable=unused-argument
        return self.answers.get(argv[3], (1, "", ""))


NOW = time.strptime("2026-12-03 17:40:05", "%Y-%m-%d %H:%M:%S")


def test_a_checkout_gives_source_and_revision():
    sha = "a" * 40
    runner = Runner({"rev-parse": (0, sha + "\n", ""), "status": (0, "", ""),
                     "config": (0, "https://ci:token@git.example.com/ee/aws.git\n", "")})
    assert provenance_labels(runner, "/src/ee", now=NOW) == {
        CREATED_LABEL: "2026-12-03T17:40:05Z", REVISION_LABEL: sha, SOURCE_LABEL: "https://git.example.com/ee/aws.git"}


def test_uncommitted_changes_mark_the_revision_dirty_and_no_remote_no_source():
    runner = Runner({"rev-parse": (0, "b" * 40, ""), "status": (0, " M execution-environment.yml\n", "")})
    assert provenance_labels(runner, "/src/ee", now=NOW) == {CREATED_LABEL: "2026-12-03T17:40:05Z",
                                                             REVISION_LABEL: "b" * 40 + "-dirty"}


def test_outside_a_checkout_only_the_time():
    assert provenance_labels(Runner({}), "/srv/defs", now=NOW) == {CREATED_LABEL: "2026-12-03T17:40:05Z"}


def test_a_real_checkout(tmp_path):
    """git itself: a fresh repository with one commit, and a remote with a token in its URL."""
    repo = str(tmp_path)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": repo, "PATH": "/usr/bin:/bin"}
    (tmp_path / "execution-environment.yml").write_text("version: 3\n")
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "x"],
                 ["remote", "add", "origin", "https://u:tok@example.com/ee.git"]):
        subprocess.run(["git", "-C", repo] + args, check=True, env=env)
    head = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], check=True, env=env, capture_output=True,
                          text=True).stdout.strip()

    class GitRunner(object):
        def get_bin(self, name):
            return "/usr/bin/" + name

        def run(self, argv, check=True, timeout=None):  # pylint: disable=unused-argument
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            return proc.returncode, proc.stdout, proc.stderr
    labels = provenance_labels(GitRunner(), repo, now=NOW)
    assert labels[REVISION_LABEL] == head and labels[SOURCE_LABEL] == "https://example.com/ee.git"
