# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_build's no-op time against ``ansible-builder build`` of the same, already-built definition.

One run: build a small EE once with ee_build (the harness's Debian base image, containers.podman
from a local tarball), then time
  - ``ansible -m eeforge.builder.ee_build`` on the unchanged definition (whole CLI run, no-op), and
  - ``ansible-builder build`` of the same definition (podman's layer cache is warm),
each ``--repeat`` times, and print the medians and their ratio (target: <= 0.1).

Then the same comparison inside a playbook, as a user's play pays it: one play with an ee_build
task (no-op) and an ``ansible.builtin.command`` task running the same ``ansible-builder build``,
timed per task by the json callback (ansible's start-up, paid once per play whatever the tasks
are, is left out of both). The CLI figure includes ``ansible``'s own start-up (about 1 s here,
what ``ansible -m ping`` costs), which ``ansible-builder build`` does not pay.

The definition carries the Debian adaptation itself (apt adapter as options.package_manager_path,
skip_pip_install), so plain ansible-builder can build it too.

With ``--against REV`` (a commit, e.g. the 0.1.0 release), the same no-op is also timed with the
collection as it was at REV (a git worktree), alternating the two in each round, so both see the
same machine load: the whole ``ansible -m`` run and the module's own ``duration``.

The playbook phase also times an ee_build no-op task with ``refresh_base: true`` and ``false``, on
a base image pulled from a local registry (the harness's), so the cost of asking the registry what
the base tag points at is shown next to the no-op that does not ask.

Usage: bench/no_op_rebuild [--repeat N] [--keep] [--against REV]   (runs this file with the .venv Python)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.harness.base_image import ensure_base_image  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.collections import pack_installed_collection  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.podman_env import podman, write_podman_config  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.registry import Registry  # noqa: E402  pylint: disable=wrong-import-position

VENV_BIN = os.path.dirname(sys.executable)
IMAGE = "localhost/eeforge-t4-bench:1"
IMAGE_AGAINST = "localhost/eeforge-t4-bench:against"
PLAYBOOK_TASKS = 5
IMAGE_REGISTRY_BASE = "localhost/eeforge-t4-bench:registry-base"
BUILDER_IMAGE = "localhost/eeforge-t4-bench:ansible-builder"

DEFINITION = """\
version: 3
images:
  base_image:
    name: {base}
options:
  package_manager_path: /output/eeforge/apt-dnf-adapter
  skip_pip_install: true
dependencies:
  ansible_core:
    package_pip: ansible-core==2.19.14
  ansible_runner:
    package_pip: ansible-runner==2.4.3
  python:
    - six==1.16.0
  galaxy:
    collections:
      - name: /build/collections/{tarball}
        type: file
additional_build_files:
  - src: eeforge
    dest: eeforge
  - src: {tarball}
    dest: collections
additional_build_steps:
  prepend_base:
    - COPY _build/eeforge/ /output/eeforge/
"""


def timed(argv, env):
    started = time.time()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.time() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit("failed: %s" % " ".join(argv[:4]))
    return elapsed, proc.stdout


def _task_seconds(task):
    duration = task["task"]["duration"]
    start, end = (datetime.datetime.fromisoformat(duration[key].replace("Z", "+00:00")) for key in ("start", "end"))
    return (end - start).total_seconds()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the bench images")
    parser.add_argument("--against", metavar="REV", help="also time the no-op with the collection at git revision REV")
    opts = parser.parse_args()

    work = tempfile.mkdtemp(prefix="eeforge-bench-noop-")
    env = dict(os.environ)
    env.update(write_podman_config(os.path.join(work, "conf")))
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(REPO, ".cache", "collections")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_LOCALHOST_WARNING"] = "false"
    env["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "false"
    os.environ.update({k: env[k] for k in ("CONTAINERS_CONF", "CONTAINERS_REGISTRIES_CONF")})
    registry = None
    against = None
    try:
        link = os.path.join(REPO, ".cache", "collections", "ansible_collections", "eeforge", "builder")
        if not os.path.exists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(REPO, link)
        # ansible_collections is a namespace package: the checkout's root joins the one ansible ships
        sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))
        from ansible_collections.eeforge.builder.plugins.module_utils._build_context import (  # pylint: disable=import-outside-toplevel
            APT_ADAPTER_SCRIPT,
        )
        base = ensure_base_image(env={k: env[k] for k in ("CONTAINERS_CONF", "CONTAINERS_REGISTRIES_CONF")},
                                 log=lambda msg: sys.stderr.write(msg + "\n"))
        project = os.path.join(work, "project")
        os.makedirs(os.path.join(project, "eeforge"))
        tarball = os.path.basename(pack_installed_collection("containers", "podman", project))
        adapter = os.path.join(project, "eeforge", "apt-dnf-adapter")
        with open(adapter, "w", encoding="utf-8") as handle:
            handle.write(APT_ADAPTER_SCRIPT)
        os.chmod(adapter, 0o755)
        definition = os.path.join(project, "execution-environment.yml")
        with open(definition, "w", encoding="utf-8") as handle:
            handle.write(DEFINITION.format(base=base, tarball=tarball))
        args = json.dumps({"definition_file": definition, "tags": [IMAGE],
                           "build_log_dir": os.path.join(work, "logs")})
        ee_build = [os.path.join(VENV_BIN, "ansible"), "localhost", "-c", "local", "-i", "localhost,",
                    "-e", "ansible_python_interpreter=%s" % sys.executable, "-m", "eeforge.builder.ee_build",
                    "-a", args]
        builder = [os.path.join(VENV_BIN, "ansible-builder"), "build", "-f", definition,
                   "-c", os.path.join(work, "context"), "-t", BUILDER_IMAGE, "--container-runtime", "podman", "-v", "1"]

        first, out = timed(ee_build, env)
        print("first ee_build (builds the image): %.1f s (%s)" % (first, "CHANGED" if "CHANGED" in out else "no change"))
        warm = timed(builder, env)[0]
        print("first ansible-builder build (warms its cache): %.1f s" % warm)

        noop, rebuild = [], []
        for _round in range(opts.repeat):
            seconds, out = timed(ee_build, env)
            if "SUCCESS" not in out or '"changed": false' not in out:
                raise SystemExit("ee_build was not a no-op:\n" + out[-2000:])
            noop.append(seconds)
            rebuild.append(timed(builder, env)[0])
        noop_median = statistics.median(noop)
        build_median = statistics.median(rebuild)
        print("ee_build no-op (unchanged definition), median of %d: %.2f s  %s"
              % (opts.repeat, noop_median, " ".join("%.2f" % s for s in noop)))
        print("ansible-builder build (same definition, warm cache), median of %d: %.2f s  %s"
              % (opts.repeat, build_median, " ".join("%.2f" % s for s in rebuild)))
        print("no-op / ansible-builder build ratio: %.3f (target <= 0.1)" % (noop_median / build_median))

        if opts.against:
            against = os.path.join(work, "against")
            subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", against, opts.against],
                           check=True, capture_output=True)
            side_by_side(opts, env, args, against, ee_build)

        # The same definition on a base that lives in a registry (the harness's, on loopback).
        registry = Registry(workdir=os.path.join(work, "registry"))
        os.makedirs(registry.workdir)
        registry.start()
        remote_base = "%s/eeforge-bench/base:latest" % registry.location
        podman(["push", "--quiet", "--tls-verify=false", base, "docker://" + remote_base], env=env)
        remote_definition = os.path.join(project, "execution-environment-registry-base.yml")
        with open(remote_definition, "w", encoding="utf-8") as handle:
            handle.write(DEFINITION.format(base=remote_base, tarball=tarball))
        remote_args = dict(json.loads(args), definition_file=remote_definition, tags=[IMAGE_REGISTRY_BASE],
                           tls_verify=False)
        timed([os.path.join(VENV_BIN, "ansible"), "localhost", "-c", "local", "-i", "localhost,",
               "-e", "ansible_python_interpreter=%s" % sys.executable, "-m", "eeforge.builder.ee_build",
               "-a", json.dumps(remote_args)], env)  # builds it once

        playbook = os.path.join(work, "tasks.yml")
        with open(playbook, "w", encoding="utf-8") as handle:
            json.dump([{"hosts": "localhost", "gather_facts": False, "tasks": [
                {"name": "ee_build", "eeforge.builder.ee_build": json.loads(args)},
                {"name": "ansible-builder", "ansible.builtin.command": {"argv": builder}, "changed_when": True},
                {"name": "no-op module", "ansible.builtin.ping": {}},
                {"name": "ee_build, registry base, refresh_base", "eeforge.builder.ee_build": remote_args},
                {"name": "ee_build, registry base, no refresh",
                 "eeforge.builder.ee_build": dict(remote_args, refresh_base=False)},
            ]}], handle)
        play_env = dict(env, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
        task_noop, task_build, task_ping, task_refresh, task_recorded = [], [], [], [], []
        for _round in range(opts.repeat):
            out = timed([os.path.join(VENV_BIN, "ansible-playbook"), "-c", "local", "-i", "localhost,",
                         "-e", "ansible_python_interpreter=%s" % sys.executable, playbook], play_env)[1]
            tasks = json.loads(out[out.find("{"):])["plays"][0]["tasks"]
            if tasks[0]["hosts"]["localhost"].get("changed") is not False:
                raise SystemExit("ee_build was not a no-op in the playbook:\n" + out[-2000:])
            task_noop.append(_task_seconds(tasks[0]))
            task_build.append(_task_seconds(tasks[1]))
            task_ping.append(_task_seconds(tasks[2]))
            if any(task["hosts"]["localhost"].get("changed") is not False for task in tasks[3:]):
                raise SystemExit("ee_build on the registry base was not a no-op:\n" + out[-2000:])
            task_refresh.append(_task_seconds(tasks[3]))
            task_recorded.append(_task_seconds(tasks[4]))
        print("in one playbook, per task, median of %d: ee_build no-op %.2f s, ansible-builder build %.2f s, "
              "ansible.builtin.ping %.2f s (what any module task costs)"
              % (opts.repeat, statistics.median(task_noop), statistics.median(task_build), statistics.median(task_ping)))
        print("no-op / ansible-builder build ratio per task: %.3f (target <= 0.1)"
              % (statistics.median(task_noop) / statistics.median(task_build)))
        print("ee_build no-op per task on a registry base, median of %d: refresh_base true %.3f s (asks the "
              "registry), false %.3f s (the recorded base): +%.0f ms"
              % (opts.repeat, statistics.median(task_refresh), statistics.median(task_recorded),
                 1000 * (statistics.median(task_refresh) - statistics.median(task_recorded))))
    finally:
        if not opts.keep:
            podman(["rmi", "-f", IMAGE, BUILDER_IMAGE, IMAGE_AGAINST, IMAGE_REGISTRY_BASE],
                   env={k: env[k] for k in ("CONTAINERS_CONF",)}, check=False)
            # what ee_build pulled from the bench registry by digest (untagged; the tagged base stays)
            listed = json.loads(podman(["images", "--format", "json"], check=False).stdout or "[]")
            pulled = [entry["Id"] for entry in listed
                      if all("/eeforge-bench/base:" in n or "/eeforge-bench/base@" in n for n in entry.get("Names") or [])
                      and any("/eeforge-bench/base@" in d for d in entry.get("RepoDigests") or [])]
            if pulled:
                podman(["rmi"] + pulled, check=False)
        if registry is not None:
            registry.stop()
        if against:
            subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", against], check=False,
                           capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def _module_seconds(out):
    """The module's own ``duration`` from ``ansible -m`` with the json callback, or None."""
    try:
        doc = json.loads(out[out.find("{"):])
        return doc["plays"][0]["tasks"][0]["hosts"]["localhost"].get("duration")
    except (ValueError, KeyError, IndexError):
        return None


def side_by_side(opts, env, args, against, ee_build):
    """The no-op with the collection at ``opts.against`` and as it is now, alternating in each round."""
    collections = os.path.join(os.path.dirname(against), "against-collections")
    link = os.path.join(collections, "ansible_collections", "eeforge", "builder")
    os.makedirs(os.path.dirname(link))
    os.symlink(against, link)
    json_env = dict(env, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    old_env = dict(json_env, ANSIBLE_COLLECTIONS_PATH=collections)
    old_argv = ee_build[:-1] + [json.dumps(dict(json.loads(args), tags=[IMAGE_AGAINST]))]
    timed(old_argv, old_env)  # builds its own image once (its digest differs)
    runs = {"then": ([], []), "now": ([], [])}
    for round_no in range(opts.repeat):
        order = [("then", old_argv, old_env), ("now", ee_build, json_env)]
        for name, argv, run_env in (order if round_no % 2 == 0 else order[::-1]):
            seconds, out = timed(argv, run_env)
            if '"changed": false' not in out:
                raise SystemExit("%s: ee_build was not a no-op:\n%s" % (name, out[-2000:]))
            runs[name][0].append(seconds)
            runs[name][1].append(_module_seconds(out))
    then, now = (statistics.median(runs[key][0]) for key in ("then", "now"))
    print("side by side, %s vs now, %d alternating rounds: ansible -m ee_build no-op median %.3f s vs %.3f s "
          "(now/then %.3f)" % (opts.against, opts.repeat, then, now, now / then))
    modules = [[m for m in runs[key][1] if m is not None] for key in ("then", "now")]
    if all(modules):
        print("  the module's own duration: median %.3f s vs %.3f s (now/then %.3f)"
              % (statistics.median(modules[0]), statistics.median(modules[1]),
                 statistics.median(modules[1]) / statistics.median(modules[0])))
    # A fleet's case: one playbook, several no-op tasks. ansible packs the module once per run (the first
    # task pays for it, with the collection's module_utils compiled on the controller); the others do not.
    work = os.path.dirname(against)
    per_task = {"then": [], "now": []}
    first_task = {"then": [], "now": []}
    sides = {"then": (IMAGE_AGAINST, old_env), "now": (json.loads(args)["tags"][0], json_env)}
    for round_no in range(opts.repeat):
        for name in (("then", "now") if round_no % 2 == 0 else ("now", "then")):
            image, run_env = sides[name]
            playbook = os.path.join(work, "noop-%s.yml" % name)
            with open(playbook, "w", encoding="utf-8") as handle:
                json.dump([{"hosts": "localhost", "gather_facts": False, "tasks": [
                    {"name": "no-op %d" % i, "eeforge.builder.ee_build": dict(json.loads(args), tags=[image])}
                    for i in range(PLAYBOOK_TASKS)]}], handle)
            out = timed([os.path.join(VENV_BIN, "ansible-playbook"), "-c", "local", "-i", "localhost,",
                         "-e", "ansible_python_interpreter=%s" % sys.executable, playbook], run_env)[1]
            tasks = json.loads(out[out.find("{"):])["plays"][0]["tasks"]
            if any(task["hosts"]["localhost"].get("changed") is not False for task in tasks):
                raise SystemExit("%s: ee_build was not a no-op in the playbook:\n%s" % (name, out[-2000:]))
            first_task[name].append(_task_seconds(tasks[0]))
            per_task[name] += [_task_seconds(task) for task in tasks[1:]]
    then, now = statistics.median(per_task["then"]), statistics.median(per_task["now"])
    print("  in one playbook of %d no-op tasks, %d alternating rounds: per task after the first median %.3f s vs "
          "%.3f s (now/then %.3f); the first task (packs the module) %.3f s vs %.3f s"
          % (PLAYBOOK_TASKS, opts.repeat, then, now, now / then, statistics.median(first_task["then"]),
             statistics.median(first_task["now"])))


if __name__ == "__main__":
    main()
