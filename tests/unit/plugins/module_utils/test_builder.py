# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils import _build_context as ctx
from ansible_collections.eeforge.builder.plugins.module_utils import _builder as builder
from ansible_collections.eeforge.builder.plugins.module_utils import _definition as defn
from ansible_collections.eeforge.builder.plugins.module_utils import _registry as registry

DEBIAN = {"package_managers": ["/usr/bin/apt-get"], "pip": True, "python": True}
DEBIAN_NO_PIP = {"package_managers": ["/usr/bin/apt-get"], "pip": False, "python": True}
UBI = {"package_managers": ["/usr/bin/microdnf"], "pip": True, "python": True}


def test_debian_base_gets_apt_adapter_and_skip_pip():
    derived = {"version": 3}
    helpers, adaptations = ctx.plan_adaptations(derived, DEBIAN)
    assert derived["options"] == {"package_manager_path": ctx.APT_ADAPTER, "skip_pip_install": True}
    assert set(helpers) == {"apt-dnf-adapter"}
    assert derived["additional_build_steps"]["prepend_base"] == ["COPY _build/eeforge/ /output/eeforge/"]
    assert len(adaptations) == 2 and "apt-get" in adaptations[0] and "ensurepip" in adaptations[1]


def test_debian_without_pip_installs_python3_pip_with_apt():
    derived = {"version": 3, "additional_build_steps": {"prepend_base": ["RUN echo user"]}}
    _helpers, adaptations = ctx.plan_adaptations(derived, DEBIAN_NO_PIP)
    steps = derived["additional_build_steps"]["prepend_base"]
    assert steps[0].startswith("COPY _build/eeforge/")
    assert steps[1] == "RUN $PKGMGR install -y python3-pip && $PKGMGR clean all"
    assert steps[-1] == "RUN echo user"  # the user's own steps stay, after ours
    assert "python3-pip installed with apt" in adaptations[1]


def test_user_settings_win_and_rpm_bases_are_untouched():
    derived = {"version": 3, "options": {"package_manager_path": "/usr/bin/apt-wrapper", "skip_pip_install": False}}
    helpers, adaptations = ctx.plan_adaptations(derived, DEBIAN)
    assert derived["options"] == {"package_manager_path": "/usr/bin/apt-wrapper", "skip_pip_install": False}
    assert helpers == {} and adaptations == []
    derived = {"version": 3}
    helpers, adaptations = ctx.plan_adaptations(derived, UBI)
    assert derived == {"version": 3, "options": {}} and helpers == {} and adaptations == []
    both = {"package_managers": ["/usr/bin/dnf", "/usr/bin/apt-get"], "pip": True}
    derived = {"version": 3}
    assert ctx.plan_adaptations(derived, both) == ({}, [])


def test_ca_files_add_install_step():
    derived = {"version": 3}
    helpers, adaptations = ctx.plan_adaptations(derived, UBI, ca_files=["/x/ca.pem"])
    assert "install-ca" in helpers
    assert derived["additional_build_steps"]["prepend_base"] == [
        "COPY _build/eeforge/ /output/eeforge/", "RUN sh /output/eeforge/install-ca"]
    assert "1 PEM file" in adaptations[0]


def test_no_probe_means_no_debian_adaptation():
    derived = {"version": 3}
    assert ctx.plan_adaptations(derived, None) == ({}, [])


