# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``make demo``: build EEs from inside an EE, the way AWX runs a job template.

1. a local registry (tests/harness) and the local Debian base image, pushed to it;
2. the first mover: ``playbooks/build_builder_ee.yml`` builds the builder EE
   (execution-environment.yaml) on this host and pushes it to the registry;
3. ``ansible-runner`` starts the builder EE exactly as AWX does on a podman execution node
   (process isolation with podman, ``--user=root``, the job's private data dir at /runner,
   AWX's default ``--network slirp4netns:enable_ipv6=true``), plus the one option proven
   necessary here: ``allow_host_loopback=true``, so that the job reaches the registry on this
   host's loopback as 10.0.2.2. It runs ``playbooks/build_ees.yml`` on a localhost inventory;
   the registry is plain HTTP, which the job is told through extra vars (``ee_builder_tls_verify``),
   not through configuration baked into the image;
4. the EE built inside the job is in the registry; the summary shows the builder image (layers,
   size), the built EE (reference, digest) and ``ansible --version`` from inside it.

The end-to-end test (tests/integration/test_e2e_awx_job.py) runs the same steps with these helpers.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from tests.harness.base_image import ensure_base_image  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.collections import (  # noqa: E402  pylint: disable=wrong-import-position
    build_this_collection,
    pack_installed_collection,
)
from tests.harness.podman_env import environment, write_podman_config  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.registry import Registry  # noqa: E402  pylint: disable=wrong-import-position

# What AWX gives every job on a podman execution node: awx/main/tasks/jobs.py starts with
# container_options ['--user=root'] and appends settings.DEFAULT_CONTAINER_RUN_OPTIONS, whose
# default is ['--network', 'slirp4netns:enable_ipv6=true'].
AWX_USER_OPTION = "--user=root"
AWX_NETWORK = "slirp4netns:enable_ipv6=true"
# Added here, proven necessary: without it a slirp4netns job cannot reach a registry on the
# host's loopback (test_e2e_awx_job.py::test_registry_unreachable_without_host_loopback).
HOST_LOOPBACK = "allow_host_loopback=true"
# Where a slirp4netns container sees the host's loopback.
HOST_FROM_JOB = "10.0.2.2"

# The builder EE as the tests keep it between sessions (ee_build rebuilds it only when an input changed).
BUILDER_LOCAL_TAG = "localhost/eeforge-builder-ee:test"
BUILDER_PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "build_builder_ee.yml")
JOB_PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "build_ees.yml")
# Records the uid the job's tasks run as (written into the job's artifacts by the job itself).
WHOAMI_PLAYBOOK = "eeforge_whoami.yml"

DEMO_EE = "demo-ee"
DEMO_EE_TAG = "1.0"
DEMO_PYTHON_PACKAGE = "jmespath"
DEMO_COLLECTION = "containers.podman"


def awx_container_options(extra=()):
    """The options AWX gives a job on a podman node, with host loopback, plus ``extra``."""
    return [AWX_USER_OPTION, "--network", "%s,%s" % (AWX_NETWORK, HOST_LOOPBACK)] + list(extra)


def run(argv, env=None, check=True, timeout=3600, input_data=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    res = subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=timeout, input=input_data,
                         check=False)
    if check and res.returncode != 0:
        raise RuntimeError("%s failed (%s):\n%s\n%s" % (" ".join(argv), res.returncode, res.stdout[-4000:],
                                                        res.stderr[-4000:]))
    return res


