# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""End to end, as ``make demo``: the builder EE runs playbooks/build_ees.yml as AWX runs a job.

The builder EE comes from the session fixture ``builder_image`` (playbooks/build_builder_ee.yml on
the harness base image) and is pushed to the harness registry, from which the job's podman pulls
it. ansible-runner then starts it the way AWX starts a job on a podman execution node (process
isolation with podman, ``--user=root``, the private data dir at /runner, AWX's default
``--network slirp4netns:enable_ipv6=true`` plus ``allow_host_loopback=true``, shown necessary below).
Inside, the ee_builder role builds an EE on the registry's base image and pushes it to the registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.demo import (
    AWX_NETWORK,
    AWX_USER_OPTION,
    DEMO_COLLECTION,
    DEMO_PYTHON_PACKAGE,
    HOST_FROM_JOB,
    WHOAMI_PLAYBOOK,
    Job,
    awx_container_options,
    inspect_built,
    job_command,
    remove_images,
    stable_tarball,
    task_results,
)

pytestmark = pytest.mark.slow


def podman(*args, check=True):
    res = subprocess.run(["podman"] + list(args), capture_output=True, text=True, check=False, timeout=1800)
    if check:
        assert res.returncode == 0, (args, res.stdout[-3000:], res.stderr[-3000:])
    return res


