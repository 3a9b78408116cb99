# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unchanged re-run of 50 execution environments and 5 registry credentials: eeforge.builder vs awx.awx.

    .venv/bin/python bench/awx_idempotence.py [--ees 50] [--credentials 5] [--repeat 1] [--latency 0.1]
                                              [--against REV]

Starts the stand-in AWX (tests/awx_standin) in this process, creates the objects with
eeforge.builder's modules, then times, in the same run, an unchanged re-run of
eeforge.builder.awx_execution_environment / awx_registry_credential and of awx.awx's
execution_environment / credential modules (from the ``ansible`` package) on the same objects.
Each side is one ansible-playbook run with one looped task per module; the time is the sum of the
two tasks' durations (json callback), so ansible-playbook's start-up is not counted. The request
figures come from the stand-in's request log. A no-op module (ansible.builtin.ping) looped over the
same items gives the per-task cost every module pays (fork, AnsiballZ, interpreter start), so the
time each module spends beyond it is printed too.

The stand-in answers in about a millisecond; a real AWX takes tens to hundreds of milliseconds per
request (authentication, database). ``--latency S`` puts a proxy in front of the stand-in that
delays every answer by S seconds, to show how the number of requests weighs against a real server.

``--against REV`` adds a side: the same eeforge.builder tasks with the collection as it was at git
revision REV (a worktree), in the same rounds, so a change is compared with its past on one machine
load.

Prints figures; no thresholds are enforced here (targets of issue 5: at most 2 requests per
unchanged object, at most 0.5x awx.awx's time).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import http.client
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.awx_standin import StandIn  # noqa: E402  pylint: disable=wrong-import-position

SITE_COLLECTIONS = os.path.dirname(os.path.dirname(os.path.dirname(
    __import__("ansible_collections.awx.awx", fromlist=["x"]).__path__[0])))


class LatencyProxy:
    """HTTP proxy on 127.0.0.1 that forwards to ``target`` (host, port) and answers ``latency`` s later."""

    def __init__(self, target, latency):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(*target, timeout=60)
                headers = {key: value for key, value in self.headers.items() if key.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                time.sleep(proxy.latency)
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _forward

            def log_message(self, *args):  # pylint: disable=arguments-differ
                pass

        self.latency = latency
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def playbook(workdir, name, url, standin, tasks):
    play = [{"name": name, "hosts": "localhost", "gather_facts": False, "tasks": tasks,
             "vars": {"conn": {"controller_host": url, "controller_username": standin.username,
                               "controller_password": standin.password}}}]
    path = os.path.join(workdir, name + ".yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    return path


def run(path, collections=None):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=os.pathsep.join(
                   [collections or os.path.join(REPO, ".cache", "collections"), SITE_COLLECTIONS]))
    for key in [key for key in env if key.startswith(("CONTROLLER_", "TOWER_"))]:
        del env[key]
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, path],
                          capture_output=True, text=True, env=env, check=False)
    doc = json.loads(proc.stdout[proc.stdout.find("{"):])
    if proc.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (path, json.dumps(doc["stats"], indent=1) + proc.stdout[-3000:]))
    tasks = doc["plays"][0]["tasks"]
    seconds = 0.0
    changed = 0
    for task in tasks:
        duration = task["task"]["duration"]
        start = datetime.datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
        end = datetime.datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
        seconds += (end - start).total_seconds()
        result = task["hosts"]["localhost"]
        changed += sum(1 for item in result.get("results", [result]) if item.get("changed"))
    return seconds, changed


