# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ee_builder role as a drop-in for infra.ee_utilities' ee_builder, on other projects' own material.

- blog_build_ee_aws.yml: the playbook of the blog post on building EEs inside the ee_builder EE;
- readme_example_*.yml, github_tests_*.yml, examples_*.yml: infra.ee_utilities' README examples, its CI
  playbook (.github/tests) and its examples/ (each file names its source and commit).

The files in tests/integration/data/ee_utilities are kept verbatim. In memory the tests change the collection
and role names (infra.ee_utilities -> eeforge.builder) and swap only what this machine cannot reach: registry
hosts (registry.redhat.io, quay.io, the examples' registries -> the harness registry that needs a login, where
the harness ee-minimal image is pushed under the same paths), registry credentials for those hosts, and
collections from Galaxy (-> tarballs of the copies the ``ansible`` package bundles, as ``type: file``).

Image builds (CI time): the harness ee-minimal image (once, cached in local storage), ee_aws once; the other
runs are check mode or no-ops.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile

import pytest
import yaml

from tests.harness.collections import pack_installed_collection
from tests.harness.ee_minimal import ensure_ee_minimal_image
from tests.harness.podman_env import podman
from tests.harness.registry import free_port
from tests.integration.awx_tasks import REPO_ROOT, run_playbook, tasks_named

DATA = os.path.join(REPO_ROOT, "tests", "integration", "data", "ee_utilities")
BLOG = os.path.join(DATA, "blog_build_ee_aws.yml")
UNREACHABLE_HOSTS = ("registry.redhat.io", "quay.io", "registry.example.com", "hub.example.com")
EE_MINIMAL_PATH = "ansible-automation-platform-24/ee-minimal-rhel9:latest"
BLOG_CONTEXT = "/tmp/ee_aws"

pytestmark = pytest.mark.slow


def ee_build_results(doc, prefix):
    """Results of the ee_build tasks whose name starts with ``prefix``."""
    return [task for task in tasks_named(doc, prefix)
            if "tags" in (task.get("invocation") or {}).get("module_args", {})]


def local_images():
    out = podman(["images", "-a", "--noheading", "--format", "{{.Id}} {{.Repository}}:{{.Tag}}"]).stdout
    return sorted(set(out.split("\n")) - {""})


def push_with_login(registry, source, dest):
    """podman push ``source`` to ``dest`` in ``registry`` with a throw-away auth file."""
    workdir = tempfile.mkdtemp(prefix="eeforge-push-auth-")
    try:
        auth = os.path.join(workdir, "auth.json")
        token = base64.b64encode(("%s:%s" % (registry.username, registry.password)).encode()).decode()
        with open(auth, "w", encoding="utf-8") as handle:
            json.dump({"auths": {registry.location: {"auth": token}}}, handle)
        podman(["push", "--quiet", "--tls-verify=false", "--authfile", auth, source, "docker://" + dest])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def swap_host(text, location):
    for host in UNREACHABLE_HOSTS:
        if text.startswith(host + "/"):
            return location + text[len(host):]
    return text