def stable_tarball(src, dest_dir):
    """A byte-for-byte reproducible copy of a collection tarball in ``dest_dir``; return its path.

    ``ansible-galaxy collection build`` stamps the build time into the tar members and the gzip
    header, so two builds of the same tree differ and ee_build (which digests the bytes of the
    files a definition pulls in) would rebuild the builder EE every session.
    """
    os.makedirs(dest_dir, exist_ok=True)
    dest = os.path.join(dest_dir, os.path.basename(src))
    with tarfile.open(src, "r:gz") as tin, open(dest, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tout:
                for member in tin.getmembers():
                    member.mtime = 0
                    member.uid = member.gid = 0
                    member.uname = member.gname = ""
                    data = tin.extractfile(member) if member.isfile() else None
                    tout.addfile(member, data)
    return dest


def run_playbook(playbook, extravars, workdir, name, envvars=None):
    """Run ``playbook`` on this host with ansible-runner; return (runner, events). Raises on failure."""
    import ansible_runner  # pylint: disable=import-outside-toplevel

    data_dir = os.path.join(workdir, name)
    os.makedirs(data_dir, exist_ok=True)
    runner = ansible_runner.run(
        private_data_dir=data_dir,
        playbook=playbook,
        inventory="localhost ansible_connection=local ansible_python_interpreter=%s" % sys.executable,
        extravars=extravars,
        envvars=envvars or {},
        quiet=True,
    )
    events = list(runner.events)
    if runner.rc != 0:
        raise RuntimeError("%s failed (rc=%s, status=%s):\n%s" % (os.path.basename(playbook), runner.rc,
                                                                  runner.status, runner.stdout.read()[-6000:]))
    return runner, events


def awx_tarball(dest_dir):
    """A reproducible tarball of the awx.awx collection installed here, in ``dest_dir``."""
    raw = os.path.join(dest_dir, "raw-awx")
    return stable_tarball(pack_installed_collection("awx", "awx", raw), dest_dir)


def build_builder_image(ref, base_image, tarballs, workdir, push=False, tls_verify=True, no_cache=False):
    """The first mover: playbooks/build_builder_ee.yml builds the builder EE ``ref`` on ``base_image``.

    ``tarballs`` maps eeforge.builder and containers.podman to local tarballs (Galaxy is out of
    reach). Returns image facts (``image_facts``) plus ``built`` (ee_build built it, rather than
    finding it up to date), ``seconds`` (the playbook's duration), ``digest`` (when pushed) and
    ``base_image``.
    """
    started = time.time()
    previous = run(["podman", "image", "inspect", "--format", "{{.Id}}", ref], check=False).stdout.strip()
    extravars = {
        "builder_ee_image": ref,
        "builder_ee_base_image": base_image,
        "builder_ee_push": push,
        "builder_ee_tls_verify": tls_verify,
        "builder_ee_no_cache": no_cache,
        "builder_ee_collections": [
            {"name": tarballs["eeforge.builder"], "type": "file"},
            {"name": tarballs["containers.podman"], "type": "file"},
            # eeforge.builder depends on awx.awx (galaxy.yml); Galaxy is out of reach, so it comes as a tarball too.
            {"name": tarballs.get("awx.awx") or awx_tarball(os.path.dirname(tarballs["eeforge.builder"])),
             "type": "file"},
        ],
    }
    dummy, events = run_playbook(BUILDER_PLAYBOOK, extravars, workdir, "build-builder-ee")
    result = ([res for res in task_results(events, "") if "definition_digest" in res] or [{}])[-1]
    facts = image_facts(ref, base_image)
    if previous and previous != facts["id"].replace("sha256:", ""):
        # The tag moved to the new build: the builder EE it named before goes (unless something uses it).
        run(["podman", "rmi", previous], check=False)
    facts.update({
        "built": bool(result.get("built")),
        "build_duration": result.get("build_duration"),
        "digest": result.get("digest"),
        "seconds": round(time.time() - started, 1),
        "base_image": base_image,
    })
    return facts


def image_facts(ref, base_ref):
    """Layer count, size and layers above ``base_ref`` of a local image."""
    def inspect(image):
        res = run(["podman", "image", "inspect", image])
        return json.loads(res.stdout)[0]

    image = inspect(ref)
    base = inspect(base_ref)
    layers = image["RootFS"]["Layers"]
    base_layers = base["RootFS"]["Layers"]
    return {
        "ref": ref,
        "id": image["Id"],
        "layers": len(layers),
        # None: the image does not start with the base's layers (they are not shared).
        "layers_above_base": len(layers) - len(base_layers) if layers[:len(base_layers)] == base_layers else None,
        "size": image["Size"],
        "size_above_base": image["Size"] - base["Size"],
        "labels": image.get("Labels") or {},
        "config": image.get("Config") or {},
    }


def task_results(events, task_name_prefix):
    """``res`` of the runner_on_ok/failed events of the tasks whose name starts with the prefix."""
    found = []
    for event in events:
        data = event.get("event_data") or {}
        if event.get("event") in ("runner_on_ok", "runner_on_failed") and (data.get("task") or "").startswith(
                task_name_prefix):
            found.append(data.get("res") or {})
    return found


def job_command(data_dir, ident=None):
    """The command line ansible-runner ran (artifacts/<ident>/command; the newest run without ``ident``)."""
    artifacts = os.path.join(data_dir, "artifacts")
    idents = [ident] if ident else sorted(os.listdir(artifacts),
                                          key=lambda name: os.path.getmtime(os.path.join(artifacts, name)))
    for name in reversed(idents):
        path = os.path.join(artifacts, name, "command")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)["command"]
    return []