def test_secret_env_text_quotes_and_omits():
    assert ctx.secret_env_text() is None
    text = ctx.secret_env_text("https://hub/api/", "tok'en", "https://u:p@mirror/simple", None)
    assert "export ANSIBLE_GALAXY_SERVER_LIST=eeforge_hub" in text
    assert "export ANSIBLE_GALAXY_SERVER_EEFORGE_HUB_URL=https://hub/api/" in text
    assert "export ANSIBLE_GALAXY_SERVER_EEFORGE_HUB_TOKEN='tok'\"'\"'en'" in text
    assert "PIP_INDEX_URL=https://u:p@mirror/simple" in text
    assert "PIP_EXTRA_INDEX_URL" not in text
    out = subprocess.run(["sh", "-c", text + 'printf %s "$ANSIBLE_GALAXY_SERVER_EEFORGE_HUB_TOKEN"'],
                         capture_output=True, text=True, check=True).stdout
    assert out == "tok'en"
    assert "PIP_CERT" in ctx.secret_env_text(ca=True)


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
    out = ctx.add_secret_mounts(text).splitlines()
    mount = "--mount=type=secret,id=eeforge_env,target=/run/secrets/eeforge_env"
    assert out[0] == "FROM base"
    assert out[1] == "RUN %s . /run/secrets/eeforge_env && /output/scripts/assemble" % mount
    assert out[2] == "RUN %s --network=none . /run/secrets/eeforge_env && echo hi && echo there" % mount
    assert out[3] == 'RUN ["/bin/true"]'
    assert out[4] == "COPY a b"
    assert out[5].endswith("&& a \\") and out[6] == "    b"


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
    cause, hint = ctx.describe_failure(PIP_FAILURE_LOG)
    assert cause.startswith("the builder step (pip wheels and bindep) failed: ERROR: No matching distribution found")
    assert "step: RUN /output/scripts/assemble" in cause
    assert "pip_index_url" in hint
    cause, hint = ctx.describe_failure(GALAXY_FAILURE_LOG)
    assert cause.startswith("the galaxy step (installing collections) failed: ERROR! Collection artifact")
    assert "galaxy_server_url" in hint
    cause, hint = ctx.describe_failure(PULL_FAILURE_LOG)
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
    adapter.write_text(ctx.APT_ADAPTER_SCRIPT)
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
    assert ctx.parse_base_probe(text) == expected


def test_base_probe_runs_the_shell_probe_through_the_engine():
    class Engine(object):
        def __init__(self):
            self.calls = []

        def run_in_image(self, image, argv, data=None, env=None, timeout=None):
            self.calls.append((image, argv))
            return PROBE_DEBIAN[0], "", "chroot"

    engine = Engine()
    assert ctx.probe_base_image(engine, "img:1", "/opt/py/bin/python3") == PROBE_DEBIAN[1]
    assert engine.calls == [("img:1", ["/bin/sh", "-c", ctx.BASE_PROBE_SH, "probe", "/opt/py/bin/python3"])]


# -- when ansible-builder's schema is checked ---------------------------------------------------

class _Runner(object):
    """podman is 'installed'; nothing may run through the runner itself."""

    def get_bin(self, name):
        return "/usr/bin/" + name

    def run(self, argv, **kwargs):  # pragma: no cover - would be a bug
        raise AssertionError(argv)


BASE_ID = "b" * 64


class _Engine(object):
    """``inspect`` answers from ``images`` (ref -> labels); the base image localhost/base:1 is there."""

    def __init__(self, images):
        self.images = dict({"localhost/base:1": {}}, **images)
        self.inspected = []

    def inspect(self, ref):
        self.inspected.append(ref)
        labels = self.images.get(ref)
        if labels is None:
            return None
        return {"id": BASE_ID if ref == "localhost/base:1" else "1" * 64, "labels": labels, "tags": [ref],
                "repo_digests": []}

    def inspect_many(self, refs):
        return dict((ref, self.inspect(ref)) for ref in refs)


class _Module(object):
    def __init__(self, params, images, check_mode=False):
        self.params = dict(dict(tags=["localhost/ee:1"], build_args={}, extra_build_cli_args=[], labels={},
                                ca_certificates=[], squash="off", force=False, push=False, container_runtime="podman",
                                galaxy_server_url=None, pip_index_url=None, pip_extra_index_url=None,
                                definition_file=None, project_dir=None, definition=None, context_dir=None,
                                keep_context=False, timeout=60, refresh_base=True, base_registry_username=None,
                                base_registry_password=None, tls_verify=None), **params)
        self.runner = _Runner()
        self._engine = _Engine(images)
        self.check_mode = check_mode

    def engine(self):
        return self._engine


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


class _NoBuild(object):
    """Stands for the execution half (``_build_execute``): no ansible-builder, no podman build."""

    def __init__(self, on_build=None):
        self.on_build = on_build

    def build(self, result, *args):  # pylint: disable=unused-argument
        result.update(built="(not here)")
        if self.on_build:
            self.on_build()


def _run(definition, images, check_mode=False, force=False):
    schema = _Schema()
    module = _Module({"definition": definition, "force": force}, images, check_mode=check_mode)
    run = builder.EEBuild(module, "3.2.0", schema, "/usr/bin/ansible-builder", execution=_NoBuild())
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
        "pip_index_url": "", "pip_extra_index_url": "", "runtime": "podman", "base_image_digest": "sha256:" + BASE_ID})
    run, schema = _run(definition, {"localhost/ee:1": {defn.DIGEST_LABEL: digest}})
    changed, result = run.run()
    assert (changed, result["up_to_date"], result["definition_digest"]) == (False, True, digest)
    assert schema.calls == 0
    # the same, forced or in check mode: validated
    for kwargs in ({"force": True}, {"check_mode": True}):
        run, schema = _run(definition, {"localhost/ee:1": {defn.DIGEST_LABEL: digest}}, **kwargs)
        run.run()
        assert schema.calls == 1, kwargs