def to_eeforge(value):
    """infra.ee_utilities' collection and role names -> eeforge.builder's, everywhere in a loaded playbook."""
    if isinstance(value, dict):
        return {key: to_eeforge(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_eeforge(item) for item in value]
    if isinstance(value, str) and (value == "infra.ee_utilities" or value.startswith("infra.ee_utilities.")):
        return "eeforge.builder" + value[len("infra.ee_utilities"):]
    return value


@pytest.fixture(scope="module")
def material(base_image, auth_registry, awx_standin_server, tmp_path_factory):
    """The harness ee-minimal image in the auth registry, a tarball of amazon.aws, a scratch dir; cleans up."""
    ee_minimal = ensure_ee_minimal_image(base_image)
    push_with_login(auth_registry, ee_minimal, "%s/%s" % (auth_registry.location, EE_MINIMAL_PATH))
    workdir = str(tmp_path_factory.mktemp("ee-utilities-material"))
    tarballs = {"amazon.aws": pack_installed_collection("amazon", "aws", workdir)}
    assert not os.path.exists(BLOG_CONTEXT), "%s exists before the test; remove it" % BLOG_CONTEXT
    state = {"registry": auth_registry, "standin": awx_standin_server, "workdir": workdir, "tarballs": tarballs,
             "ee_minimal": ee_minimal}
    yield state
    shutil.rmtree(BLOG_CONTEXT, ignore_errors=True)
    for line in podman(["images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split():
        if line.startswith(auth_registry.location + "/"):
            podman(["rmi", "--ignore", line], check=False)
    awx_standin_server.reset()


def blog_playbook(material, base_location=None):
    """The blog playbook with the swaps, written next to the test data copy; returns its path."""
    with open(BLOG, encoding="utf-8") as handle:
        plays = to_eeforge(yaml.safe_load(handle))
    location = base_location or material["registry"].location
    play_vars = plays[0]["vars"]
    play_vars["ee_base_image"] = swap_host(play_vars["ee_base_image"], location)
    for item in play_vars["ee_list"]:
        base = item["images"]["base_image"]
        base["name"] = swap_host(base["name"], location)
        item["dependencies"]["galaxy"]["collections"] = [
            {"name": material["tarballs"][name], "type": "file"} if name in material["tarballs"] else name
            for name in item["dependencies"]["galaxy"]["collections"]]
    path = os.path.join(material["workdir"], "blog_build_ee_aws.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(plays, handle, sort_keys=False)
    return path


def blog_vars(material, dest, **extra):
    standin, registry = material["standin"], material["registry"]
    values = {
        "registryusername": registry.username,
        "registrypwd": registry.password,
        "registrydest": dest,
        "ee_builder_storage_conf": os.path.join(material["workdir"], "storage.conf"),
        "ee_builder_awx_register": True,
        "ee_builder_controller_host": standin.url,
        "ee_builder_controller_oauthtoken": standin.token,
        "ee_builder_controller_validate_certs": False,
    }
    if os.environ.get("EEF_TMP_NO_TLS"):
        values["ee_validate_certs"] = False
    values.update(extra)
    return values


@pytest.fixture(scope="module")
def blog_first_run(material):
    dest = "%s/blog" % material["registry"].location
    doc, rc, output = run_playbook(blog_playbook(material), blog_vars(material, dest), timeout=2400)
    assert rc == 0, output[-8000:]
    return dest, doc, output


def test_blog_playbook_builds_pushes_and_names_the_ee_by_alt_name(material, blog_first_run):
    dest, doc, output = blog_first_run
    registry, standin = material["registry"], material["standin"]
    # The image is <ee_registry_dest>/<name>:<tag>; alt_name (with spaces) is only the name in AWX.
    assert registry.tags("blog/ee_aws") == ["1.0"]
    [record] = tasks_named(doc, "Record what was done")
    [result] = record["ansible_facts"]["ee_builder_results"]
    assert (result["name"], result["awx_name"], result["image"]) == ("ee_aws", "EE for Management of AWS",
                                                                     dest + "/ee_aws:1.0")
    ee = standin.find("execution_environments", name="EE for Management of AWS")
    assert ee is not None, [e["name"] for e in standin.store.objects["execution_environments"].values()]
    assert ee["image"] == dest + "/ee_aws:1.0" and result["awx_id"] == ee["id"]
    assert standin.find("execution_environments", name="ee_aws") is None
    # ee_builder_dir "/tmp/" with ee_builder_dir_clean false keeps the context in /tmp/ee_aws.
    assert os.path.exists(os.path.join(BLOG_CONTEXT, "Containerfile"))
    # Built on the base image the item names (pulled with ee_base_registry_username/password).
    [build] = tasks_named(doc, "Build %s/ee_aws:1.0" % dest)
    assert build["changed"] is True and build["built"] is True
    # What the definition asked for is in the image: amazon.aws and boto3.
    [verify] = tasks_named(doc, "Verify before")
    assert "amazon.aws" in verify["collections"] and "boto3" in verify["python_packages"], verify
    assert registry.password not in output
    assert "Traceback" not in output


def test_blog_playbook_rerun_changes_nothing(material, blog_first_run):
    dest = blog_first_run[0]
    standin = material["standin"]
    standin.clear_requests()
    digest = material["registry"].manifest_digest("blog/ee_aws", "1.0")
    doc, rc, output = run_playbook(blog_playbook(material), blog_vars(material, dest), timeout=900)
    assert rc == 0, output[-8000:]
    assert doc["stats"]["localhost"]["changed"] == 0, output[-8000:]
    assert material["registry"].manifest_digest("blog/ee_aws", "1.0") == digest
    assert standin.writes() == []


@pytest.mark.parametrize("where", ["fresh namespace", "unreachable registries"])
def test_blog_playbook_check_mode_changes_nothing(material, blog_first_run, where):
    registry, standin = material["registry"], material["standin"]
    if where == "fresh namespace":
        dest, base_location = "%s/blog-fresh-%s" % (registry.location, os.getpid()), None
    else:
        # Nothing listens there: check mode needs neither the destination nor the base image's registry.
        dest, base_location = "127.0.0.1:%d/blog" % free_port(), "127.0.0.1:%d" % free_port()
    images, catalog = local_images(), registry.catalog()
    awx_before = json.dumps(standin.store.objects, sort_keys=True, default=str)
    standin.clear_requests()
    doc, rc, output = run_playbook(blog_playbook(material, base_location), blog_vars(material, dest), check=True,
                                   diff=True, timeout=900)
    assert rc == 0, output[-8000:]
    assert "Traceback" not in output
    # Each step reports what it would do.
    [build] = tasks_named(doc, "Build %s/ee_aws:1.0" % dest)
    assert build["changed"] is True, build
    [skip] = tasks_named(doc, "In check mode, skip the verification")
    assert "would be built" in skip["msg"]
    assert [task["changed"] for task in tasks_named(doc, "Push once verified")] == [True]
    assert [task["changed"] for task in tasks_named(doc, "Register in AWX")] == [True]
    # Nothing was built, pushed or registered.
    assert local_images() == images
    assert registry.catalog() == catalog
    assert json.dumps(standin.store.objects, sort_keys=True, default=str) == awx_before
    assert standin.writes() == []


# --- infra.ee_utilities' own material --------------------------------------------------------------------------

EXAMPLES = [
    "readme_example_1_3x.yml",
    "readme_example_1_4x.yml",
    "readme_example_2_3x.yml",
    "readme_example_2_4x.yml",
    "examples_ee_builder_base.yml",
    "github_tests_build_ee.yml",
    "github_tests_build_ee_05eb7c0f.yml",
]
# The examples' registries and their credentials, which only those hosts know.
EXAMPLE_HOSTS = ("registry.redhat.io", "quay.io", "ahnosso.node")
CREDENTIAL_VARS = {"ee_base_registry_username": "username", "ee_base_registry_password": "password",
                   "ee_registry_username": "username", "ee_registry_password": "password"}
# Files readme_example_1_4x's build_files / build_items name, in the user's project.
PROJECT_FILES = {"files/stuff.txt": "stuff\n", "test.yml": "---\n- name: test\n  hosts: all\n  tasks: []\n"}


def adapt_example(value, registry, tarballs, key=None):
    """Swap the unreachable registry hosts, their credentials and bundled Galaxy collections, recursively."""
    if isinstance(value, dict):
        adapted = {}
        for name, item in value.items():
            if name in CREDENTIAL_VARS and isinstance(item, str) and "{{" not in item:
                adapted[name] = getattr(registry, CREDENTIAL_VARS[name])
            elif name == "collections" and isinstance(item, list) and key == "galaxy":
                adapted[name] = [
                    {"name": tarball, "type": "file"} for entry in item
                    for tarball in tarballs.get(entry if isinstance(entry, str) else entry.get("name"), [None])
                    if tarball] + [
                    entry for entry in item
                    if (entry if isinstance(entry, str) else entry.get("name")) not in tarballs]
            else:
                adapted[name] = adapt_example(item, registry, tarballs, key=name)
        return adapted
    if isinstance(value, list):
        return [adapt_example(item, registry, tarballs, key=key) for item in value]
    if isinstance(value, str):
        for host in EXAMPLE_HOSTS:
            if value == host or value.startswith(host + "/"):
                return registry.location + value[len(host):]
    return value


def ee_lists(plays):
    """Every ee_list of a playbook: in play vars and in include_role vars."""
    found = []
    for play in plays:
        found.append((play.get("vars") or {}).get("ee_list"))
        for task in play.get("tasks") or []:
            found.append((task.get("vars") or {}).get("ee_list"))
    return [entry for entry in found if entry]


@pytest.fixture(scope="module")
def examples(material):
    """Each example adapted and written into a project directory of its own, with the files it names."""
    registry = material["registry"]
    tarballs = {
        "community.aws": [pack_installed_collection("community", "aws", material["workdir"]),
                          material["tarballs"]["amazon.aws"]],  # community.aws needs amazon.aws
        "amazon.aws": [material["tarballs"]["amazon.aws"]],
    }
    # The base images the examples name, under the same paths in the harness registry.
    push_with_login(registry, material["ee_minimal"],
                    "%s/ansible-automation-platform-24/ee-supported-rhel9:latest" % registry.location)
    written = {}
    for name in EXAMPLES:
        with open(os.path.join(DATA, name), encoding="utf-8") as handle:
            plays = adapt_example(to_eeforge(yaml.safe_load(handle)), registry, tarballs)
        project = os.path.join(material["workdir"], "project-" + os.path.splitext(name)[0])
        for path, text in PROJECT_FILES.items():
            os.makedirs(os.path.dirname(os.path.join(project, path)), exist_ok=True)
            with open(os.path.join(project, path), "w", encoding="utf-8") as handle:
                handle.write(text)
        playbook = os.path.join(project, "playbook.yml")
        with open(playbook, "w", encoding="utf-8") as handle:
            yaml.safe_dump(plays, handle, sort_keys=False)
        written[name] = {"playbook": playbook, "project": project, "plays": plays}
    return written


def run_example(material, example, check, extra=None, timeout=900):
    """ansible-playbook in the example's project directory (its relative ee_builder_dir is the cwd)."""
    values = {"ee_builder_storage_conf": os.path.join(material["workdir"], "storage.conf")}
    values.update(extra or {})
    env = {"ANSIBLE_ROLES_PATH": os.path.join(REPO_ROOT, "roles")}  # github_tests include the role by short name
    return run_playbook(example["playbook"], values, check=check, diff=check, env=env, timeout=timeout,
                        cwd=example["project"])


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_passes_check_mode_and_changes_nothing(material, examples, name):
    example = examples[name]
    registry = material["registry"]
    images, catalog = local_images(), registry.catalog()
    doc, rc, output = run_example(material, example, check=True)
    assert rc == 0, output[-8000:]
    assert "Traceback" not in output
    names = [item.get("name") or item.get("ee_name") for ee_list in ee_lists(example["plays"]) for item in ee_list]
    built = ee_build_results(doc, "Build ")
    assert len(built) == len(names), (names, output[-4000:])
    # Nothing is built yet: each EE reports the build it would do.
    assert all(task["changed"] for task in built), built
    assert local_images() == images
    assert registry.catalog() == catalog


def test_example_2_builds_for_real_the_ee_it_can_reach(material, examples):
    """readme_example_2_4x's second EE (community.aws on the per-item ee_base_image), built and pushed; the first
    needs collections only a private Automation Hub has, so ee_builder_only leaves it out."""
    example, registry = examples["readme_example_2_4x.yml"], material["registry"]
    doc, rc, output = run_example(material, example, check=False, extra={"ee_builder_only": ["custom_suported"]},
                                  timeout=2400)
    assert rc == 0, output[-8000:]
    [build] = ee_build_results(doc, "Build ")
    ref = "%s/custom-images-for-prod/custom_suported:latest" % registry.location
    assert build["invocation"]["module_args"]["tags"] == [ref] and build["built"] is True
    # The per-item ee_base_image was used, not the role-level ee_base_image (infra.ee_utilities ignores it).
    definition = build["invocation"]["module_args"]["definition"]
    assert definition["images"]["base_image"]["name"] == (
        "%s/ansible-automation-platform-24/ee-supported-rhel9:latest" % registry.location)
    assert registry.tags("custom-images-for-prod/custom_suported") == ["latest"]
    assert "custom-images-for-prod/custom_ee" not in registry.catalog()
    [verify] = tasks_named(doc, "Verify before")
    assert {"community.aws", "amazon.aws"} <= set(verify["collections"]), verify["collections"]
    [record] = tasks_named(doc, "Record what was done")
    [result] = record["ansible_facts"]["ee_builder_results"]
    assert (result["name"], result["awx_name"]) == ("custom_suported", "Custom EE2")
    # A re-run changes nothing.
    doc, rc, output = run_example(material, example, check=False, extra={"ee_builder_only": ["custom_suported"]})
    assert rc == 0 and doc["stats"]["localhost"]["changed"] == 0, output[-8000:]


# --- the role's own rules, in check mode (no image is built) ----------------------------------------------------

ROLE_PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "build_ees.yml")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return str(tmp_path_factory.mktemp("ee-builder-rules"))


def role_check(scratch, ee_list, env=None, **extra):
    """The role in check mode; the destination registry does not exist (check mode does not need it)."""
    values = {"ee_list": ee_list, "ee_registry_dest": "127.0.0.1:%d/ns" % free_port(),
              # The storage probe is not what these tests are about (the examples' runs keep it).
              "ee_builder_preflight": False}
    values.update(extra)
    return run_playbook(ROLE_PLAYBOOK, values, check=True, env=env, timeout=600)


def test_base_image_precedence(scratch):
    """images.base_image.name > item base_image > item ee_base_image > ee_base_image (role level)."""
    unreachable = "127.0.0.1:%d" % free_port()
    ee_list = [
        {"name": "p1", "images": {"base_image": {"name": unreachable + "/images:1"}},
         "base_image": unreachable + "/base_image:1", "ee_base_image": unreachable + "/item_ee_base_image:1"},
        {"name": "p2", "base_image": unreachable + "/base_image:1", "ee_base_image": unreachable + "/item:1"},
        {"name": "p3", "ee_base_image": unreachable + "/item_ee_base_image:1"},
        {"name": "p4"},
        {"name": "p5", "images": {"base_image": {"signature_original_name": "sig/name:1"}},
         "ee_base_image": unreachable + "/item_ee_base_image:1"},
    ]
    doc, rc, output = role_check(scratch, ee_list, ee_base_image=unreachable + "/role_ee_base_image:1")
    assert rc == 0, output[-8000:]
    bases = [task["invocation"]["module_args"]["definition"]["images"]["base_image"]
             for task in ee_build_results(doc, "Build ")]
    assert [base["name"].split("/")[-1] for base in bases] == [
        "images:1", "base_image:1", "item_ee_base_image:1", "role_ee_base_image:1", "item_ee_base_image:1"]
    assert bases[4]["signature_original_name"] == "sig/name:1"


def test_alt_name_repository_and_controller_definitions(scratch):
    """alt_name names the EE in AWX and in controller_execution_environments; the image is <dest>/<name>:<tag>
    (or <dest>/<repository>:<tag>); the definitions have the keys infra.controller_configuration reads."""
    ee_list = [
        {"name": "ee_aws", "alt_name": "EE for Management of AWS", "tag": 1.0, "description": "AWS: boto3",
         "organization": "Default", "pull": "always", "images": {"base_image": {"name": "localhost/nope:1"}}},
        {"name": "plain", "repository": "team/plain-ee", "tags": ["2", "latest"],
         "images": {"base_image": {"name": "localhost/nope:1"}}},
    ]
    doc, rc, output = role_check(scratch, ee_list, ee_create_controller_def=True, ee_reg_credential="Registry")
    assert rc == 0, output[-8000:]
    tags = [task["invocation"]["module_args"]["tags"] for task in ee_build_results(doc, "Build ")]
    registry = tags[0][0].split("/ns/")[0]
    assert tags == [[registry + "/ns/ee_aws:1.0"], [registry + "/ns/team/plain-ee:2", registry + "/ns/team/plain-ee:latest"]]
    [publish] = tasks_named(doc, "Publish what was built")
    defs = publish["ansible_stats"]["data"]["controller_execution_environments"]
    assert defs == [
        {"name": "EE for Management of AWS", "image": registry + "/ns/ee_aws:1.0", "pull": "always",
         "credential": "Registry", "description": "AWS: boto3", "organization": "Default"},
        {"name": "plain", "image": registry + "/ns/team/plain-ee:2", "pull": "missing", "credential": "Registry"},
    ]


def test_only_builds_the_named_ees(scratch):
    ee_list = [{"name": name, "images": {"base_image": {"name": "localhost/nope:1"}}} for name in ("a", "b", "c")]
    doc, rc, output = role_check(scratch, ee_list, ee_builder_only=["c", "a"])
    assert rc == 0, output[-8000:]
    assert [task["invocation"]["module_args"]["tags"][0].split("/ns/")[1]
            for task in ee_build_results(doc, "Build ")] == ["a:latest", "c:latest"]
    doc, rc, output = role_check(scratch, ee_list, ee_builder_only=["a", "zz"])
    assert rc != 0
    [failed] = tasks_named(doc, "Check that ee_builder_only names")
    assert failed["msg"] == ("Failed to build execution environments: ee_builder_only names zz, which is not in "
                             "ee_builder_list (a, b, c). Name EEs of the list (by 'name' or 'ee_name').")


REFUSED = [
    ("ee_executable", "/usr/local/bin/podman", "ee_executable is not supported", "first in PATH"),
    ("ee_ca_cert_dir", "/etc/pki/registry", "ee_ca_cert_dir is not supported", "/etc/containers/certs.d/"),
    ("ee_container_runtime", "docker", "ee_container_runtime 'docker' is not supported", "Install podman"),
    ("ee_version", 2, "value of ee_version must be one of: 3", None),
]


@pytest.mark.parametrize("name, value, says, fix", REFUSED, ids=[entry[0] for entry in REFUSED])
def test_refused_variable_says_why_and_what_instead(scratch, name, value, says, fix):
    doc, rc, output = role_check(scratch, [{"name": "x"}], **{name: value})
    assert rc != 0, output[-4000:]
    failed = [task for play in doc["plays"] for task in play["tasks"]
              if task["hosts"]["localhost"].get("failed")]
    [result] = [task["hosts"]["localhost"] for task in failed]
    # Argument validation lists its errors one per line; the role's own refusals are one line.
    msg = "\n".join(result["argument_errors"]) if result.get("argument_errors") else result["msg"]
    assert says in msg and "\n" not in msg.strip(), msg
    if fix:
        assert fix in msg, msg
    assert not ee_build_results(doc, "Build ")


def test_ee_container_policy_is_container_policy(scratch):
    """infra.ee_utilities' ``ee_container_policy`` (ansible-builder's ``--container-policy`` there) reaches
    ee_build's ``container_policy`` as written, with ``ee_builder_container_keyring`` for ``signature_required``;
    ``signature_required`` without a keyring stops in one line, as ansible-builder does. (Verifying for real:
    test_ee_build_base_policy.py.)"""
    doc, rc, output = role_check(scratch, [{"name": "x"}], ee_container_policy="ignore_all")
    assert rc == 0, output[-4000:]
    [args] = [task["invocation"]["module_args"] for task in ee_build_results(doc, "Build ")]
    assert (args["container_policy"], args["container_keyring"]) == ("ignore_all", None), args
    doc, rc, output = role_check(scratch, [{"name": "x"}])
    [args] = [task["invocation"]["module_args"] for task in ee_build_results(doc, "Build ")]
    assert args["container_policy"] == "system", args
    doc, rc, output = role_check(scratch, [{"name": "x"}], ee_container_policy="signature_required")
    assert rc != 0
    [failed] = [task["hosts"]["localhost"] for play in doc["plays"] for task in play["tasks"]
                if task["hosts"]["localhost"].get("failed")]
    assert failed["msg"].startswith("Failed to check container_policy: signature_required needs container_keyring"), \
        failed["msg"]
    assert "\n" not in failed["msg"].strip()


def test_galaxy_signature_variables_reach_ee_build(scratch, tmp_path):
    """infra.ee_utilities' ``ee_galaxy_keyring``, ``ee_galaxy_ignore_signature_status_code`` and
    ``galaxy_required_valid_signature_count`` become ee_build's galaxy signature options (ansible-builder's
    ``--galaxy-*``, as there); a count without a keyring stops in one line."""
    keyring = tmp_path / "galaxy.gpg"
    keyring.write_bytes(b"\x99 not checked in check mode")
    doc, rc, output = role_check(scratch, [{"name": "x"}], ee_galaxy_keyring=str(keyring),
                                 ee_galaxy_ignore_signature_status_code=["NO_PUBKEY"],
                                 galaxy_required_valid_signature_count=1)
    assert rc == 0, output[-4000:]
    args = [task["invocation"]["module_args"] for task in ee_build_results(doc, "Build ")]
    assert [(a["galaxy_keyring"], a["galaxy_ignore_signature_status_codes"], a["galaxy_required_valid_signature_count"])
            for a in args] == [(str(keyring), ["NO_PUBKEY"], "1")], args
    doc, rc, output = role_check(scratch, [{"name": "x"}], galaxy_required_valid_signature_count="+1")
    assert rc != 0
    [failed] = [task["hosts"]["localhost"] for play in doc["plays"] for task in play["tasks"]
                if task["hosts"]["localhost"].get("failed")]
    assert failed["msg"].startswith("Failed to verify collection signatures: galaxy_required_valid_signature_count "
                                    "is set but galaxy_keyring is not."), failed["msg"]


def test_sigstore_key_reaches_ee_build_and_its_passphrase_stays_hidden(scratch, tmp_path):
    """``ee_builder_sigstore_private_key`` / ``_passphrase`` become ee_build's sigstore options; the check-mode plan
    already decrypts the key, so a wrong passphrase stops there, in one line, and neither passphrase is shown."""
    from tests.harness.signing import make_cosign_key_pair  # pylint: disable=import-outside-toplevel
    key, _pub = make_cosign_key_pair(str(tmp_path), "role-pp-4b1d", name="role")
    doc, rc, output = role_check(scratch, [{"name": "x"}], ee_builder_sigstore_private_key=key,
                                 ee_builder_sigstore_passphrase="role-pp-4b1d")
    assert rc == 0, output[-4000:]
    # The gate's check-mode run with push signs (the build before the verification does not push).
    [args] = [task["invocation"]["module_args"] for task in ee_build_results(doc, "Check whether the registry copy")]
    assert args["sigstore_private_key"] == key and args["sigstore_passphrase"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert "role-pp-4b1d" not in output
    doc, rc, output = role_check(scratch, [{"name": "x"}], ee_builder_sigstore_private_key=key,
                                 ee_builder_sigstore_passphrase="wrong-pp-9e2a")
    assert rc != 0 and "wrong-pp-9e2a" not in output
    [failed] = [task["hosts"]["localhost"] for play in doc["plays"] for task in play["tasks"]
                if task["hosts"]["localhost"].get("failed")]
    assert failed["msg"].startswith("Failed to decrypt the sigstore private key: the passphrase does not open it"), \
        failed["msg"]


def test_ee_sign_by_is_sign_by(scratch, tmp_path):
    """infra.ee_utilities' ``ee_sign_by`` (``podman push --sign-by`` there) reaches ee_build's ``sign_by`` as written:
    already the check-mode plan proves the key, so a key the keyring lacks stops there, in one line. An item's own
    ``sign_by`` wins; an empty one leaves that EE unsigned. (Signing for real: test_ee_build_signing.py.)"""
    gnupghome = tmp_path / "gnupg"
    gnupghome.mkdir(mode=0o700)
    ee_list = [{"name": "unsigned", "sign_by": ""}, {"name": "signed"}]
    doc, rc, output = role_check(scratch, ee_list, env={"GNUPGHOME": str(gnupghome)}, ee_sign_by="0xDEADBEEF")
    assert rc != 0, output[-4000:]
    builds = ee_build_results(doc, "Check whether the registry copy")
    args = [task["invocation"]["module_args"] for task in builds]
    assert [a["sign_by"] for a in args] == [None, "0xDEADBEEF"], args
    assert not builds[0].get("failed"), builds[0]
    msg = builds[1]["msg"]
    assert msg == ("Failed to sign with GPG key 0xDEADBEEF: the keyring holds no secret key for it. Import the "
                   "secret key into the GNUPGHOME the module uses, or give its fingerprint."), msg
    subprocess.run(["gpgconf", "--kill", "all"], env=dict(os.environ, GNUPGHOME=str(gnupghome)), check=False)


@pytest.mark.parametrize("update", [True, False], ids=["ee_update_base_images true", "ee_update_base_images false"])
def test_ee_update_base_images_is_refresh_base(scratch, update):
    """infra.ee_utilities' ``ee_update_base_images`` (its default: true) is ee_build's ``refresh_base``; an item's
    own ``refresh_base`` wins."""
    base = "127.0.0.1:%d/base:latest" % free_port()  # no registry there: check mode warns, counts a build
    ee_list = [{"name": "a", "images": {"base_image": {"name": base}}},
               {"name": "b", "images": {"base_image": {"name": base}}, "refresh_base": not update}]
    doc, rc, output = role_check(scratch, ee_list, ee_update_base_images=update)
    assert rc == 0, output[-8000:]
    builds = ee_build_results(doc, "Build ")
    assert [task["invocation"]["module_args"]["refresh_base"] for task in builds] == [update, not update], builds
    if update:
        # the base tag was to be looked up: check mode says it could not be, and still plans the build
        assert any("could not be looked up" in warning for task in builds for warning in task.get("warnings", []))


def test_platforms_reach_ee_build_and_the_preflight(scratch, tmp_path):
    """``ee_builder_platforms`` (and an item's own ``platforms``) reach ee_build as written; the check-mode plan
    builds each platform; the storage preflight checks every platform the run builds (emulation). (Building for
    real: test_ee_build_multiarch.py.)"""
    base = "127.0.0.1:%d/base:latest" % free_port()  # no registry there: check mode warns, counts a build
    ee_list = [{"name": "both", "images": {"base_image": {"name": base}}},
               {"name": "arm-only", "images": {"base_image": {"name": base}}, "platforms": ["linux/arm64"]}]
    doc, rc, output = role_check(scratch, ee_list, ee_builder_platforms=["linux/amd64", "linux/arm64"],
                                 ee_builder_preflight=True, ee_builder_storage_drivers=["vfs"],
                                 ee_builder_graphroot=str(tmp_path / "graph"),
                                 ee_builder_storage_conf=str(tmp_path / "storage.conf"))
    assert rc == 0, output[-8000:]
    builds = ee_build_results(doc, "Build ")
    assert [task["invocation"]["module_args"]["platforms"] for task in builds] == [
        ["linux/amd64", "linux/arm64"], ["linux/arm64"]], builds
    assert [task["actions"][0] for task in builds] == ["build linux/amd64", "build linux/arm64"]
    preflight = tasks_named(doc, "Check that podman can build here")[0]
    assert preflight["platforms"] == {"linux/amd64": "native", "linux/arm64": "emulated"}, preflight


def test_check_mode_writes_the_context_without_building(scratch):
    """infra.ee_utilities 4.x users keep the generated definition and context (ee_builder_dir, clean false):
    in check mode the role writes them and builds nothing (what ``ansible-builder create`` does)."""
    context_root = os.path.join(scratch, "contexts")
    images = local_images()
    ee_list = [{"name": "gen-only", "images": {"base_image": {"name": "127.0.0.1:%d/base:1" % free_port()}},
                "dependencies": {"python": ["six==1.16.0"]}}]
    doc, rc, output = role_check(scratch, ee_list, ee_builder_dir=context_root, ee_builder_dir_clean=False)
    assert rc == 0, output[-8000:]
    context = os.path.join(context_root, "gen-only")
    assert os.path.exists(os.path.join(context, "Containerfile")), os.listdir(context_root)
    with open(os.path.join(context, "Containerfile"), encoding="utf-8") as handle:
        assert "FROM" in handle.read()
    found = subprocess.run(["grep", "-rl", "six==1.16.0", context], capture_output=True, text=True, check=False)
    assert found.stdout.strip(), "the python requirement is not in the written context"
    assert local_images() == images


def test_blog_playbook_check_diff_shows_the_definition_change(material, blog_first_run):
    """--check --diff of a changed item shows the definition that would be built against the image's."""
    dest = blog_first_run[0]
    path = blog_playbook(material)
    with open(path, encoding="utf-8") as handle:
        plays = yaml.safe_load(handle)
    plays[0]["vars"]["ee_list"][0]["dependencies"]["python"].append("six==1.16.0")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(plays, handle, sort_keys=False)
    doc, rc, output = run_playbook(path, blog_vars(material, dest), check=True, diff=True, timeout=900)
    assert rc == 0, output[-8000:]
    [build] = ee_build_results(doc, "Build %s/ee_aws:1.0" % dest)
    assert build["changed"] is True
    diffs = build["diff"] if isinstance(build["diff"], list) else [build["diff"]]
    text = json.dumps(diffs)
    assert "six==1.16.0" in text and "boto3" in text, diffs
    before = " ".join(json.dumps(d.get("before", "")) for d in diffs)
    assert "six==1.16.0" not in before and "boto3" in before, diffs