class Job:
    """A job as AWX runs it: a private data dir (project/, env/, inventory) and ansible-runner with podman."""

    def __init__(self, registry, workdir, builder_ref, tarballs, log=print):
        self.registry = registry
        self.workdir = workdir
        self.builder_ref = builder_ref
        self.tarballs = tarballs
        self.log = log

    @property
    def job_registry(self):
        """The registry as a job container sees it."""
        return "%s:%d" % (HOST_FROM_JOB, self.registry.port)

    def base_ref(self, job_side=False):
        """Where the demo EE's base image is in the registry (as the host or as a job sees it)."""
        return "%s/eeforge/base:bookworm" % (self.job_registry if job_side else self.registry.location)

    def built_ref(self, name=DEMO_EE, tag=DEMO_EE_TAG):
        """The EE a job pushed, as this host sees it."""
        return "%s/eeforge/%s:%s" % (self.registry.location, name, tag)

    def push_base_image(self, base_image):
        self.log("pushing the base image to %s" % self.base_ref())
        run(["podman", "push", "--quiet", "--tls-verify=false", base_image, self.base_ref()])

    def demo_ee_item(self, name=DEMO_EE, tag=DEMO_EE_TAG):
        """One ee_builder_list item: the registry's base image, containers.podman and a python package."""
        podman_tarball = os.path.basename(self.tarballs["containers.podman"])
        return {
            "name": name,
            "tags": [tag],
            "base_image": self.base_ref(job_side=True),
            "dependencies": {
                "ansible_core": {"package_pip": "ansible-core>=2.16,<2.20"},
                "ansible_runner": {"package_pip": "ansible-runner>=2.3"},
                "galaxy": {"collections": [{"name": "collections/" + podman_tarball, "type": "file"}]},
                "python": [DEMO_PYTHON_PACKAGE],
            },
        }

    def extravars(self, ee_list):
        """The job template's extra vars: what to build, where to push; the registry is plain HTTP."""
        return {
            "ee_builder_list": ee_list,
            "ee_builder_registry_dest": "%s/eeforge" % self.job_registry,
            # A product option, not test configuration in the image: the registry speaks plain HTTP
            # (the base image pull and the push).
            "ee_builder_tls_verify": False,
            # ee_builder_verify keeps its default (true): the role's gate, ee_info, runs inside the job.
            # podman run cannot start a container there (no CAP_SYS_ADMIN, /proc masked), so ee_info
            # reads the new image chrooted into a mounted, never started container (probe_method: chroot).
        }

    def prepare(self, name):
        """A private data dir as AWX prepares one: project/ (playbooks, collection tarballs), env/."""
        data_dir = os.path.join(self.workdir, name)
        project = os.path.join(data_dir, "project")
        os.makedirs(os.path.join(project, "collections"), exist_ok=True)
        os.makedirs(os.path.join(data_dir, "env"), exist_ok=True)
        shutil.copy(JOB_PLAYBOOK, project)
        shutil.copy(self.tarballs["containers.podman"], os.path.join(project, "collections"))
        with open(os.path.join(project, WHOAMI_PLAYBOOK), "w", encoding="utf-8") as handle:
            handle.write(WHOAMI_PLAYBOOK_TEXT)
        return data_dir

    def run(self, data_dir, extravars, playbook="build_ees.yml", container_options=None):
        """Run ``playbook`` in the builder EE as AWX runs a job; return (runner, events, seconds)."""
        import ansible_runner  # pylint: disable=import-outside-toplevel

        started = time.time()
        runner = ansible_runner.run(
            private_data_dir=data_dir,
            playbook=playbook,
            inventory="localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3",
            extravars=extravars,
            process_isolation=True,
            process_isolation_executable="podman",
            container_image=self.builder_ref,
            container_options=awx_container_options() if container_options is None else container_options,
            quiet=True,
        )
        events = list(runner.events)
        return runner, events, round(time.time() - started, 1)


# The job's first play records who it runs as, so that the test sees the job's uid from the job itself.
WHOAMI_PLAYBOOK_TEXT = """\
---
- name: Record who the job runs as
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run id -u in the job container
      ansible.builtin.command: id -u
      register: eeforge_job_uid
      changed_when: false

    - name: Report the job uid
      ansible.builtin.debug:
        msg: "job uid {{ eeforge_job_uid.stdout }}"

- name: Build the execution environments
  import_playbook: build_ees.yml
"""


