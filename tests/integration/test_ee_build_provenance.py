# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""issue 14, part 6: provenance labels. A definition in a git checkout (its origin URL holds a token, as CI
checkouts often do) is built; the image says when and from which commit and repository, with the token
nowhere. A later commit that changes nothing the image is made of rebuilds nothing.

Builds (CI time): one small build on the harness base (skip_ansible_check, one RUN step).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

from tests.harness.podman_env import podman
from tests.integration.test_ee_build import run_ee_build

TOKEN = "glpat-" + uuid.uuid4().hex


def _git(repo, *args):
    env = {"GIT_AUTHOR_NAME": "eeforge", "GIT_AUTHOR_EMAIL": "ci@eeforge.invalid", "GIT_COMMITTER_NAME": "eeforge",
           "GIT_COMMITTER_EMAIL": "ci@eeforge.invalid", "HOME": repo, "PATH": os.environ["PATH"]}
    return subprocess.run(["git", "-C", repo] + list(args), check=True, env=env, capture_output=True,
                          text=True).stdout.strip()


def test_labels_say_when_and_from_which_commit_without_the_token(base_image, tmp_path):
    repo = str(tmp_path / "ee-repo")
    os.makedirs(repo)
    with open(os.path.join(repo, "execution-environment.yml"), "w", encoding="utf-8") as handle:
        json.dump({"version": 3, "images": {"base_image": {"name": base_image}}, "options": {"skip_ansible_check": True},
                   "additional_build_steps": {"append_final": ["RUN echo %s > /etc/eeforge-t14-prov" % TOKEN[-8:]]}},
                  handle)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "ee")
    _git(repo, "remote", "add", "origin", "https://ci-bot:%s@git.example.com/platform/ee-aws.git" % TOKEN)
    head = _git(repo, "rev-parse", "HEAD")
    tag = "localhost/eeforge-t14-prov-%s:1" % uuid.uuid4().hex[:8]
    args = {"definition_file": os.path.join(repo, "execution-environment.yml"), "tags": [tag],
            "build_log_dir": str(tmp_path / "logs")}
    started = time.time()
    try:
        first, output = run_ee_build(args, verbosity=3)
        assert first.get("changed") is True and not first.get("failed"), output
        inspected = podman(["image", "inspect", tag]).stdout
        labels = json.loads(inspected)[0]["Labels"]
        assert labels["org.opencontainers.image.revision"] == head
        assert labels["org.opencontainers.image.source"] == "https://git.example.com/platform/ee-aws.git"
        created = time.mktime(time.strptime(labels["org.opencontainers.image.created"], "%Y-%m-%dT%H:%M:%SZ"))
        assert started - 120 <= created - time.timezone <= time.time() + 120, labels["org.opencontainers.image.created"]
        assert TOKEN not in inspected and TOKEN not in output
        assert TOKEN not in podman(["history", "--no-trunc", tag]).stdout

        # A commit beside the definition: nothing the image is made of changed, so nothing is rebuilt.
        with open(os.path.join(repo, "README.md"), "w", encoding="utf-8") as handle:
            handle.write("the aws EE\n")
        _git(repo, "add", "README.md")
        _git(repo, "commit", "-q", "-m", "readme")
        again, output = run_ee_build(args)
        assert again.get("changed") is False, output
        assert json.loads(podman(["image", "inspect", tag]).stdout)[0]["Labels"][
            "org.opencontainers.image.revision"] == head
    finally:
        podman(["rmi", "-f", tag], check=False)
