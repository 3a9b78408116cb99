# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils import _builder as builder

DEBIAN = {"package_managers": ["/usr/bin/apt-get"], "pip": True, "python": True}
DEBIAN_NO_PIP = {"package_managers": ["/usr/bin/apt-get"], "pip": False, "python": True}
UBI = {"package_managers": ["/usr/bin/microdnf"], "pip": True, "python": True}


def test_debian_base_gets_apt_adapter_and_skip_pip():
    derived = {"version": 3}
    helpers, adaptations = builder.plan_adaptations(derived, DEBIAN)
    assert derived["options"] == {"package_manager_path": builder.APT_ADAPTER, "skip_pip_install": True}
    assert set(helpers) == {"apt-dnf-adapter"}
    assert derived["additional_build_steps"]["prepend_base"] == ["COPY _build/eeforge/ /output/eeforge/"]
    assert len(adaptations) == 2 and "apt-get" in adaptations[0] and "ensurepip" in adaptations[1]


def test_debian_without_pip_installs_python3_pip_with_apt():
    derived = {"version": 3, "additional_build_steps": {"prepend_base": ["RUN echo user"]}}
    _helpers, adaptations = builder.plan_adaptations(derived, DEBIAN_NO_PIP)
    steps = derived["additional_build_steps"]["prepend_base"]
    assert steps[0].startswith("COPY _build/eeforge/")
    assert steps[1] == "RUN $PKGMGR install -y python3-pip && $PKGMGR clean all"
    assert steps[-1] == "RUN echo user"  # the user's own steps stay, after ours
    assert "python3-pip installed with apt" in adaptations[1]


def test_user_settings_win_and_rpm_bases_are_untouched():
    derived = {"version": 3, "options": {"package_manager_path": "/usr/bin/apt-wrapper", "skip_pip_install": False}}
    helpers, adaptations = builder.plan_adaptations(derived, DEBIAN)
    assert derived["options"] == {"package_manager_path": "/usr/bin/apt-wrapper", "skip_pip_install": False}
    assert helpers == {} and adaptations == []
    derived = {"version": 3}
    helpers, adaptations = builder.plan_adaptations(derived, UBI)
    assert derived == {"version": 3, "options": {}} and helpers == {} and adaptations == []
    both = {"package_managers": ["/usr/bin/dnf", "/usr/bin/apt-get"], "pip": True}
    derived = {"version": 3}
    assert builder.plan_adaptations(derived, both) == ({}, [])


def test_ca_files_add_install_step():
    derived = {"version": 3}
    helpers, adaptations = builder.plan_adaptations(derived, UBI, ca_files=["/x/ca.pem"])
    assert "install-ca" in helpers
    assert derived["additional_build_steps"]["prepend_base"] == [
        "COPY _build/eeforge/ /output/eeforge/", "RUN sh /output/eeforge/install-ca"]
    assert "1 PEM file" in adaptations[0]


def test_no_probe_means_no_debian_adaptation():
    derived = {"version": 3}
    assert builder.plan_adaptations(derived, None) == ({}, [])


def test_secret_env_text_quotes_and_omits():
    assert builder.secret_env_text() is None
    text = builder.secret_env_text("https://hub/api/", "tok'en", "https://u:p@mirror/simple", None)
    assert "export ANSIBLE_GALAXY_SERVER_LIST=eeforge_hub" in text
    assert "export ANSIBLE_GALAXY_SERVER_EEFORGE_HUB_URL=https://hub/api/" in text
    assert "export ANSIBLE_GALAXY_SERVER_EEFORGE_HUB_TOKEN='tok'\"'\"'en'" in text
    assert "PIP_INDEX_URL=https://u:p@mirror/simple" in text
    assert "PIP_EXTRA_INDEX_URL" not in text
    out = subprocess.run(["sh", "-c", text + 'printf %s "$ANSIBLE_GALAXY_SERVER_EEFORGE_HUB_TOKEN"'],
                         capture_output=True, text=True, check=True).stdout
    assert out == "tok'en"
    assert "PIP_CERT" in builder.secret_env_text(ca=True)