def report(request, line):
    """Print a figure in pytest's terminal output (figures are reported, not asserted)."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("[e2e] " + line)


@pytest.fixture(scope="module")
def job_env(builder_image, registry, base_image, collection_tarballs, tmp_path_factory, request):
    """The registry holds the base image and the builder EE (pushed by the first mover)."""
    work = str(tmp_path_factory.mktemp("e2e-job"))
    tarballs = {name: stable_tarball(collection_tarballs[name], os.path.join(work, "collections"))
                for name in ("eeforge.builder", "containers.podman")}
    builder_ref = "%s/eeforge/builder-ee:e2e" % registry.location
    job = Job(registry, work, builder_ref, tarballs, log=lambda msg: report(request, msg))
    job.push_base_image(base_image)
    podman("push", "--quiet", "--tls-verify=false", builder_image.ref, builder_ref)
    report(request, "builder EE %r" % builder_image)
    try:
        yield job
    finally:
        remove_images([builder_ref, job.base_ref(), job.built_ref()])
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def awx_job(job_env, request):
    """The job: build_ees.yml (after a play that records the job's uid) in the builder EE."""
    # Drop the local name, so that the job's podman pulls the builder EE from the registry as AWX does.
    podman("rmi", job_env.builder_ref)
    data_dir = job_env.prepare("job")
    runner, events, seconds = job_env.run(data_dir, job_env.extravars([job_env.demo_ee_item()]),
                                          playbook=WHOAMI_PLAYBOOK)
    output = runner.stdout.read()
    assert runner.rc == 0 and runner.status == "successful", output[-8000:]
    # ee_build's results (the role calls it to plan, to build and to push).
    builds = [res for res in task_results(events, "") if "definition_digest" in res]
    report(request, "job (nested build of %s) finished in %ss; nested podman build took %s s"
           % (job_env.built_ref(), seconds, [res["build_duration"] for res in builds if res.get("built")]))
    return {"data_dir": data_dir, "events": events, "seconds": seconds, "output": output, "builds": builds}


def test_builder_image_is_flat_and_ready_for_nested_builds(builder_image, base_image):
    """execution-environment.yaml: ≤ 2 layers above the base, root, chroot isolation, its own store volume."""
    assert builder_image.base_image == base_image
    assert builder_image.layers_above_base is not None, "the base image's layers are not shared"
    assert 1 <= builder_image.layers_above_base <= 2, builder_image
    config = builder_image.facts["config"]
    assert "BUILDAH_ISOLATION=chroot" in config.get("Env", [])
    assert "/var/lib/containers" in (config.get("Volumes") or {})
    assert config.get("User") in ("root", "0", "0:0")
    assert builder_image.facts["labels"].get("io.eeforge.builder-ee") == "true"
    assert builder_image.facts["labels"].get("io.eeforge.definition-digest", "").startswith("sha256:")
    # newuidmap/newgidmap: file capabilities instead of setuid root; tools and collections present.
    script = ("set -e; for t in newuidmap newgidmap; do p=$(command -v $t); "
              "test ! -u $p || { echo setuid $p; exit 1; }; getcap $p; done; "
              "podman --version; buildah --version; skopeo --version; ansible-builder --version; "
              "ansible-runner --version; python3 -c 'import awxkit'; "
              "ansible-galaxy collection list --format json")
    res = podman("run", "--rm", "--network=none", "--entrypoint", "/bin/sh", builder_image.ref, "-c", script)
    assert "cap_setuid=ep" in res.stdout and "cap_setgid=ep" in res.stdout, res.stdout
    collections = {name for path in json.loads(res.stdout[res.stdout.index("{"):]).values() for name in path}
    assert {"eeforge.builder", "containers.podman"} <= collections, collections


def test_registry_unreachable_without_host_loopback(job_env):
    """Why allow_host_loopback=true is added to AWX's default network option, and nothing else."""
    base = "docker://%s/eeforge/base:bookworm" % job_env.job_registry
    argv = ["run", "--rm", AWX_USER_OPTION, "--entrypoint", "skopeo"]
    default = podman(*(argv + ["--network", AWX_NETWORK, job_env.builder_ref, "inspect", "--tls-verify=false",
                               "--retry-times=0", base]), check=False)
    assert default.returncode != 0 and HOST_FROM_JOB in default.stderr, default.stderr
    allowed = podman(*(argv + awx_container_options()[1:]
                       + [job_env.builder_ref, "inspect", "--tls-verify=false", base]))
    assert json.loads(allowed.stdout)["Digest"].startswith("sha256:")


def test_job_started_as_awx_starts_it(awx_job, job_env):
    """ansible-runner's podman command: AWX's options, the private data dir at /runner, no extra privilege."""
    command = job_command(awx_job["data_dir"])
    assert command[:3] == ["podman", "run", "--rm"], command
    image_at = command.index(job_env.builder_ref)
    options = command[:image_at]
    assert AWX_USER_OPTION in options
    assert options[options.index("--network") + 1] == "%s,allow_host_loopback=true" % AWX_NETWORK
    mounts = [options[i + 1] for i, opt in enumerate(options) if opt == "-v"]
    assert "%s/:/runner/:Z" % awx_job["data_dir"].rstrip("/") in mounts, mounts
    for forbidden in ("--privileged", "--cap-add", "--device", "--security-opt", "--userns", "--pid", "--net=host"):
        assert not [opt for opt in options if opt.startswith(forbidden)], (forbidden, options)
    assert not [opt for opt in options if "/dev/fuse" in opt or "CAP_" in opt.upper()], options
    assert command[image_at + 1] == "ansible-playbook", command


def test_job_ran_as_root_inside_the_builder(awx_job):
    uids = [res.get("stdout") for res in task_results(awx_job["events"], "Run id -u in the job container")]
    assert uids == ["0"], uids


def test_nested_build_used_native_overlay(awx_job):
    """Nothing extra given to the job container: the role's probe settles on native overlay."""
    preflight = task_results(awx_job["events"], "Check that podman can build here")
    assert len(preflight) == 1, awx_job["output"][-4000:]
    assert preflight[0].get("storage_driver") == "overlay", preflight[0]
    assert [res for res in awx_job["builds"] if res.get("built")], awx_job["builds"]


def test_built_ee_is_in_the_registry_and_works(awx_job, job_env):
    built = inspect_built(job_env.built_ref())
    assert built["digest"].startswith("sha256:")
    pushed = [res for res in awx_job["builds"] if res.get("digest")]
    assert pushed and pushed[-1]["digest"] == built["digest"], (pushed, built)
    assert built["ansible_version"].startswith("ansible [core 2."), built["ansible_version"]
    assert DEMO_COLLECTION in built["collections"], built["collections"]
    assert built["python_package"] and built["python_package"][0].isdigit(), (DEMO_PYTHON_PACKAGE, built)


def test_role_verified_the_built_ee_inside_the_job(awx_job, job_env):
    """ee_builder_verify (default true): ee_info ran in the job, through the chroot probe, and passed."""
    verified = task_results(awx_job["events"], "Verify before pushing or registering ")
    assert len(verified) == 1, awx_job["output"][-4000:]
    info = verified[0]
    assert not info.get("failed") and info.get("assertions") == {}, info
    assert info["probe_method"] == "chroot", info
    # The job sees the registry at another address than this host does.
    assert info["image"].split("/", 1)[1] == job_env.built_ref().split("/", 1)[1], info["image"]
    assert DEMO_COLLECTION in info["collections"], info["collections"]
    assert info["ansible_core_version"].startswith("2."), info
    assert info["ansible_runner_version"], info
    # ansible-builder v3 images run as USER 1000, with /runner writable by it (group 0) and by root.
    assert info["user"]["uid"] == 1000, info["user"]
    assert info["runner_writable"] == {"root": True, "uid_1000": True, "image_user": True}, info["runner_writable"]
    assert info["python_packages"], info
    # The push comes after the gate: the pushed digest is the verified image's.
    pushes = task_results(awx_job["events"], "Push once verified ")
    assert len(pushes) == 1 and pushes[0].get("digest"), pushes
