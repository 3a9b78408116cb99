# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run AWX module tasks, or a playbook of the collection, with ansible-playbook against the stand-in AWX.

``run_tasks(standin, tmp_path, tasks)`` runs ``tasks`` in one play on localhost, the connection given
once through ``module_defaults`` for ``group/eeforge.builder.awx`` (so the modules must be in that
action group), and returns each task's result. ``run_playbook(...)`` runs a playbook file and returns
the json callback's document.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env(extra=None):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
    for key in [key for key in env if key.startswith(("CONTROLLER_", "TOWER_"))]:
        del env[key]
    env.update(extra or {})
    return env


def run_playbook(playbook, extra_vars=None, check=False, diff=False, env=None, timeout=600, cwd=REPO_ROOT):
    """ansible-playbook ``playbook`` on localhost (in ``cwd``); returns (json callback document, rc, output text)."""
    argv = ["ansible-playbook", "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=%s" % sys.executable, playbook]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    proc = subprocess.run(argv, capture_output=True, text=True, env=_env(env), timeout=timeout, check=False,
                          cwd=cwd)
    start = proc.stdout.find("{")
    assert start >= 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout[start:]), proc.returncode, proc.stdout + proc.stderr


def tasks_named(doc, prefix):
    """Results of the tasks whose name starts with ``prefix`` (every play, in order) in a json callback document."""
    found = []
    for play in doc["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].split(" : ")[-1].startswith(prefix):
                found.append(task["hosts"]["localhost"])
    return found


def connection(standin):
    return {"controller_host": standin.url, "controller_username": standin.username,
            "controller_password": standin.password}


def run_tasks(standin, tmp_path, tasks, check=False, diff=False):
    """Run ``tasks`` (list of task dicts) in one play; returns the list of results of the tasks that ran."""
    play = [{
        "name": "AWX tasks", "hosts": "localhost", "gather_facts": False,
        "module_defaults": {"group/eeforge.builder.awx": connection(standin)},
        "tasks": tasks,
    }]
    path = os.path.join(str(tmp_path), "tasks-%d.yml" % len(os.listdir(str(tmp_path))))
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(play, handle)
    doc, _rc, _output = run_playbook(path, check=check, diff=diff)
    return [task["hosts"]["localhost"] for task in doc["plays"][0]["tasks"]]


def run_task(standin, tmp_path, module, args, check=False, diff=False):
    """One module call; returns its result."""
    return run_tasks(standin, tmp_path, [{"name": module, module: args}], check=check, diff=diff)[0]