def test_add_secret_mounts():
    text = "\n".join([
        "FROM base",
        "RUN /output/scripts/assemble",
        "RUN --network=none echo hi && echo there",
        'RUN ["/bin/true"]',
        "COPY a b",
        "RUN a \\",
        "    b",
    ])
    out = builder.add_secret_mounts(text).splitlines()
    mount = "--mount=type=secret,id=eeforge_env,target=/run/secrets/eeforge_env"
    assert out[0] == "FROM base"
    assert out[1] == "RUN %s . /run/secrets/eeforge_env && /output/scripts/assemble" % mount
    assert out[2] == "RUN %s --network=none . /run/secrets/eeforge_env && echo hi && echo there" % mount
    assert out[3] == 'RUN ["/bin/true"]'
    assert out[4] == "COPY a b"
    assert out[5].endswith("&& a \\") and out[6] == "    b"


def test_build_argv_has_no_secret_values(tmp_path):
    argv = builder.build_argv("/usr/bin/podman", "podman", str(tmp_path), ["localhost/x:1", "r.io/x:1"],
                              {"B": "2", "A": "1"}, {"l": "v"}, squash="all", no_cache=True, extra_args=["--pull=never"],
                              secret_path="/tmp/s/eeforge_env", auth_file="/tmp/a/config.json", log_path="/l.log",
                              iid_file="/i")
    assert argv[:4] == ["/usr/bin/podman", "build", "-f", os.path.join(str(tmp_path), "Containerfile")]
    assert argv[argv.index("--build-arg") + 1] == "A=1"
    assert "--squash-all" in argv and "--no-cache" in argv
    assert "id=eeforge_env,src=/tmp/s/eeforge_env" in argv
    assert argv[-2:] == ["--pull=never", str(tmp_path)]
    new = builder.build_argv("docker", "docker", "/c", ["x:1"], {}, {}, squash="new")
    assert "--squash" in new and "--layers" not in new and new[3].endswith("Dockerfile")


PIP_FAILURE_LOG = """\
[3/4] STEP 15/15: RUN /output/scripts/assemble
+ /usr/bin/python3 -m pip install -r /tmp/src/requirements.txt
Collecting eeforge-no-such==9
ERROR: Could not find a version that satisfies the requirement eeforge-no-such==9 (from versions: none)
ERROR: No matching distribution found for eeforge-no-such==9
+ exit 1
Error: building at STEP "RUN /output/scripts/assemble": while running runtime: exit status 1
"""

GALAXY_FAILURE_LOG = """\
[2/4] STEP 14/14: RUN ANSIBLE_GALAXY_DISABLE_GPG_VERIFY=1 ansible-galaxy collection install -r requirements.yml
Starting galaxy collection install process
ERROR! Collection artifact at '/build/eeforge-collections/x-1.0.0.tar.gz' is not a valid tar file.
Error: building at STEP "RUN ANSIBLE_GALAXY_DISABLE_GPG_VERIFY=1 ansible-galaxy collection install -r x": exit 1
"""

PULL_FAILURE_LOG = """\
[1/4] STEP 1/15: FROM 127.0.0.1:5000/none:1 AS base
Trying to pull 127.0.0.1:5000/none:1...
Error: creating build container: initializing source docker://127.0.0.1:5000/none:1: reading manifest 1 in \
127.0.0.1:5000/none: manifest unknown: manifest unknown
"""


def test_describe_failure_names_the_step_and_the_error():
    cause, hint = builder.describe_failure(PIP_FAILURE_LOG)
    assert cause.startswith("the builder step (pip wheels and bindep) failed: ERROR: No matching distribution found")
    assert "step: RUN /output/scripts/assemble" in cause
    assert "pip_index_url" in hint
    cause, hint = builder.describe_failure(GALAXY_FAILURE_LOG)
    assert cause.startswith("the galaxy step (installing collections) failed: ERROR! Collection artifact")
    assert "galaxy_server_url" in hint
    cause, hint = builder.describe_failure(PULL_FAILURE_LOG)
    assert cause.startswith("the base image could not be pulled")
    assert "base_registry_username" in hint


