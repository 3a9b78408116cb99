# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host vs nested (in the builder EE, as AWX runs a job) build time of the same EE, cold and warm.

One run, on one machine:

1. a local registry (tests/harness) holding the harness base image;
2. host cold: eeforge.builder.ee_build on this host in a private store that holds only the base
   image (pulled before, not timed);
3. host warm: the same build again, the layer cache of step 2 in place;
4. nested cold: a fresh job container (``podman run --user=root --network slirp4netns``, AWX's
   defaults, plus ``allow_host_loopback=true`` to reach the registry on this host's loopback), its
   store empty; ee_builder_preflight picks the driver, ee_build pulls the base and builds.
   The store is a host directory mounted into the job, as AWX_ISOLATION_SHOW_PATHS would;
5. (``--with-base-store``) nested cold with a read-only host directory holding the base image
   mounted as an additional image store (no base pull), the job's own store empty;
6. nested warm, host-path cache: another fresh job container on the host directory of step 4;
7. nested, registry cache: a fresh job with an empty store (the builder EE's volume, as every AWX
   job) that builds with ``--cache-to`` a registry repository (seeding it), then
8. nested warm, registry cache: a fresh job with an empty store and ``--cache-from`` that repository.

Each figure is ee_build's own ``duration`` (definition checks, base image pull, build) and the job
container's wall time (container start, ansible, preflight probes included). Ratios are nested /
host. Everything created is removed at the end.

    bench/nested_build [--builder-image REF] [--dev-mount] [--with-base-store]

``--dev-mount`` mounts this working tree over the collection installed in the builder image (to
measure uncommitted module changes without rebuilding the image).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from tests.harness.base_image import ensure_base_image  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.collections import pack_installed_collection  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.podman_env import environment, write_podman_config  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.registry import Registry  # noqa: E402  pylint: disable=wrong-import-position

DEFAULT_BUILDER = "localhost/eeforge-builder-ee:test"  # tests/integration/builder_fixtures.py
AWX_JOB_OPTIONS = ["--user=root", "--network", "slirp4netns:enable_ipv6=true,allow_host_loopback=true"]
HOST_FROM_JOB = "10.0.2.2"
INSTALLED = "/usr/share/ansible/collections/ansible_collections/eeforge/builder"
CACHE_MOUNT = "/srv/eeforge-cache"  # where the host directory appears in the job
BASE_MOUNT = "/srv/eeforge-base"  # a read-only host directory holding base images

PLAYBOOK = """\
- name: Build one EE (bench/nested_build)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Check that podman can build here and choose its storage driver
      eeforge.builder.ee_builder_preflight:
        storage_conf: /root/.config/eeforge/storage.conf
        graphroot: "{{ bench_graphroot | default(omit, true) }}"
        additional_image_stores: "{{ bench_image_stores }}"
      register: preflight
      when: bench_preflight | bool

    - name: Build {{ bench_tag }}
      eeforge.builder.ee_build:
        definition: "{{ bench_definition }}"
        tags: ["{{ bench_tag }}"]
        tls_verify: false
        force: true
        no_cache: "{{ bench_no_cache | bool }}"
        extra_build_cli_args: "{{ bench_extra_args }}"
      environment: "{{ preflight.environment | default({}) }}"
      register: build

    - name: Keep the build log
      ansible.builtin.copy:
        src: "{{ build.build_log }}"
        dest: "{{ bench_dir }}/log-{{ bench_run }}.txt"
        remote_src: true
        mode: "0644"

    - name: Hand the result to the bench
      ansible.builtin.copy:
        content: "{{ {'preflight': preflight, 'build': build} | to_json }}"
        dest: "{{ bench_dir }}/result-{{ bench_run }}.json"
        mode: "0644"
"""


def run(argv, check=True, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, check=check, **kwargs)


class Bench:
    def __init__(self, registry, workdir, builder, dev_mount):
        self.registry = registry
        self.workdir = workdir
        self.builder = builder
        self.dev_mount = dev_mount
        self.cache_dir = os.path.join(workdir, "host-store")
        self.tarball = None
        self.base_repo = "eef-pf/bench-base:1"
        self.figures = {}
        self.registries_conf = None

    def definition(self, registry_host):
        return {
            "version": 3,
            "images": {"base_image": {"name": "%s:%d/%s" % (registry_host, self.registry.port, self.base_repo)}},
            "dependencies": {
                "ansible_core": {"package_pip": "ansible-core>=2.16,<2.20"},
                "ansible_runner": {"package_pip": "ansible-runner>=2.3"},
                "galaxy": {"collections": [{"name": self.tarball, "type": "file"}]},
                "python": ["jmespath"],
            },
        }

    def extravars(self, name, registry_host, preflight, no_cache=False, extra_args=(), graphroot="", image_stores=()):
        return {
            "bench_run": name,
            "bench_dir": self.workdir,
            "bench_tag": "localhost/eef-pf-bench-ee:%s" % name,
            "bench_definition": self.definition(registry_host),
            "bench_preflight": preflight,
            "bench_no_cache": no_cache,
            "bench_extra_args": list(extra_args),
            "bench_graphroot": graphroot,
            "bench_image_stores": list(image_stores),
        }

    def result(self, name, wall, proc):
        path = os.path.join(self.workdir, "result-%s.json" % name)
        if not os.path.exists(path):
            raise RuntimeError("%s failed:\n%s\n%s" % (name, proc.stdout[-4000:], proc.stderr[-2000:]))
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        build = data["build"]
        preflight = data.get("preflight") or {}
        if preflight.get("skipped") and build.get("build_log") and os.path.isfile(build["build_log"]):
            os.remove(build["build_log"])  # a host build's log (a job's stays in its container)
        steps = cached = remote = 0
        log = os.path.join(self.workdir, "log-%s.txt" % name)
        if os.path.exists(log):
            with open(log, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    steps += bool(re.match(r"^(\[\d+/\d+\] )?STEP \d+/\d+: (?!FROM)", line))
                    cached += line.startswith("--> Using cache")
                    remote += line.startswith("--> Cache pulled from remote")
        self.figures[name] = {"duration": build["duration"], "build": build.get("build_duration"), "wall": wall,
                              "driver": preflight.get("storage_driver", "overlay (host)"),
                              "steps": steps, "cached": cached, "remote": remote}
        print("  %s: ee_build %.1f s (podman build %.1f s), job wall %.1f s, driver %s, %d of %d steps from cache "
              "(%d pulled from the registry cache)" % (name, build["duration"], build.get("build_duration") or 0, wall,
                                                       self.figures[name]["driver"], cached, steps, remote), flush=True)
        return data

    def host_storage_conf(self):
        """A private store for the host builds (removed at the end, nothing left in the shared one)."""
        path = os.path.join(self.workdir, "host-storage.conf")
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write('[storage]\ndriver = "overlay"\ngraphroot = "%s/host-graph"\nrunroot = "%s/host-run"\n'
                             % (self.workdir, self.workdir))
            # The base image is local before the host's cold build (not timed), as on a workstation
            # that has it; the shared store is not used, its cached layers of other builds would make
            # the "cold" build partly warm.
            run(["podman", "pull", "--quiet", "--tls-verify=false",
                 "127.0.0.1:%d/%s" % (self.registry.port, self.base_repo)],
                env=dict(os.environ, CONTAINERS_STORAGE_CONF=path))
        return path

    def host(self, name):
        vars_file = self.write_vars(name, self.extravars(name, "127.0.0.1", False))
        env = dict(os.environ, CONTAINERS_STORAGE_CONF=self.host_storage_conf())
        started = time.time()
        proc = run(["ansible-playbook", "-i", "localhost,", "-c", "local", os.path.join(self.workdir, "job.yml"),
                    "-e", "@" + vars_file, "-e", "ansible_python_interpreter=" + sys.executable], check=False, env=env)
        self.result(name, round(time.time() - started, 1), proc)

    def base_store(self):
        """A host directory holding the base image (as the job names it), for a read-only image store."""
        path = os.path.join(self.workdir, "base-store")
        conf = os.path.join(self.workdir, "base-store.conf")
        with open(conf, "w", encoding="utf-8") as handle:
            handle.write('[storage]\ndriver = "overlay"\ngraphroot = "%s/storage"\nrunroot = "%s/run"\n' % (path, path))
        env = dict(os.environ, CONTAINERS_STORAGE_CONF=conf)
        local = "127.0.0.1:%d/%s" % (self.registry.port, self.base_repo)
        run(["podman", "pull", "--quiet", "--tls-verify=false", local], env=env)
        run(["podman", "tag", local, "%s:%d/%s" % (HOST_FROM_JOB, self.registry.port, self.base_repo)], env=env)
        unmount_below(path)
        return path

    def nested(self, name, extra_args=(), host_store=False, insecure_conf=False, base_store=None):
        graphroot = CACHE_MOUNT + "/storage" if host_store else ""
        stores = [BASE_MOUNT + "/storage"] if base_store else []
        vars_file = self.write_vars(name, self.extravars(name, HOST_FROM_JOB, True, extra_args=extra_args,
                                                         graphroot=graphroot, image_stores=stores))
        container = "eef-pf-bench-%s" % name
        argv = ["podman", "run", "--rm", "--name", container] + AWX_JOB_OPTIONS
        argv += ["-v", "%s:%s:Z" % (self.workdir, self.workdir)]
        if host_store:
            argv += ["-v", "%s:%s:Z" % (self.cache_dir, CACHE_MOUNT)]
        if base_store:
            argv += ["-v", "%s:%s:ro" % (base_store, BASE_MOUNT)]
        if insecure_conf:
            # podman 4.3 pushes and pulls the registry cache without --tls-verify=false: the bench's
            # plain-HTTP registry must be marked insecure in a registries.conf (a TLS registry needs nothing).
            argv += ["-e", "CONTAINERS_REGISTRIES_CONF=" + self.registries_conf]
        if self.dev_mount:
            for sub in ("plugins", "roles"):
                argv += ["-v", "%s:%s:ro" % (os.path.join(REPO_ROOT, sub), os.path.join(INSTALLED, sub))]
        argv += [self.builder, "ansible-playbook", "-i", "localhost,", "-c", "local",
                 os.path.join(self.workdir, "job.yml"), "-e", "@" + vars_file,
                 "-e", "ansible_python_interpreter=/usr/bin/python3"]
        started = time.time()
        try:
            proc = run(argv, check=False, timeout=3600)
        finally:
            run(["podman", "rm", "--force", "--volumes", "--ignore", container], check=False)
        self.result(name, round(time.time() - started, 1), proc)

    def write_vars(self, name, extravars):
        path = os.path.join(self.workdir, "vars-%s.json" % name)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(extravars, handle)
        return path


def unmount_below(path):
    """Unmount what podman left mounted below ``path`` (the overlay home of a rootful store)."""
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        points = [line.split()[4] for line in handle if line.split()[4].startswith(path + "/")]
    for point in sorted(points, reverse=True):
        run(["umount", point], check=False)


def ratio(a, b):
    return "%.2fx" % (a / b) if b else "n/a"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builder-image", default=DEFAULT_BUILDER)
    parser.add_argument("--dev-mount", action="store_true")
    parser.add_argument("--with-base-store", action="store_true",
                        help="also step 5: nested cold with the base image in a read-only additional image store")
    args = parser.parse_args(argv)

    workdir = tempfile.mkdtemp(prefix="eef-pf-bench-")
    registry = None
    env_stack = contextlib.ExitStack()
    images = []
    try:
        registry = Registry().start()
        podman_env = write_podman_config(os.path.join(workdir, "podman"),
                                         [registry.location, "%s:%d" % (HOST_FROM_JOB, registry.port)])
        env_stack.enter_context(environment(podman_env))
        env_stack.enter_context(environment({"ANSIBLE_COLLECTIONS_PATH": os.environ.get(
            "ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO_ROOT, ".cache", "collections"))}))
        bench = Bench(registry, workdir, args.builder_image, args.dev_mount)
        bench.registries_conf = podman_env["CONTAINERS_REGISTRIES_CONF"]
        os.makedirs(bench.cache_dir)
        with open(os.path.join(workdir, "job.yml"), "w", encoding="utf-8") as handle:
            handle.write(PLAYBOOK)
        bench.tarball = pack_installed_collection("containers", "podman", workdir)
        base = ensure_base_image()
        base_ref = "%s/%s" % (registry.location, bench.base_repo)
        images.append(base_ref)
        run(["podman", "tag", base, base_ref])
        run(["podman", "push", "--quiet", "--tls-verify=false", base_ref])
        cache_repo = "%s:%d/eef-pf/bench-cache" % (HOST_FROM_JOB, registry.port)

        steps = [
            # the host store is private and empty at first: cold without --no-cache, like a new job
            ("host-cold", lambda: bench.host("host-cold")),
            ("host-warm", lambda: bench.host("host-warm")),
            ("nested-cold", lambda: bench.nested("nested-cold", host_store=True)),
            ("nested-warm-hostpath", lambda: bench.nested("nested-warm-hostpath", host_store=True)),
            ("nested-cold-cache-to", lambda: bench.nested(
                "nested-cold-cache-to", extra_args=["--cache-to", cache_repo], insecure_conf=True)),
            ("nested-warm-registry", lambda: bench.nested(
                "nested-warm-registry", extra_args=["--cache-from", cache_repo], insecure_conf=True)),
        ]
        if args.with_base_store:
            steps.insert(3, ("nested-cold-base-store", lambda: bench.nested("nested-cold-base-store",
                                                                            base_store=bench.base_store())))
        for name, step in steps:
            print("running %s ..." % name, flush=True)
            step()
        fig = bench.figures
        print("")
        print("bench/nested_build: the same EE (Debian base + containers.podman + jmespath), one run")
        header = ("run", "driver", "ee_build s", "build s", "job wall s", "cached")
        print("  %-22s %-16s %10s %10s %10s %8s" % header)
        for name, values in fig.items():
            row = (name, values["driver"], values["duration"], values["build"] or 0, values["wall"],
                   values["cached"], values["steps"])
            print("  %-22s %-16s %10.1f %10.1f %10.1f %5d/%-3d" % row)
        hc, hw = fig["host-cold"]["duration"], fig["host-warm"]["duration"]
        nc = fig["nested-cold"]["duration"]
        print("")
        print("ratios nested / host (ee_build duration; target <= 1.10x):")
        print("  cold                       %s  (%.1f s / %.1f s)" % (ratio(nc, hc), nc, hc))
        if "nested-cold-base-store" in fig:
            ncb = fig["nested-cold-base-store"]["duration"]
            print("  cold, base image store     %s  (%.1f s / %.1f s)" % (ratio(ncb, hc), ncb, hc))
        for name in ("nested-warm-hostpath", "nested-warm-registry"):
            label = name.replace("nested-warm-", "") + " cache"
            warm = fig[name]["duration"]
            print("  warm (%-20s) %s  (%.1f s / %.1f s)" % (label, ratio(warm, hw), warm, hw))
        print("  cold + --cache-to          %s  (%.1f s / %.1f s)" % (
            ratio(fig["nested-cold-cache-to"]["duration"], hc), fig["nested-cold-cache-to"]["duration"], hc))
        print("ratios with the job's wall time (container start, ansible, preflight probes):")
        print("  cold %s, warm host-path %s, warm registry %s" % (
            ratio(fig["nested-cold"]["wall"], fig["host-cold"]["wall"]),
            ratio(fig["nested-warm-hostpath"]["wall"], fig["host-warm"]["wall"]),
            ratio(fig["nested-warm-registry"]["wall"], fig["host-warm"]["wall"])))
        return 0
    finally:
        for image in images:
            run(["podman", "rmi", "--force", image], check=False)
        unmount_below(workdir)
        if registry is not None:
            registry.stop()
        env_stack.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