def loop_task(name, module, args, items):
    return {"name": name, module: args, "loop": items, "loop_control": {"label": "{{ item.name }}"}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ees", type=int, default=50)
    parser.add_argument("--credentials", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1, help="timed re-runs per side (median is reported)")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds added to every AWX answer by a proxy (0: talk to the stand-in directly)")
    parser.add_argument("--against", metavar="REV", help="also time eeforge.builder as it was at git revision REV")
    opts = parser.parse_args()

    creds = [{"name": "bench-registry-%d" % i, "host": "registry%d.example.com" % i, "username": "puller",
              "password": "bench-secret-%d" % i} for i in range(opts.credentials)]
    ees = [{"name": "bench-ee-%02d" % i, "image": "registry.example.com/bench/ee-%02d:1.%d" % (i, i),
            "credential": creds[i % len(creds)]["name"], "pull": "missing"} for i in range(opts.ees)]
    org = "bench-org"
    ours = [
        loop_task("eeforge.builder credentials", "eeforge.builder.awx_registry_credential", dict(
            name="{{ item.name }}", organization=org, host="{{ item.host }}", username="{{ item.username }}",
            password="{{ item.password }}", controller_host="{{ conn.controller_host }}",
            controller_username="{{ conn.controller_username }}", controller_password="{{ conn.controller_password }}"),
            creds),
        loop_task("eeforge.builder EEs", "eeforge.builder.awx_execution_environment", dict(
            name="{{ item.name }}", image="{{ item.image }}", credential="{{ item.credential }}", organization=org,
            pull="{{ item.pull }}", controller_host="{{ conn.controller_host }}",
            controller_username="{{ conn.controller_username }}", controller_password="{{ conn.controller_password }}"),
            ees),
    ]
    theirs = [
        loop_task("awx.awx credentials", "awx.awx.credential", dict(
            name="{{ item.name }}", organization=org, credential_type="Container Registry",
            inputs={"host": "{{ item.host }}", "username": "{{ item.username }}", "password": "{{ item.password }}"},
            update_secrets=False, controller_host="{{ conn.controller_host }}",
            controller_username="{{ conn.controller_username }}", controller_password="{{ conn.controller_password }}"),
            creds),
        loop_task("awx.awx EEs", "awx.awx.execution_environment", dict(
            name="{{ item.name }}", image="{{ item.image }}", credential="{{ item.credential }}", organization=org,
            pull="{{ item.pull }}", controller_host="{{ conn.controller_host }}",
            controller_username="{{ conn.controller_username }}", controller_password="{{ conn.controller_password }}"),
            ees),
    ]
    objects = len(creds) + len(ees)
    noop = [loop_task("no-op module", "ansible.builtin.ping", {}, creds + ees)]
    sides = ("eeforge.builder", "awx.awx", "ping") + (("then",) if opts.against else ())
    figures = dict((side, dict(times=[], changed=[], requests=None)) for side in sides)
    standin = StandIn().start()
    proxy = LatencyProxy((standin.host, standin.port), opts.latency) if opts.latency > 0 else None
    url = proxy.url if proxy else standin.url
    try:
        with tempfile.TemporaryDirectory(prefix="eeforge-bench-") as workdir:
            collections = {}
            if opts.against:
                tree = os.path.join(workdir, "against")
                subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", tree, opts.against], check=True,
                               capture_output=True)
                collections["then"] = os.path.join(workdir, "against-collections")
                os.makedirs(os.path.join(collections["then"], "ansible_collections", "eeforge"))
                os.symlink(tree, os.path.join(collections["then"], "ansible_collections", "eeforge", "builder"))
            standin.post("/api/v2/organizations/", {"name": org})
            setup_time, created = run(playbook(workdir, "create", url, standin, ours))
            assert created == objects, "expected %d objects created, %d changed" % (objects, created)
            path = {"eeforge.builder": playbook(workdir, "ours", url, standin, ours),
                    "awx.awx": playbook(workdir, "theirs", url, standin, theirs),
                    "ping": playbook(workdir, "ping", url, standin, noop)}
            path["then"] = path["eeforge.builder"]
            for dummy in range(opts.repeat):
                for side in sides:
                    standin.clear_requests()
                    seconds, changed = run(path[side], collections.get(side))
                    figures[side]["times"].append(seconds)
                    figures[side]["changed"].append(changed)
                    log = list(standin.requests)
                    figures[side]["requests"] = dict(
                        total=len(log), get=sum(1 for req in log if req.method == "GET"),
                        writes=sum(1 for req in log if req.method not in ("GET", "HEAD", "OPTIONS")))
            if opts.against:
                subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", os.path.join(workdir, "against")],
                               check=False, capture_output=True)
    finally:
        if proxy:
            proxy.stop()
        standin.stop()

    median = dict((side, statistics.median(figures[side]["times"])) for side in sides)
    print("objects: %d execution environments + %d registry credentials = %d (created in %.1fs)"
          % (len(ees), len(creds), objects, setup_time))
    print("added latency per AWX answer: %s" % ("%gs (proxy)" % opts.latency if proxy else "none"))
    print("unchanged re-run, median of %d, module time only (ansible-playbook start-up excluded):" % opts.repeat)
    header = ("", "time (s)", "ms/object", "beyond no-op", "changed", "requests/obj", "GETs/obj", "writes")
    print("%-16s %9s %10s %14s %8s %13s %9s %7s" % header)
    for side in sides:
        fig = figures[side]
        req = fig["requests"]
        print("%-16s %9.2f %10.1f %14.1f %8d %13.2f %9.2f %7d" % (
            {"ping": "no-op (ping)", "then": "eeforge @" + str(opts.against)[:8]}.get(side, side), median[side], 1000.0 * median[side] / objects,
            1000.0 * (median[side] - median["ping"]) / objects, max(fig["changed"]), req["total"] / float(objects),
            req["get"] / float(objects), req["writes"]))
    print("time ratio eeforge.builder / awx.awx: %.2f (target <= 0.50)" % (median["eeforge.builder"] / median["awx.awx"]))
    beyond = (median["eeforge.builder"] - median["ping"]) / max(median["awx.awx"] - median["ping"], 1e-9)
    print("time ratio beyond the no-op module: %.2f" % beyond)
    ours_req = figures["eeforge.builder"]["requests"]["total"] / float(objects)
    print("requests per unchanged object, eeforge.builder: %.2f (target <= 2)" % ours_req)
    if opts.against:
        print("eeforge.builder now / at %s: %.2f (side by side, %d round%s)" % (
            opts.against, median["eeforge.builder"] / median["then"], opts.repeat, "s" if opts.repeat > 1 else ""))
    print("awx.awx credential ran with update_secrets=false (its default, true, reports every credential changed)")


if __name__ == "__main__":
    main()