def test_apt_adapter_translates_dnf_calls(tmp_path):
    """Run the adapter with a fake apt-get that records its arguments."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    record = tmp_path / "calls"
    (fake_bin / "apt-get").write_text('#!/bin/sh\necho "apt-get $*" >> %s\n' % record)
    (fake_bin / "apt-get").chmod(0o755)
    adapter = tmp_path / "adapter"
    adapter.write_text(builder.APT_ADAPTER_SCRIPT)
    adapter.chmod(0o755)
    env = dict(os.environ, PATH="%s:/usr/bin:/bin" % fake_bin)
    subprocess.run([str(adapter), "install", "-y", "--setopt", "install_weak_deps=0", "--nodocs", "jq", "git"],
                   env=env, check=True, capture_output=True)
    subprocess.run([str(adapter), "clean", "all"], env=env, check=True, capture_output=True)
    calls = record.read_text().splitlines()
    assert calls[-2] == "apt-get install -y -q --no-install-recommends jq git"
    assert calls[-1] == "apt-get clean"
    bad = subprocess.run([str(adapter), "upgrade"], env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "unsupported" in bad.stderr


PROBE_DEBIAN = ("bin=/usr/bin/apt-get\npip=yes\npython=yes\n",
                {"package_managers": ["/usr/bin/apt-get"], "pip": True, "python": True})
PROBE_RPM = ("bin=/usr/bin/dnf\nbin=/usr/bin/microdnf\npip=no\npython=yes\n",
             {"package_managers": ["/usr/bin/dnf", "/usr/bin/microdnf"], "pip": False, "python": True})


@pytest.mark.parametrize("text, expected", [PROBE_DEBIAN, PROBE_RPM])
def test_probe_parsing(text, expected):
    class Runner(object):
        def __init__(self):
            self.argv = None

        def run(self, argv, timeout=None):
            self.argv = argv
            return 0, text, ""

    runner = Runner()
    assert builder.probe_base_image(runner, "/usr/bin/podman", "img:1") == expected
    assert runner.argv[:6] == ["/usr/bin/podman", "run", "--rm", "--network=none", "--user=0", "--entrypoint"]


def test_probe_mounts_a_container_when_the_image_store_is_read_only():
    """No CAP_SYS_ADMIN (``podman run`` fails), and ``podman image mount`` refuses an image of a
    read-only additional image store: the probe mounts a container made from it instead; no pull."""
    class Runner(object):
        def __init__(self, results):
            self.results = list(results)
            self.calls = []

        def run(self, argv, timeout=None):
            self.calls.append(argv)
            rc, out, err = self.results.pop(0)
            if rc:
                raise builder.CommandError(argv, rc, out, err)
            return rc, out, err

    runner = Runner([(126, "", "Error: crun: mount proc: Operation not permitted"),
                     (builder.PROBE_MOUNT_REFUSED, "", "Error: layer not known"),
                     (0, PROBE_DEBIAN[0], "")])
    assert builder.probe_base_image(runner, "/usr/bin/podman", "img:1") == PROBE_DEBIAN[1]
    assert [c[1] for c in runner.calls] == ["run", "unshare", "unshare"]
    assert runner.calls[1][4] == builder.PROBE_CHROOT_SCRIPT
    assert runner.calls[2][4] == builder.PROBE_CONTAINER_CHROOT_SCRIPT
    assert runner.calls[2][6:] == ["/usr/bin/podman", "img:1", "/usr/bin/python3", builder.PROBE_SCRIPT]
    assert "create --pull=never" in builder.PROBE_CONTAINER_CHROOT_SCRIPT

    # the image mounts: one chroot probe, as before
    runner = Runner([(126, "", "Error: mount proc"), (0, PROBE_RPM[0], "")])
    assert builder.probe_base_image(runner, "/usr/bin/podman", "img:1") == PROBE_RPM[1]
    assert [c[4] for c in runner.calls[1:]] == [builder.PROBE_CHROOT_SCRIPT]

    # any other failure of the chroot probe is not retried
    runner = Runner([(126, "", "Error: mount proc"), (127, "", "chroot: failed to run command '/bin/sh'")])
    with pytest.raises(builder.CommandError) as info:
        builder.probe_base_image(runner, "/usr/bin/podman", "img:1")
    assert info.value.rc == 127 and len(runner.calls) == 2


# -- when ansible-builder's schema is checked ---------------------------------------------------

class _Runner(object):
    """``podman image inspect`` answers from ``images`` (ref -> labels); nothing else may run."""

    def __init__(self, images):
        self.images = images
        self.calls = []

    def get_bin(self, name):
        return "/usr/bin/" + name

    def run(self, argv, check=True, **kwargs):  # pylint: disable=unused-argument
        self.calls.append(argv)
        assert argv[1:4] == ["image", "inspect", "--format"], argv
        labels = self.images.get(argv[-1])
        if labels is None:
            return 125, "", "Error: no such image"
        return 0, json.dumps({"Id": "sha256:" + "1" * 64, "Labels": labels}), ""


class _Module(object):
    def __init__(self, params, images, check_mode=False):
        self.params = dict(dict(tags=["localhost/ee:1"], build_args={}, extra_build_cli_args=[], labels={},
                                ca_certificates=[], squash="off", force=False, push=False, container_runtime="podman",
                                galaxy_server_url=None, pip_index_url=None, pip_extra_index_url=None,
                                definition_file=None, project_dir=None, definition=None), **params)
        self.runner = _Runner(images)
        self.check_mode = check_mode

    def runtime_bin(self):
        return "/usr/bin/podman"


class _Schema(object):
    """Stands for ansible-builder's schema loader: counts calls; the schema forbids unknown top keys."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return {"type": "object", "additionalProperties": False,
                "properties": dict((key, {}) for key in ("version", "images", "dependencies", "options",
                                                         "additional_build_files", "additional_build_steps",
                                                         "build_arg_defaults"))}


