#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ee_info
short_description: Inspect and verify an Ansible Execution Environment image
version_added: 0.1.0
description:
  - Reports what an Execution Environment (EE) image contains and whether AWX can run jobs in it,
    the checks otherwise done by hand with C(podman run IMAGE ansible-galaxy collection list),
    C(pip list), C(id) and C(ls -la /runner).
  - Collections come from C(ansible-galaxy collection list --format json) inside the image; Python
    packages are those of the interpreter C(ansible-galaxy) runs with.
  - Runs one C(podman image inspect) and one short-lived container (C(podman run --rm), no network,
    as root, the way AWX starts jobs on podman execution nodes) with a small Python probe given on stdin.
  - Where podman cannot start a container (inside an AWX job, without C(CAP_SYS_ADMIN) and with C(/proc)
    masked, the OCI runtime cannot mount C(proc)), the same probe runs in podman's user namespace
    (C(podman unshare)), chrooted into the file system of a container that is created and mounted
    (C(podman mount)) but never started, then removed, with the image's environment. RV(probe_method)
    says which way was used.
  - With O(assert_collections) or O(assert_python) it is a gate, for example after
    M(eeforge.builder.ee_build) and before pushing or registering the image in AWX. It fails with one
    message listing every collection and package that is missing or at the wrong version.
  - The image is pulled following AWX's pull policy O(pull), with O(registry_username) and
    O(registry_password) (or O(auth_file)) when the registry needs them. Pulling fills the local image
    store; the module still reports RV(ignore:changed=false) for it, since it manages no image.
  - With O(sbom_path) the same probe also reads C(/etc/os-release) and the OS package database
    (C(/var/lib/dpkg/status), or C(rpm -qa) on rpm images), and the module writes a CycloneDX 1.6 JSON
    SBOM of the image to O(sbom_path). See O(sbom_path) for what it holds and when it reports a change.
  - In check mode nothing is pulled. An image a real run would pull first (not in local storage, or
    O(pull=always)) is reported with RV(would_pull=true); when it is not in local storage its facts are
    null, its assertions are not checked and a warning says so. O(pull=never) with no local image fails
    in check mode too, as the real run would.
  - O(timeout) bounds the pull and the probe container each.
author:
  - eeforge contributors (@eeforge)
extends_documentation_fragment:
  - eeforge.builder.attributes
  - eeforge.builder.registry_auth
attributes:
  check_mode:
    support: full
    details:
      - Pulls nothing and changes nothing. An image that the real run would pull is reported with
        RV(would_pull=true) (facts of the local copy, or null when there is none).
      - With O(sbom_path) the SBOM is built and validated but not written; RV(ignore:changed) says whether
        the real run would change the file. An image that is not in local storage gets no SBOM (a warning says so).
  diff_mode:
    support: none
    details:
      - The module manages nothing, so there is nothing to diff.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details:
      - Needs podman on the host the task runs on.
      - Outside check mode the image may be pulled into local storage (O(pull)); nothing else is written,
        except the SBOM file O(sbom_path) when it is set.