def test_schema_error_still_comes_first():
    # an unknown key AND a missing requirements file: the schema's message, as when it was checked first
    definition = {"version": 3, "images": {"base_image": {"name": "localhost/base:1"}},
                  "dependancies": {}, "dependencies": {"python": "/nonexistent/requirements.txt"}}
    run, schema = _run(definition, {})
    with pytest.raises(defn.DefinitionError) as error:
        run.run()
    assert "'dependancies' was unexpected" in str(error.value)
    assert schema.calls == 1
    # no base image name and an unknown key: the schema's message too
    run, schema = _run({"version": 3, "dependancies": {}}, {})
    with pytest.raises(defn.DefinitionError) as error:
        run.run()
    assert "'dependancies' was unexpected" in str(error.value)


def _unreachable(*args, **kwargs):
    raise builder.RegistryError("Failed to inspect image 'r.io/ee:1': dial tcp: connection refused", kind="unreachable")


def test_check_mode_reports_an_unreadable_registry_as_unknown(monkeypatch):
    monkeypatch.setattr(registry, "inspect_remote", _unreachable)
    definition = {"version": 3, "images": {"base_image": {"name": "localhost/base:1"}}}
    module = _Module({"definition": definition, "tags": ["r.io/ee:1"], "push": True, "registry_username": None,
                      "registry_password": None, "auth_file": None, "tls_verify": True}, {}, check_mode=True)
    run = builder.EEBuild(module, "3.2.0", _Schema(), "/usr/bin/ansible-builder", execution=_NoBuild())
    changed, result = run.run()
    assert changed is True and result["actions"] == ["build", "push r.io/ee:1"]
    assert any("Check mode could not read 'r.io/ee:1'" in w for w in run.warnings)
    assert any("The digest of 'r.io/ee:1' in its registry is unknown" in w for w in run.warnings)
    # a real run needs the registry: the error stands
    module.check_mode = False
    run = builder.EEBuild(module, "3.2.0", _Schema(), "/usr/bin/ansible-builder")
    with pytest.raises(builder.RegistryError, match="connection refused"):
        run.run()


def test_no_base_image_is_accepted_with_a_warning_naming_the_default(monkeypatch):
    looked_up = []
    monkeypatch.setattr(registry, "resolve_digest", lambda module, ref, **kwargs: looked_up.append(ref) or "sha256:" + "9" * 64)
    run, dummy = _run({"version": 3}, {})
    changed, result = run.run()
    assert changed is True and result["actions"] == ["build"]
    assert any("names no images.base_image" in w and "quay.io/ansible/ansible-runner:latest" in w
               for w in run.warnings)
    assert looked_up == ["quay.io/ansible/ansible-runner:latest"] and result["base_image_digest"] == "sha256:" + "9" * 64


def test_the_tag_lock_covers_the_whole_run_outside_check_mode():
    """Two runs of one tag never interleave: the lock is held from the up-to-date check on."""
    from contextlib import contextmanager  # pylint: disable=import-outside-toplevel
    held = []

    @contextmanager
    def lock(tags, timeout=None):
        held.append(("enter", list(tags), timeout))
        yield
        held.append(("exit",))

    definition = {"version": 3, "images": {"base_image": {"name": "localhost/base:1"}}}
    for check_mode in (False, True):
        del held[:]
        module = _Module({"definition": definition, "tags": ["localhost/ee:1", "localhost/ee:latest"]}, {},
                         check_mode=check_mode)
        run = builder.EEBuild(module, "3.2.0", _Schema(), "/usr/bin/ansible-builder", lock=lock,
                              execution=_NoBuild(lambda: held.append(("build",))))
        run.run()
        if check_mode:
            assert held == [("build",)]
        else:
            assert held == [("enter", ["localhost/ee:1", "localhost/ee:latest"], 60), ("build",), ("exit",)]
            assert module.engine().inspected == ["localhost/ee:1", "localhost/ee:latest", "localhost/base:1"]