def _run(definition, images, check_mode=False, force=False):
    schema = _Schema()
    module = _Module({"definition": definition, "force": force}, images, check_mode=check_mode)
    run = builder.EEBuild(module, "3.2.0", schema, "/usr/bin/ansible-builder")
    run.build = lambda result, *args: result.update(built="(not here)")  # no ansible-builder, no podman build
    return run, schema


def test_up_to_date_image_needs_no_schema():
    definition = {"version": 3, "images": {"base_image": {"name": "localhost/base:1"}}}
    # first a check-mode run against an empty store: validates, and tells the digest
    run, schema = _run(definition, {})
    changed, result = run.run()
    assert changed is True and result["actions"] == ["build"] and schema.calls == 1
    from ansible_collections.eeforge.builder.plugins.module_utils._definition import (  # pylint: disable=import-outside-toplevel
        definition_digest,
        resolve_definition,
    )
    digest = definition_digest(resolve_definition(definition, None), {}, "3.2.0", {
        "labels": {}, "squash": "off", "extra_build_cli_args": [], "ca_certificates": [], "galaxy_server_url": "",
        "pip_index_url": "", "pip_extra_index_url": "", "runtime": "podman"})
    run, schema = _run(definition, {"localhost/ee:1": {builder.DIGEST_LABEL: digest}})
    changed, result = run.run()
    assert (changed, result["up_to_date"], result["definition_digest"]) == (False, True, digest)
    assert schema.calls == 0
    # the same, forced or in check mode: validated
    for kwargs in ({"force": True}, {"check_mode": True}):
        run, schema = _run(definition, {"localhost/ee:1": {builder.DIGEST_LABEL: digest}}, **kwargs)
        run.run()
        assert schema.calls == 1, kwargs


def test_schema_error_still_comes_first():
    # an unknown key AND a missing requirements file: the schema's message, as when it was checked first
    definition = {"version": 3, "images": {"base_image": {"name": "localhost/base:1"}},
                  "dependancies": {}, "dependencies": {"python": "/nonexistent/requirements.txt"}}
    run, schema = _run(definition, {})
    with pytest.raises(builder.DefinitionError) as error:
        run.run()
    assert "'dependancies' was unexpected" in str(error.value)
    assert schema.calls == 1
    # no base image name and an unknown key: the schema's message too
    run, schema = _run({"version": 3, "dependancies": {}}, {})
    with pytest.raises(builder.DefinitionError) as error:
        run.run()
    assert "'dependancies' was unexpected" in str(error.value)