options:
  image:
    description:
      - Image reference, for example V(registry.example.com/ee/aws:1.2), V(localhost/ee-aws:latest)
        or a reference pinned by digest (V(name@sha256:...)).
    type: str
    required: true
  pull:
    description:
      - When to pull the image, with AWX's semantics for an execution environment's C(pull) field.
      - V(missing) pulls only when the image is not in local storage.
      - V(always) pulls every time, so a moved tag is seen.
      - V(never) fails when the image is not in local storage.
    type: str
    choices: [always, missing, never]
    default: missing
  platform:
    description:
      - Which image of a multi-platform EE (a manifest list, as M(eeforge.builder.ee_build) makes with its
        C(platforms) option) to inspect, as podman's C(--platform) takes it, for example V(linux/arm64).
      - For a manifest list in local storage, its image for that platform; a pull (O(pull)) pulls that platform's
        image. An image of another architecture is probed through emulation (binfmt_misc and qemu-user-static).
      - Without it, a local manifest list is inspected at this host's platform; a list without it fails in one line
        naming the platforms it has.
    type: str
  assert_collections:
    description:
      - Collections the image must contain, each a name with an optional version specifier
        (V(containers.podman), V(containers.podman>=1.10), V(awx.awx>=23,<25), or ansible-galaxy's
        V(community.general:9.1.0)).
      - When any is missing or at a version outside its specifier the module fails, listing all of them.
    type: list
    elements: str
    default: []
  assert_python:
    description:
      - Python packages the image's Ansible interpreter must have, each a name with an optional
        version specifier (V(ansible-runner), V(boto3>=1.34), V(ansible-core~=2.16.0)).
      - Names compare as pip does (V(PyYAML) equals V(pyyaml), V(ansible_core) equals V(ansible-core)).
      - Lines of a pip requirements file can be given as they are; environment markers
        (V(; python_version >= "3.9")) and inline comments are ignored, V(name @ URL) requires the name only.
    type: list
    elements: str
    default: []
  sbom_path:
    description:
      - Write a CycloneDX 1.6 JSON software bill of materials (SBOM) of the image to this file, on the host
        the task runs on. The directory must exist.
      - 'It lists the image (with its digest) as the described component, its base image with digest when
        the image labels name it (C(org.opencontainers.image.base.name) and C(org.opencontainers.image.base.digest)
        or C(io.eeforge.base-digest), as M(eeforge.builder.ee_build) sets them; left out otherwise), the operating
        system from C(/etc/os-release), every OS package (C(pkg:deb) or C(pkg:rpm) purls), every Python package
        of the interpreter ansible runs with including ansible-core and ansible-runner (C(pkg:pypi)), and every
        collection with its version (C(pkg:ansible/NAMESPACE/NAME@VERSION)).'
      - The file is validated against the CycloneDX schema before it is written, then written atomically
        (a temporary file in the same directory renamed over it) with mode C(0644).
      - The serial number is derived from the image digest and its components, so it is the same for the same
        image. The file is rewritten, and the task reports RV(ignore:changed=true), only when its content differs
        in more than the C(metadata.timestamp); an unchanged image leaves the file as it is.
      - Needs the Python packages C(cyclonedx-python-lib) (with its C(json-validation) extra) and
        C(packageurl-python) on the host the task runs on.
      - Registry credentials are never part of the SBOM. Nothing is written when an assertion fails.
    type: path
  verify_signature:
    description:
      - Verify the image's signatures as a podman node would, and fail in one line when no valid signature by a
        trusted key is found (unsigned, signed by another key, a signature of another image or digest).
      - 'A GPG public key file (C(gpg --export FPR), binary or C(--armor)): a signature by that key is required.
        Or a containers-policy.json(5) file: its requirements for the image (the most specific C(docker) scope,
        else C(default)) are followed: C(signedBy) (C(keyPath), C(keyPaths), C(keyData)), C(insecureAcceptAnything)
        and C(reject).'
      - The signature must name the manifest digest the registry serves for the image and the image itself (the
        exact tag; for a reference by digest, the repository), like a C(signedBy) policy's default
        C(matchRepoDigestOrExact).
      - 'Or a sigstore public key (PEM, the C(.pub) file of C(cosign generate-key-pair)), or C(sigstoreSigned)
        requirements in the policy (C(keyPath), C(keyPaths), C(keyData), C(signedIdentity)): the signatures are read
        from the registry, the attachment C(<repository>:sha256-<digest>.sig) that C(use-sigstore-attachments) and
        cosign use, and verified by the module (Python C(cryptography)); needs C(skopeo) and the registry options.
        Keyless (Fulcio, Rekor) requirements are refused in one line.'
      - The GPG keys are imported into a private GNUPGHOME that is removed afterwards. Needs C(gpg).
    type: path
  signature_store:
    description:
      - Where O(verify_signature) reads the simple signing signatures from. A directory, or the C(http://),
        C(https://) or C(file://) URL a node's registries.d C(lookaside) names.
      - Defaults to C(/var/lib/containers/sigstore), where M(eeforge.builder.ee_build) O(eeforge.builder.ee_build#module:sign_by)
        and C(podman push --sign-by) write them by default.
    type: str
requirements:
  - podman
  - cyclonedx-python-lib[json-validation] >= 7 and packageurl-python, only for O(sbom_path)
notes:
  - C(/runner) writability is tested inside the image for root and for uid 1000 with group 0 (how
    ansible-runner adds C(--group-add=root), and how OpenShift and Kubernetes container groups run
    jobs), and for the image's own user.
  - On a podman execution node AWX mounts the job's private data directory at C(/runner) and starts
    the container as root, so there the host directory matters; on a container group the image's
    C(/runner) is used as is.
seealso:
  - module: eeforge.builder.ee_build
  - name: Troubleshooting Execution Environments
    description: Each common EE error, its cause and its fix.
    link: https://github.com/eeforge/builder/blob/main/docs/troubleshooting.md
"""

EXAMPLES = r"""
- name: Show what the image contains
  eeforge.builder.ee_info:
    image: registry.example.com/ee/aws:1.2
  register: ee

- name: Print its collections
  ansible.builtin.debug:
    var: ee.collections

- name: Gate before registering the EE in AWX
  eeforge.builder.ee_info:
    image: registry.example.com/ee/aws:1.2
    pull: always
    registry_username: "{{ registry_user }}"
    registry_password: "{{ registry_password }}"
    assert_collections:
      - amazon.aws>=8.0.0
      - containers.podman
    assert_python:
      - boto3>=1.34
      - ansible-runner

- name: Refuse an image whose runner directory a non-root job cannot write
  eeforge.builder.ee_info:
    image: localhost/ee-aws:latest
    pull: never
  register: ee
  failed_when: not ee.runner_writable.uid_1000

- name: Write a CycloneDX SBOM of the image next to the build artifacts
  eeforge.builder.ee_info:
    image: localhost/ee-aws:1.2
    pull: never
    sbom_path: /srv/sboms/ee-aws-1.2.cdx.json
  register: ee

- name: Run only an EE that the release key signed (the signatures published at sigstore.example.com)
  eeforge.builder.ee_info:
    image: registry.example.com/ee/aws:1.2
    verify_signature: /etc/pki/containers/release.gpg
    signature_store: https://sigstore.example.com
  register: ee_signed

- name: Show how many components it lists
  ansible.builtin.debug:
    msg: "{{ ee.sbom_path }}: {{ ee.sbom.components }} components"
"""

RETURN = r"""
image:
  description: The image reference that was inspected.
  returned: success
  type: str
  sample: registry.example.com/ee/aws:1.2
image_id:
  description: Local image ID.
  returned: success
  type: str
  sample: c4e870663a165edd5bf23a66fdd663edf1af855219f2f050c11b7e42de31f780
pulled:
  description: Whether the image was pulled by this task (see O(pull)). Always false in check mode.
  returned: success
  type: bool
  sample: false
would_pull:
  description: In check mode, whether a real run would have pulled the image first (false outside check mode).
    When it is true and the image is not in local storage, the facts about the image are null.
  returned: success
  type: bool
  sample: false
digest:
  description:
    - Repo digest of the image in its repository (C(sha256:...)), to pin it as C(name@digest).
    - For an image pulled from a registry this is the registry's manifest digest; for an image only
      built locally it is podman's local manifest digest. V(null) when podman knows none.
  returned: success
  type: str
  sample: sha256:5d5f9e35d940e2bc514d7b2eaf94ae4364e49880d7b38d0e2eb21d7fa7b1434f
repo_digests:
  description: All C(name@digest) entries podman holds for the image.
  returned: success
  type: list
  elements: str
  sample: [registry.example.com/ee/aws@sha256:5d5f9e35d940e2bc514d7b2eaf94ae4364e49880d7b38d0e2eb21d7fa7b1434f]
tags:
  description: Local tags of the image.
  returned: success
  type: list
  elements: str
  sample: [registry.example.com/ee/aws:1.2]
labels:
  description: Image labels, including C(io.eeforge.definition-digest) for images built by M(eeforge.builder.ee_build).
  returned: success
  type: dict
  sample: {"io.eeforge.definition-digest": "sha256:0c6e...", "org.opencontainers.image.title": "ee-aws"}
definition_digest:
  description: Value of the C(io.eeforge.definition-digest) label, V(null) for images not built by M(eeforge.builder.ee_build).
  returned: success
  type: str
  sample: sha256:0c6e52d1b1d5dc6fc2ed8a1c3b7d6e0f0f1d0bcb8f1b0c2ad41e0a9b0e8d7c6a
size:
  description: Image size in bytes, as podman reports it.
  returned: success
  type: int
  sample: 412739584
layers:
  description: Number of layers of the image's root file system.
  returned: success
  type: int
  sample: 7
created:
  description: Creation date of the image (RFC 3339).
  returned: success
  type: str
  sample: "2025-06-01T12:00:00.000000000Z"
architecture:
  description: Image architecture.
  returned: success
  type: str
  sample: amd64
os:
  description: Image operating system.
  returned: success
  type: str
  sample: linux
platforms:
  description: The platforms of the local manifest list O(image) names; for a single image, its own platform.
  returned: success
  type: list
  elements: str
  sample: [linux/amd64, linux/arm64]
collections:
  description:
    - Collections in the image, name to version, from C(ansible-galaxy collection list --format json).
    - When a collection is installed in several collection paths, the one ansible loads (the first
      in the search order) is reported. Empty when the image has no C(ansible-galaxy).
  returned: success
  type: dict
  sample: {"containers.podman": "1.16.2", "awx.awx": "24.6.1"}
collection_paths:
  description: For each collection in RV(collections), the collections path it was found in.
  returned: success
  type: dict
  sample: {"containers.podman": "/usr/share/ansible/collections/ansible_collections"}
python_packages:
  description: Python packages of the interpreter ansible runs with, name to version (as C(pip list) shows them).
  returned: success
  type: dict
  sample: {"ansible-core": "2.17.5", "ansible-runner": "2.4.0", "boto3": "1.35.0"}
ansible_core_version:
  description: Version of ansible-core (or ansible-base) in the image, V(null) when absent.
  returned: success
  type: str
  sample: 2.17.5
ansible_runner_version:
  description: Version of ansible-runner in the image, V(null) when absent (AWX cannot run jobs in it then).
  returned: success
  type: str
  sample: 2.4.0
python_path:
  description: The Python interpreter ansible runs with (from the C(ansible-galaxy) shebang), else C(python3).
  returned: success
  type: str
  sample: /usr/bin/python3
python_version:
  description: Version of that interpreter.
  returned: success
  type: str
  sample: 3.11.2
user:
  description:
    - The image's configured user and what it resolves to inside the image.
    - AWX runs jobs as root on podman execution nodes (it passes C(--user=root)) and as this user on
      Kubernetes container groups.
  returned: success
  type: dict
  contains:
    image_user:
      description: The image's C(USER) as configured; empty means root.
      type: str
      sample: "1000"
    uid:
      description: Numeric uid of that user, V(null) when the name does not resolve.
      type: int
      sample: 1000
    gid:
      description: Numeric primary gid (0 when the uid has no C(/etc/passwd) entry, as podman does).
      type: int
      sample: 0
    name:
      description: User name from C(/etc/passwd), V(null) when there is no entry.
      type: str
      sample: runner
    home:
      description: Home directory from C(/etc/passwd).
      type: str
      sample: /home/runner
runner_writable:
  description: Whether a file can be created in the image's C(/runner) by each user jobs may run as.
  returned: success
  type: dict
  contains:
    root:
      description: As root (AWX on podman execution nodes).
      type: bool
      sample: true
    uid_1000:
      description: As uid 1000 with supplementary group 0 (OpenShift, container groups, ansible-runner's C(--group-add=root)).
      type: bool
      sample: true
    image_user:
      description: As the image's configured user.
      type: bool
      sample: true
runner_dir:
  description: Owner and mode of C(/runner) in the image.
  returned: success
  type: dict
  sample: {"path": "/runner", "exists": true, "uid": 0, "gid": 0, "mode": "0775"}
probe_method:
  description:
    - How the probe looked inside the image. V(run) is a C(podman run --rm) container. V(chroot) is
      C(podman unshare) with C(podman create), C(podman mount) and C(chroot), used where podman cannot start a
      container (an AWX job).
  returned: success
  type: str
  choices: [run, chroot]
  sample: run
sbom_path:
  description: Absolute path of the SBOM file written (or, in check mode, that would be written).
  returned: when O(sbom_path) is set and the image was looked at
  type: str
  sample: /srv/sboms/ee-aws-1.2.cdx.json
sbom:
  description: Summary of the SBOM.
  returned: when O(sbom_path) is set and the image was looked at
  type: dict
  contains:
    format:
      description: Always V(CycloneDX).
      type: str
      sample: CycloneDX
    spec_version:
      description: CycloneDX specification version.
      type: str
      sample: "1.6"
    serial_number:
      description: The BOM serial number (the same for the same image and components).
      type: str
      sample: urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79
    components:
      description: Number of components listed (besides the image itself).
      type: int
      sample: 412
    package_db:
      description: The OS package database read, V(dpkg) or V(rpm); V(null) when the image has neither.
      type: str
      sample: dpkg
    written:
      description: Whether the file was written by this task (false when it already held the same SBOM, and in check mode).
      type: bool
      sample: true
signature:
  description: What O(verify_signature) found.
  returned: when O(verify_signature) is set and the image is trusted
  type: dict
  contains:
    verified:
      description: Always V(true) (an image that is not trusted fails the task).
      type: bool
    trusted_by:
      description: The key file, or the policy file and its scope, that said which keys count.
      type: str
      sample: /etc/containers/policy.json (scope registry.example.com/ee)
    digest:
      description: The manifest digest the signatures were checked against.
      type: str
    signed_by:
      description: Fingerprints of the trusted keys with a valid signature of the image (empty when a policy accepts it unsigned).
      type: list
      elements: str
    signatures:
      description: Every signature found, with C(location), C(signed_by), C(valid), C(identity) and, when not valid, C(reason).
      type: list
      elements: dict
assertions:
  description:
    - What O(assert_collections) and O(assert_python) found missing or at the wrong version, by kind
      (C(collections), C(python)). Empty when every assertion holds; returned with the failure otherwise.
  returned: always
  type: dict
  sample:
    collections:
      missing: ["amazon.aws>=8.0.0"]
      wrong_version: [{"name": "containers.podman", "found": "1.9.0", "wanted": "containers.podman>=1.10"}]
"""

import os

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.eeforge.builder.plugins.module_utils._build_module import BuildModule
from ansible_collections.eeforge.builder.plugins.module_utils._ee_info import (
    PULL_POLICIES,
    EEInfoError,
    EEInspector,
    collect,
)
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildFamilyError
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import split_ref
from ansible_collections.eeforge.builder.plugins.module_utils._image_verify import verify
from ansible_collections.eeforge.builder.plugins.module_utils._signing import DEFAULT_SIGNATURE_STORE
from ansible_collections.eeforge.builder.plugins.module_utils._registry import registry_auth
from ansible_collections.eeforge.builder.plugins.module_utils._requirements import assertion_message, parse_requirement
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError
from ansible_collections.eeforge.builder.plugins.module_utils._sbom import (
    SbomError,
    SbomLibraryMissing,
    build_sbom,
    check_library,
    check_target,
    inventory_from_facts,
    summary,
    validate_sbom,
    write_sbom,
)
from ansible_collections.eeforge.builder.plugins.module_utils._signals import Terminated, install_termination_handler


def argument_spec():
    """ee_info's own options; registry authentication, container_runtime and timeout come from BuildModule."""
    return dict(
        image=dict(type="str", required=True),
        pull=dict(type="str", choices=list(PULL_POLICIES), default="missing"),
        assert_collections=dict(type="list", elements="str", default=[]),
        assert_python=dict(type="list", elements="str", default=[]),
        sbom_path=dict(type="path"),
        verify_signature=dict(type="path"),
        platform=dict(type="str"),
        signature_store=dict(type="str"),
    )


def validate(module):
    """Reject bad requirement strings and timeouts before anything runs."""
    params = module.params
    for option in ("assert_collections", "assert_python"):
        for item in params[option]:
            try:
                parse_requirement(item)
            except ValueError as exc:
                module.fail_json(msg="Failed to verify execution environment '%s': %s entry '%s' is invalid (%s). "
                                     "Write a name with an optional specifier, e.g. containers.podman>=1.10."
                                 % (params["image"], option, item, exc), assertions={})
    if params["sbom_path"] is not None and not params["sbom_path"].strip():
        module.fail_json(msg="Failed to inspect execution environment '%s': sbom_path is empty. Give a file path such "
                             "as /srv/sboms/ee.cdx.json, or leave the option out." % params["image"], assertions={})
    if params["timeout"] <= 0:
        module.fail_json(msg="Failed to inspect execution environment '%s': timeout must be a positive number of "
                             "seconds, not %d." % (params["image"], params["timeout"]), assertions={})


def write_image_sbom(module, result, warnings):
    """Build, validate and write the SBOM of the inspected image; return ``changed``."""
    image, path = result["image"], module.params["sbom_path"]
    if result.get("os_inventory") is None:
        warnings.append("check mode: no SBOM for '%s', which is not in local storage" % image)
        return False
    text = build_sbom(inventory_from_facts(result))
    error = validate_sbom(text)
    if error:
        raise SbomError("Failed to write the SBOM of '%s': it does not validate against the CycloneDX schema (%s). "
                        "Report this as a bug of eeforge.builder." % (image, error))
    changed = write_sbom(path, text, check_mode=module.check_mode)
    result["sbom_path"] = os.path.abspath(path)
    result["sbom"] = dict(summary(text), package_db=result["os_inventory"]["package_db"],
                          written=changed and not module.check_mode)
    return changed


def verify_image_signature(module, inspector, result):
    """``verify_signature``: result["signature"], or a one-line failure (with the facts gathered)."""
    params = module.params
    image = params["image"]
    try:
        # Signatures name the manifest the registry serves under the tag: a local image may carry several
        # digests of its repository (every push of it records one), so the registry is asked first.
        digest = split_ref(image).digest or inspector.registry_digest(
            image, username=params["registry_username"], password=params["registry_password"],
            auth_file=params["auth_file"], tls_verify=params["tls_verify"]) or result.get("digest")
        if not digest:
            module.fail_json(msg="Failed to verify the signature of '%s': its registry has no manifest for it, and "
                                 "signatures name a registry's manifest digest. Push it, or verify the pushed tag."
                             % image, **result)
        with registry_auth(module, split_ref(image).registry, params["registry_username"],
                           params["registry_password"], params["auth_file"]) as auth_path:
            result["signature"] = verify(module.runner, image, digest, params["verify_signature"],
                                         params["signature_store"] or DEFAULT_SIGNATURE_STORE, timeout=params["timeout"],
                                         auth_file=auth_path, tls_verify=params["tls_verify"])
    except (BuildFamilyError, CommandError, EnvironmentError, ValueError) as exc:
        module.fail_from(exc, **result)


def main():
    install_termination_handler()  # a cancel still removes the private auth file and the probe container
    module = BuildModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    validate(module)
    sbom = params["sbom_path"] is not None
    if sbom:
        try:
            check_library()
        except SbomLibraryMissing as exc:
            module.fail_json(msg=missing_required_lib(exc.library, reason="to write sbom_path"), exception=str(exc),
                             assertions={})
        try:
            check_target(params["sbom_path"])
        except SbomError as exc:
            module.fail_json(msg=str(exc), assertions={})

    platform = None
    try:
        if params["platform"] is not None:
            from ansible_collections.eeforge.builder.plugins.module_utils._platforms import (  # pylint: disable=import-outside-toplevel
                parse_platforms,
            )
            platform = parse_platforms([params["platform"]])[0]
    except BuildFamilyError as exc:
        module.fail_json(msg=str(exc).replace("Failed to build image: platforms:", "Failed to inspect execution "
                                              "environment '%s': platform:" % params["image"]), assertions={})
    try:
        inspector = EEInspector(module, module.engine(), registry_auth=registry_auth, check_mode=module.check_mode)
        result, failures, warnings = collect(
            inspector,
            params["image"],
            pull=params["pull"],
            username=params["registry_username"],
            password=params["registry_password"],
            auth_file=params["auth_file"],
            tls_verify=params["tls_verify"],
            assert_collections=params["assert_collections"],
            assert_python=params["assert_python"],
            os_inventory=sbom,
            platform=platform,
        )
    except (EEInfoError, BuildFamilyError, CommandError, EnvironmentError, ValueError) as exc:
        module.fail_from(exc, assertions={})
    except Terminated as exc:
        module.fail_json(msg=str(exc), assertions={})

    changed = False
    result["assertions"] = failures
    if params["verify_signature"] and not failures:
        verify_image_signature(module, inspector, result)
    if sbom and not failures:
        try:
            changed = write_image_sbom(module, result, warnings)
        except (SbomError, SbomLibraryMissing) as exc:
            result.pop("os_inventory", None)
            module.fail_json(msg=str(exc), **result)
    result.pop("os_inventory", None)
    for warning in warnings:
        module.warn(warning)
    if failures:
        module.fail_json(msg=assertion_message(params["image"], failures), **result)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
