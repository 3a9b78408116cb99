# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""issue 15, nested: the two-platform EE built and pushed from inside the builder EE, started as AWX
starts a job (the e2e harness of test_e2e_awx_job.py: ansible-runner, podman, ``--user=root``, the private
data dir at /runner, AWX's default network option plus ``allow_host_loopback=true`` for the loopback
registry, nothing else).

Emulation needs nothing from the job container: binfmt_misc is not mounted in it, but the entry the host
registered with the F flag (qemu-user-static) runs arm64 programs there, in the nested build's chroot
isolation too. The host is what must have it (docs/multiarch.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.demo import Job, job_command, remove_images, stable_tarball, task_results
from tests.harness import binfmt
from tests.harness.multiarch import push_base_manifest
from tests.harness.podman_env import podman
from tests.integration.test_e2e_awx_job import report

pytestmark = pytest.mark.slow

PLATFORMS = ["linux/amd64", "linux/arm64"]
NAME = "eeforge-multiarch-ee"


@pytest.fixture(scope="module")
def multiarch_job(builder_image, registry, base_image, collection_tarballs, tmp_path_factory, request):  # pylint: disable=unused-argument
    try:
        binfmt.ensure(binfmt.ENTRIES["arm64"])
    except (binfmt.BinfmtError, OSError) as exc:
        pytest.fail("arm64 emulation is not available (make setup installs it): %s" % exc)
    work = str(tmp_path_factory.mktemp("e2e-multiarch"))
    tarballs = {name: stable_tarball(collection_tarballs[name], os.path.join(work, "collections"))
                for name in ("eeforge.builder", "containers.podman")}
    builder_ref = "%s/eeforge/builder-ee:e2e-multiarch" % registry.location
    job = Job(registry, work, builder_ref, tarballs, log=lambda msg: report(request, msg))
    base = push_base_manifest(registry.location, repository="eeforge/base-multiarch", tag="bookworm",
                              log=lambda msg: report(request, msg))
    podman(["push", "--quiet", "--tls-verify=false", builder_image.ref, "docker://" + builder_ref])
    podman(["rmi", builder_ref], check=False)  # the job's podman pulls it, as AWX does
    item = {
        "name": NAME,
        "tags": ["1"],
        "platforms": PLATFORMS,
        "base_image": base.replace(registry.location, job.job_registry, 1),
        "dependencies": {
            "ansible_core": {"package_pip": "ansible-core==2.19.14"},
            "ansible_runner": {"package_pip": "ansible-runner==2.4.3"},
        },
    }
    data_dir = job.prepare("job")
    try:
        runner, events, seconds = job.run(data_dir, job.extravars([item]))
        output = runner.stdout.read()
        builds = [res for res in task_results(events, "") if "definition_digest" in res]
        report(request, "job (nested two-platform build) finished in %ss; builds %s" % (
            seconds, [res.get("build_duration") for res in builds if res.get("built")]))
        yield {"runner": runner, "events": events, "output": output, "builds": builds, "job": job,
               "data_dir": data_dir, "ref": job.built_ref(NAME, "1"), "builder_ref": builder_ref}
    finally:
        built = job.built_ref(NAME, "1")
        remove_images([builder_ref, built, base])
        shutil.rmtree(work, ignore_errors=True)


def test_nested_job_builds_and_pushes_the_two_platform_ee(multiarch_job):
    runner = multiarch_job["runner"]
    assert runner.rc == 0 and runner.status == "successful", multiarch_job["output"][-8000:]
    built = [res for res in multiarch_job["builds"] if res.get("built")]
    assert built and sorted(p for p, entry in built[0]["platforms"].items() if entry["built"]) == PLATFORMS, built
    preflight = task_results(multiarch_job["events"], "Check that podman can build here")
    assert preflight[0]["platforms"] == {"linux/amd64": "native", "linux/arm64": "emulated"}, preflight


def test_the_job_had_no_extra_privilege(multiarch_job):
    command = job_command(multiarch_job["data_dir"])
    options = command[:command.index(multiarch_job["builder_ref"])]
    for forbidden in ("--privileged", "--cap-add", "--device", "--security-opt", "--userns", "--pid", "--net=host"):
        assert not [opt for opt in options if opt.startswith(forbidden)], (forbidden, options)
    assert not [opt for opt in options if "binfmt" in opt or "qemu" in opt], options


def test_pushed_tag_is_a_manifest_list_whose_images_run(multiarch_job):
    ref = multiarch_job["ref"]
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + ref],
                         capture_output=True, text=True, check=True).stdout
    index = json.loads(raw)
    assert sorted("%s/%s" % (m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"]) \
        == PLATFORMS
    for platform, machine in (("linux/arm64", "aarch64"), ("linux/amd64", "x86_64")):
        ran = podman(["run", "--rm", "--pull=always", "--tls-verify=false", "--platform", platform, ref,
                      "/bin/sh", "-c", "uname -m; ansible --version | head -1"], timeout=600)
        assert ran.stdout.split("\n")[:2] == [machine, "ansible [core 2.19.14]"], ran.stdout