def inspect_built(ref):
    """What a user checks: it is in the registry, it runs, it has the collection and the python package."""
    facts = {"ref": ref}
    res = run(["skopeo", "inspect", "--tls-verify=false", "docker://" + ref])
    info = json.loads(res.stdout)
    facts["digest"] = info["Digest"]
    facts["layers"] = len(info.get("Layers") or [])
    run(["podman", "pull", "--quiet", "--tls-verify=false", ref])
    facts["ansible_version"] = run(["podman", "run", "--rm", "--network=none", ref, "ansible", "--version"]).stdout
    res = run(["podman", "run", "--rm", "--network=none", ref, "ansible-galaxy", "collection", "list",
               DEMO_COLLECTION, "--format", "json"])
    facts["collections"] = {name: info["version"] for path in json.loads(res.stdout).values()
                            for name, info in path.items()}
    facts["python_package"] = run(["podman", "run", "--rm", "--network=none", ref, "python3", "-c",
                                   "import importlib.metadata as m; print(m.version('%s'))" % DEMO_PYTHON_PACKAGE]
                                  ).stdout.strip()
    return facts


def remove_images(refs):
    for ref in refs:
        run(["podman", "rmi", "--force", ref], check=False)


def main():
    started = time.time()
    workdir = tempfile.mkdtemp(prefix="eeforge-demo-")
    registry = None
    refs = []
    env_stack = contextlib.ExitStack()

    def log(msg):
        print("==> " + msg, flush=True)

    try:
        registry = Registry().start()
        # Host side only: podman on this host gets the VM's containers.conf and treats the registry
        # as plain HTTP. The job container gets neither.
        env_stack.enter_context(environment(write_podman_config(os.path.join(workdir, "podman"), [registry.location])))
        env_stack.enter_context(environment({"ANSIBLE_COLLECTIONS_PATH": os.environ.get(
            "ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO_ROOT, ".cache", "collections"))}))
        base = ensure_base_image(log=lambda msg: print("    " + msg))
        coll = os.path.join(workdir, "collections")
        tarballs = {
            "eeforge.builder": stable_tarball(build_this_collection(os.path.join(coll, "raw")), coll),
            "containers.podman": stable_tarball(pack_installed_collection("containers", "podman",
                                                                          os.path.join(coll, "raw")), coll),
        }
        builder_ref = "%s/eeforge/builder-ee:demo" % registry.location
        job = Job(registry, workdir, builder_ref, tarballs, log=log)
        refs = [builder_ref, job.base_ref(), job.built_ref()]
        job.push_base_image(base)
        log("building the builder EE %s (playbooks/build_builder_ee.yml)" % builder_ref)
        builder = build_builder_image(builder_ref, base, tarballs, workdir, push=True, tls_verify=False)
        data_dir = job.prepare("job")
        log("running playbooks/build_ees.yml in the builder EE as AWX runs a job")
        runner, events, seconds = job.run(data_dir, job.extravars([job.demo_ee_item()]), playbook=WHOAMI_PLAYBOOK)
        if runner.rc != 0:
            print(runner.stdout.read()[-6000:])
            raise RuntimeError("the job failed (rc=%s, status=%s)" % (runner.rc, runner.status))
        preflight = (task_results(events, "Check that podman can build here") or [{}])[0]
        built = inspect_built(job.built_ref())
        command = job_command(data_dir)
        podman_run = command[command.index("run") + 1:command.index(builder_ref)] if builder_ref in command else []
        print("")
        print("eeforge demo summary")
        print("  builder EE     %s" % builder["ref"])
        print("                 %d layers (%s above the base image), %.0f MB; first-mover playbook %ss"
              % (builder["layers"], builder["layers_above_base"], builder["size"] / 1e6, builder["seconds"]))
        print("  job            ansible-runner: podman run %s" % " ".join(podman_run))
        print("                 storage driver %s: %s" % (preflight.get("storage_driver"), preflight.get("reason")))
        print("                 finished in %ss" % seconds)
        print("  built EE       %s" % built["ref"])
        print("                 digest %s" % built["digest"])
        print("  ansible --version inside it:")
        for line in built["ansible_version"].splitlines():
            print("    " + line)
        print("demo finished in %.0fs" % (time.time() - started))
        return 0
    finally:
        remove_images(refs)
        if registry is not None:
            registry.stop()
        env_stack.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
