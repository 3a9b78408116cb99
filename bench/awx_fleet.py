# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unchanged re-run of a fleet (50 EEs + 5 registry credentials): eeforge.builder's bulk form vs awx.awx.

    .venv/bin/python bench/awx_fleet.py [--ees 50] [--credentials 5] [--repeat 1] [--latency 0.1]

Starts the stand-in AWX (tests/awx_standin) in this process, behind bench/awx_idempotence.py's latency
proxy (every answer ``--latency`` seconds late; 0.1 s is between a Bearer GET (0.032 s) and a basic-auth
GET (0.170 s) of the recorded AWX 24.6.1), creates the objects once, then times, in the same run:

- eeforge.builder: one task per module with ``items`` (awx_registry_credential, awx_execution_environment);
- awx.awx: one task per module looped over the same objects (credential, execution_environment), as a
  playbook written for awx.awx would do it;
- the same two loops with eeforge.builder's single form, for reference.

Time is the sum of the tasks' durations (json callback; ansible-playbook's start-up not counted).
Requests come from the stand-in's request log. Prints figures; no thresholds are enforced here (target
of issue 16: the bulk re-run at most 0.1x awx.awx's time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from awx_idempotence import LatencyProxy, loop_task, playbook, run  # noqa: E402  pylint: disable=wrong-import-position
from tests.awx_standin import StandIn  # noqa: E402  pylint: disable=wrong-import-position

CONN = dict(controller_host="{{ conn.controller_host }}", controller_username="{{ conn.controller_username }}",
            controller_password="{{ conn.controller_password }}")


def fleet(ees, credentials, org):
    creds = [{"name": "fleet-registry-%d" % i, "organization": org, "host": "registry%d.example.com" % i,
              "username": "puller", "password": "fleet-secret-%d" % i} for i in range(credentials)]
    items = [{"name": "fleet-ee-%02d" % i, "image": "registry.example.com/fleet/ee-%02d:1.%d" % (i, i),
              "credential": creds[i % len(creds)]["name"], "organization": org, "pull": "missing"} for i in range(ees)]
    return creds, items


def sides(creds, ees, org):
    bulk = [
        {"name": "eeforge.builder credentials (items)", "eeforge.builder.awx_registry_credential":
         dict(CONN, items=creds), "no_log": True},
        {"name": "eeforge.builder EEs (items)", "eeforge.builder.awx_execution_environment": dict(CONN, items=ees)},
    ]
    single = [
        loop_task("eeforge.builder credentials (loop)", "eeforge.builder.awx_registry_credential", dict(
            CONN, name="{{ item.name }}", organization=org, host="{{ item.host }}", username="{{ item.username }}",
            password="{{ item.password }}"), creds),
        loop_task("eeforge.builder EEs (loop)", "eeforge.builder.awx_execution_environment", dict(
            CONN, name="{{ item.name }}", image="{{ item.image }}", credential="{{ item.credential }}",
            organization=org, pull="{{ item.pull }}"), ees),
    ]
    theirs = [
        loop_task("awx.awx credentials (loop)", "awx.awx.credential", dict(
            CONN, name="{{ item.name }}", organization=org, credential_type="Container Registry",
            inputs={"host": "{{ item.host }}", "username": "{{ item.username }}", "password": "{{ item.password }}"},
            update_secrets=False), creds),
        loop_task("awx.awx EEs (loop)", "awx.awx.execution_environment", dict(
            CONN, name="{{ item.name }}", image="{{ item.image }}", credential="{{ item.credential }}",
            organization=org, pull="{{ item.pull }}"), ees),
    ]
    return {"eeforge.builder items": bulk, "eeforge.builder loop": single, "awx.awx loop": theirs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ees", type=int, default=50)
    parser.add_argument("--credentials", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1, help="timed re-runs per side (the median is reported)")
    parser.add_argument("--latency", type=float, default=0.1,
                        help="seconds added to every AWX answer by a proxy (0: talk to the stand-in directly)")
    opts = parser.parse_args()

    org = "fleet-org"
    creds, ees = fleet(opts.ees, opts.credentials, org)
    objects = len(creds) + len(ees)
    tasks = sides(creds, ees, org)
    order = ("eeforge.builder items", "awx.awx loop", "eeforge.builder loop")
    figures = dict((side, dict(times=[], changed=[], requests=None)) for side in order)
    standin = StandIn().start()
    proxy = LatencyProxy((standin.host, standin.port), opts.latency) if opts.latency > 0 else None
    url = proxy.url if proxy else standin.url
    try:
        with tempfile.TemporaryDirectory(prefix="eeforge-bench-fleet-") as workdir:
            standin.post("/api/v2/organizations/", {"name": org})
            setup_time, created = run(playbook(workdir, "create", url, standin, tasks["eeforge.builder items"]))
            assert created == objects, "expected %d objects created, %d changed" % (objects, created)
            count = len(standin.store.objects["execution_environments"]), len(standin.store.objects["credentials"])
            paths = dict((side, playbook(workdir, side.replace(" ", "-").replace(".", "-"), url, standin, tasks[side]))
                         for side in order)
            for dummy in range(opts.repeat):
                for side in order:
                    standin.clear_requests()
                    seconds, changed = run(paths[side])
                    log = list(standin.requests)
                    fig = figures[side]
                    fig["times"].append(seconds)
                    fig["changed"].append(changed)
                    fig["requests"] = dict(total=len(log), get=sum(1 for req in log if req.method == "GET"),
                                           token=sum(1 for req in log if "/tokens/" in req.path),
                                           writes=sum(1 for req in log if req.method not in ("GET", "HEAD", "OPTIONS")
                                                      and "/tokens/" not in req.path))
    finally:
        if proxy:
            proxy.stop()
        standin.stop()

    median = dict((side, statistics.median(figures[side]["times"])) for side in order)
    print("objects: %d execution environments + %d registry credentials = %d (created by the bulk form in %.1fs; "
          "stand-in holds %d EEs, %d credentials)" % (len(ees), len(creds), objects, setup_time, count[0], count[1]))
    print("added latency per AWX answer: %s" % ("%gs (proxy)" % opts.latency if proxy else "none"))
    print("unchanged re-run, median of %d, module time only (ansible-playbook start-up excluded):" % opts.repeat)
    header = ("", "time (s)", "ms/object", "changed", "requests", "req/object", "GETs", "token req", "writes")
    print("%-22s %9s %10s %8s %9s %11s %5s %10s %7s" % header)
    for side in order:
        fig = figures[side]
        req = fig["requests"]
        print("%-22s %9.2f %10.1f %8d %9d %11.2f %5d %10d %7d" % (
            side, median[side], 1000.0 * median[side] / objects, max(fig["changed"]), req["total"],
            req["total"] / float(objects), req["get"], req["token"], req["writes"]))
    ratio = median["eeforge.builder items"] / median["awx.awx loop"]
    print("time ratio eeforge.builder items / awx.awx loop: %.3f (target <= 0.1)" % ratio)
    print("time ratio eeforge.builder loop / awx.awx loop: %.3f"
          % (median["eeforge.builder loop"] / median["awx.awx loop"]))
    print("awx.awx credential ran with update_secrets=false (its default, true, reports every credential changed)")


if __name__ == "__main__":
    main()
