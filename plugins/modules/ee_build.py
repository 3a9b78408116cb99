#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ee_build
short_description: Build, tag and push an Execution Environment with ansible-builder, idempotently
version_added: 0.1.0
description:
  - Builds a container image from an ansible-builder v3 definition with C(ansible-builder create) and
    C(podman build), tags it and optionally pushes it.
  - A v3 definition without C(images.base_image) is accepted as ansible-builder accepts it. The build then uses
    C(build_arg_defaults.EE_BASE_IMAGE) or ansible-builder's own default base image, and a warning names it.
  - Every value (labels, build args, tags, paths) reaches podman as written; C($HOME), C(~) and C(${PATH})
    are not expanded.
  - The image is labelled C(io.eeforge.definition-digest) with a digest over the normalized definition, the
    bytes of every file it pulls in, the build args, the ansible-builder version and the options that change
    the image. When the primary tag already carries that digest (locally, or in the registry when O(push=true)),
    nothing is built and ansible-builder is not run.
  - Debian and Ubuntu base images work too. When the base image has apt-get and no dnf/microdnf, an apt adapter
    becomes C(options.package_manager_path) and C(options.skip_pip_install) is set (Debian's Python refuses
    C(ensurepip)), unless the definition sets them. RV(adaptations) says what was adapted.
  - The Galaxy/Automation Hub token, pip index URLs and CA bundle paths reach the build steps as a build secret
    (C(--secret)), so they are in no image layer, build arg or C(ansible.cfg) left in the image.
author:
  - eeforge contributors (@eeforge)
extends_documentation_fragment:
  - eeforge.builder.attributes
  - eeforge.builder.registry_auth
attributes:
  check_mode:
    support: full
    details:
      - Validates the definition, renders the build context and reports whether anything would change and the
        digest. Nothing is built, pulled, tagged or pushed.
      - Needs neither the base image nor the destination registry. What it cannot know without them (the base
        image's package manager for the Debian adaptation, the digest of the registry copy) is reported as
        unknown with a warning, and counts as a change.
      - With O(context_dir) or O(keep_context) the rendered definition (C(execution-environment.yml)) and the
        build context (C(ansible-builder create) output) are written there without building (generate-only).
  diff_mode:
    support: full
    details:
      - Shows the definition digest, image id and the normalized definition of the primary tag before (read
        from the image's C(io.eeforge.definition) label) and after.
  platform:
    platforms: posix
    description: Target OS/family that can be operated against.
    support: N/A
options:
  definition:
    description:
      - An ansible-builder v3 definition (the content of C(execution-environment.yml)) as a dict.
      - Relative paths in it resolve against O(project_dir).
      - Mutually exclusive with O(definition_file); one of them is required.
    type: dict
  definition_file:
    description:
      - Path of an ansible-builder v3 definition file.
      - Files it references (requirements files, C(additional_build_files), local collection tarballs)
        resolve relative to the file's directory.
    type: path
  project_dir:
    description:
      - Directory that relative paths in an inline O(definition) resolve against.
    type: path
  tags:
    description:
      - Image references to tag the image with; the first one is the primary tag used for the up-to-date check.
      - A reference without a tag gets C(latest). Names without a registry are local (C(localhost/...)) with podman
        and are not pushed.
    type: list
    elements: str
    required: true
  build_args:
    description:
      - Build arguments (C(--build-arg KEY=VALUE)). They are part of the definition digest.
      - Build args are visible in the image history; never put secrets here.
    type: dict
    default: {}
  squash:
    description:
      - V(off) keeps every layer, V(new) squashes the layers the build adds into one,
        V(all) squashes the whole image into one layer (podman C(--squash-all)).
    type: str
    choices: ['off', new, all]
    default: 'off'
  no_cache:
    description: Build without the layer cache (C(--no-cache)).
    type: bool
    default: false
  force:
    description: Build even if the primary tag is up to date.
    type: bool
    default: false
  refresh_base:
    description:
      - Before deciding, look up what the base image's tag points at now (its manifest digest in its registry;
        the local image id for a C(localhost/) base), so that an EE on C(...:latest) is rebuilt when its base
        moves, with no other change. The definition digest covers it, the image records it in the label
        C(io.eeforge.base-digest), and the build starts exactly from it (a tag that moves during the build cannot
        mix two bases).
      - When the registry cannot be asked or does not have the base, the local copy is used, with a warning.
      - V(false) uses the base digest the last build recorded (the base is neither looked up nor pulled again);
        without such a build, it is looked up as with V(true).
      - The lookup uses O(base_registry_username) and O(base_registry_password), and needs C(skopeo).
    type: bool
    default: true
  platforms:
    description:
      - Build one image per platform (podman's C(--platform), for example V(linux/amd64) and V(linux/arm64)) and put
        them together as a manifest list under each of O(tags); O(push=true) pushes each list with all its images
        (C(podman manifest push --all)).
      - Each platform's image carries its own definition digest (it covers the platform and that platform's base
        image). When every platform is up to date nothing runs; when one platform's input changed (its base image
        moved, say), only that platform is rebuilt and the lists are made again.
      - The base image must be a manifest list (in its registry, or local) with every platform; each platform builds
        exactly on its image of that list. A missing platform fails in one line naming it.
      - A platform of another architecture than this host's is emulated through binfmt_misc and qemu-user-static,
        which the host that runs podman must have (registered with the F flag); without it the task fails in one
        line before anything is built. Emulated builds are several times slower.
      - Empty (the default) builds one image for this host's platform, tagged directly.
      - Cannot be combined with O(sign_by) yet.
    type: list
    elements: str
    default: []
  prune_images:
    description:
      - After a rebuild, remove the image the primary tag pointed to before when no other tag uses it.
      - Images of other builds and dangling images that are not this module's are never touched.
    type: bool
    default: false
  extra_build_cli_args:
    description:
      - Extra arguments for C(podman build), one list element per argument.
      - Credentials written inline are refused, each with its own message; use O(base_registry_password),
        O(galaxy_token) or a C(--secret) with a file instead.
    type: list
    elements: str
    default: []
  context_dir:
    description:
      - Directory to render the build context into. It is kept after the task.
      - In check mode the context is written there too, without building (generate-only).
      - By default the context goes to a private temporary directory that is removed afterwards unless
        O(keep_context=true).
    type: path
  keep_context:
    description:
      - Keep the default temporary build context and return its path in RV(context_dir).
      - The build secret is never in the context.
    type: bool
    default: false
  labels:
    description:
      - Labels added to the image (C(--label)). Part of the definition digest.
    type: dict
    default: {}
  push:
    description:
      - Push every tag that names a registry. The up-to-date check then looks at the registry too.
    type: bool
    default: false
  push_retries:
    description:
      - How many times to retry a push that failed for a transient reason (unreachable registry, 5xx, timeout).
      - Authentication and TLS errors are not retried.
    type: int
    default: 2
  sign_by:
    description:
      - Sign every pushed tag with this GPG key (simple signing, the signatures C(podman push --sign-by) makes).
        Give its fingerprint, or a key id or user id that names exactly one secret key in the keyring of
        C(GNUPGHOME) (else C(~/.gnupg)). The value reaches C(skopeo copy --sign-by) as written.
      - The signature names the tag and the manifest digest the registry serves. It is written to
        O(signature_store); the registries.d settings for that exist only for the signing command, in a private
        temp dir (nothing under C(/etc/containers) or C(~/.config/containers) is read or changed for it).
      - Idempotent per tag. An image that already has a good signature by the key for the tag and digest is left as it
        is. An up-to-date image that lacks one gets one (changed), with no rebuild and no push. Signatures already in
        the store, by other keys too, are kept.
      - The key and its passphrase are proven with a throw-away signature before anything is built or pushed.
      - Needs O(push), and C(gpg) and C(skopeo) where the task runs. See C(docs/trust.md) for the policy that
        makes execution nodes verify these signatures.
    type: str
  sign_passphrase_file:
    description:
      - File holding the passphrase of the O(sign_by) key. Only its path reaches gpg and skopeo.
      - Without it, the key must have no passphrase or gpg-agent must hold the passphrase.
    type: path
  signature_store:
    description:
      - Directory the O(sign_by) signatures are written to, in the lookaside layout
        C(<repository>@sha256=<digest>/signature-<n>). Publish it with a web server and point the nodes'
        registries.d C(lookaside) at it.
      - It is created when missing. Defaults to C(/var/lib/containers/sigstore), the default staging directory of
        containers/image.
    type: path
  sigstore_private_key:
    description:
      - Sign every pushed tag with this sigstore key too, cosign's encrypted private key file (C(cosign generate-key-pair),
        C(ENCRYPTED COSIGN PRIVATE KEY); ECDSA P-256, RSA or Ed25519). The signature is stored in the registry as an OCI
        attachment (C(<repository>:sha256-<digest>.sig)), where podman and CRI-O (C(use-sigstore-attachments)),
        cosign, policy-controller and Kyverno find it.
      - The signature names the tag and the manifest digest the registry serves. It is made by the module itself (the
        key is decrypted in memory with the Python libraries C(cryptography) and C(PyNaCl), which must be installed where
        the task runs), since Debian 12's podman and skopeo cannot make sigstore signatures. C(skopeo) moves the attachment.
      - Idempotent per tag, as O(sign_by). Signatures already in the attachment, by other keys too, are kept.
      - The key and O(sigstore_passphrase) are proven by decrypting the key before anything is built or pushed.
      - Needs O(push). Can be combined with O(sign_by). See C(docs/trust.md) for the node and admission policies.
    type: path
  sigstore_passphrase:
    description:
      - Passphrase of O(sigstore_private_key). It reaches no command line, file, log or result.
    type: str
  ca_certificates:
    description:
      - PEM files with CA certificates to trust inside the build (corporate TLS proxies, private registries and mirrors).
      - They are installed into the image's trust store in the base stage, so the final image trusts them too,
        and pip, requests and OpenSSL in every build step use that bundle.
    type: list
    elements: path
    default: []
  galaxy_server_url:
    description:
      - URL of a Galaxy or private Automation Hub server the galaxy stage installs collections and roles from.
      - Reaches the build as a build secret, never as a build arg.
    type: str
  galaxy_token:
    description:
      - API token for O(galaxy_server_url). Passed as a build secret (C(--secret)); it is in no image layer,
        no C(podman history) line, no file left in the image, the context, the log or the result.
    type: str
  galaxy_keyring:
    description:
      - Verify the signatures of the collections the galaxy stage installs against the public keys in this GPG
        keyring file (ansible-builder's C(--galaxy-keyring); it is copied into the build context and the galaxy
        stage runs C(ansible-galaxy collection install --keyring)). Without it signatures are not checked.
      - Its content is part of the definition digest, as are the two options below.
    type: path
  galaxy_required_valid_signature_count:
    description:
      - How many signatures of each collection must verify (ansible-builder's
        C(--galaxy-required-valid-signature-count)), V(1), V(all), or with a leading C(+) (V(+1)) to fail when a
        collection has no signature at all. Needs O(galaxy_keyring).
    type: str
  galaxy_ignore_signature_status_codes:
    description:
      - GPG status codes to ignore while verifying (ansible-builder's C(--galaxy-ignore-signature-status-codes)),
        for example V(NO_PUBKEY). Needs O(galaxy_keyring).
    type: list
    elements: str
    default: []
  container_policy:
    description:
      - What the base image pull must prove, as ansible-builder's C(--container-policy) (and infra.ee_utilities'
        C(ee_container_policy)) names it, or a containers-policy.json(5) file.
      - V(system) (the default) is podman's own policy (C(/etc/containers/policy.json)).
      - V(ignore_all) pulls the base under a private policy that accepts anything.
      - V(signature_required) pulls the base under a private policy that rejects everything but the base's repository
        signed (simple signing, GPG) by a key of O(container_keyring) for the base's name as the definition gives it.
      - A path is a policy file for the base pull (C(podman pull --signature-policy)), used as it is.
      - With V(signature_required) or a file, every build pulls the base's exact digest through the policy, also
        when it is local, so a refused signature fails the task in one line before anything is built; an image
        already up to date is not pulled again. A base that is only local (C(localhost/), a short name) is refused.
        The lookaside of the signatures comes from podman's registries.d, as on an execution node (C(docs/trust.md)).
      - The generated policy exists only for the pull, in a private temp file; nothing under C(/etc/containers) or
        C(~/.config/containers) is changed. Which policy (and keyring content) a build was verified under is part of the
        definition digest, so switching to a verifying policy rebuilds once.
    type: str
    default: system
  container_keyring:
    description:
      - GPG public keyring (C(gpg --export FPR > file), binary or armored) that O(container_policy=signature_required)
        trusts, as ansible-builder's C(--container-keyring). Only allowed with that value.
    type: path
  base_registry_username:
    description:
      - User name for the registry the base image is pulled from (logged in before the build).
      - Requires O(base_registry_password).
    type: str
  base_registry_password:
    description:
      - Password or token for O(base_registry_username); kept in a private 0600 auth file only.
    type: str
  pip_index_url:
    description:
      - pip index (C(PIP_INDEX_URL)) for every build stage, e.g. an internal mirror for air-gapped builds.
      - Passed as a build secret, so credentials in the URL do not end up in a layer; hidden from logs (C(no_log)).
    type: str
  pip_extra_index_url:
    description:
      - Extra pip index (C(PIP_EXTRA_INDEX_URL)) for every build stage; passed like O(pip_index_url).
    type: str
  build_log_dir:
    description:
      - Directory the full build log is streamed to (one file per build, the 20 newest are kept).
      - Defaults to C(~/.ansible/eeforge/build-logs) of the user running the task.
    type: path
notes:
  - Needs C(ansible-builder) (Python package and command) and podman on the host the task runs on.
  - Only ansible-builder v3 definitions are accepted.
  - Runs for the same tags wait for each other (an exclusive lock per tag, held from the up-to-date check to
    the last push, for at most O(timeout) seconds), so two builds of one tag never interleave.
  - An interrupted run (SIGTERM or SIGINT, what an AWX cancel sends) stops and waits for C(podman build),
    removes the working containers (and their mounts) that build created, its temporary directories, auth
    files and lock, then fails. So does a build cut by O(timeout). While another C(podman build) runs on the
    same host, a working container it may own is left, and the error names it.
  - The image carries the labels C(io.eeforge.definition-digest) and C(io.eeforge.definition) (compact JSON of
    the normalized definition, left out when it is over 32 KiB), which C(--diff) reads back, and the base
    image's name and digest (C(org.opencontainers.image.base.name), C(org.opencontainers.image.base.digest),
    C(io.eeforge.base-digest)).
  - Every build also records its provenance, C(org.opencontainers.image.created) (UTC) and, when the definition
    sits in a git checkout, C(org.opencontainers.image.source) (the C(origin) URL without any user name or token)
    and C(org.opencontainers.image.revision) (the commit, C(-dirty) with uncommitted changes there). They are not
    part of the definition digest, so a commit that changes nothing the image is made of rebuilds nothing; labels
    given in O(labels) win.
  - O(extra_build_cli_args) refuses credentials written inline (C(--creds), C(--password), a C(--secret) whose
    C(src) is not a file, a C(--build-arg) with a token, password or secret name).
seealso:
  - name: ansible-builder definition reference
    description: The execution environment definition format (version 3).
    link: https://ansible.readthedocs.io/projects/builder/en/latest/definition/
"""

EXAMPLES = r"""
- name: Build ee-aws from its definition file and push it
  eeforge.builder.ee_build:
    definition_file: "{{ playbook_dir }}/ee-aws/execution-environment.yml"
    tags:
      - registry.example.com/ee/ee-aws:1.4
      - registry.example.com/ee/ee-aws:latest
    push: true
    registry_username: builder
    registry_password: "{{ vault_registry_password }}"
  register: ee_aws

- name: Build, push and sign with the release key; the signatures go where the web server publishes them
  eeforge.builder.ee_build:
    definition_file: "{{ playbook_dir }}/ee-aws/execution-environment.yml"
    tags:
      - registry.example.com/ee/ee-aws:1.4
    push: true
    sign_by: 3A1F5C0E9B7D4E2F8A6C1B0D9E8F7A6B5C4D3E2F
    sign_passphrase_file: /run/secrets/release-key-passphrase
    signature_store: /srv/sigstore

- name: Build, push and sign with a cosign key, for a Kubernetes admission controller
  eeforge.builder.ee_build:
    definition_file: "{{ playbook_dir }}/ee-aws/execution-environment.yml"
    tags:
      - registry.example.com/ee/ee-aws:1.4
    push: true
    sigstore_private_key: /run/secrets/cosign.key
    sigstore_passphrase: "{{ vault_cosign_passphrase }}"

- name: Build only on a base image signed by the platform team's key
  eeforge.builder.ee_build:
    definition_file: "{{ playbook_dir }}/ee-aws/execution-environment.yml"
    tags:
      - registry.example.com/ee/ee-aws:1.4
    container_policy: signature_required
    container_keyring: /etc/pki/ee/platform-team.gpg

- name: Build an EE from an inline definition on a Debian base, with a private Automation Hub
  eeforge.builder.ee_build:
    project_dir: "{{ playbook_dir }}/ee-net"
    definition:
      version: 3
      images:
        base_image:
          name: docker.io/library/python:3.11-slim-bookworm
      dependencies:
        ansible_core:
          package_pip: ansible-core>=2.16,<2.17
        ansible_runner:
          package_pip: ansible-runner
        python: requirements.txt
        galaxy:
          collections:
            - ansible.netcommon
    galaxy_server_url: https://hub.example.com/api/galaxy/content/published/
    galaxy_token: "{{ vault_hub_token }}"
    ca_certificates:
      - /etc/pki/ca-trust/source/anchors/corp-proxy.pem
    tags:
      - registry.example.com/ee/ee-net:2.0

- name: Build ee-aws for amd64 and arm64 execution nodes; one manifest list under the tag
  eeforge.builder.ee_build:
    definition_file: "{{ playbook_dir }}/ee-aws/execution-environment.yml"
    platforms:
      - linux/amd64
      - linux/arm64
    tags:
      - registry.example.com/ee/ee-aws:1.4
    push: true
  register: ee_aws_multi

- name: Only tell whether ee-aws needs a rebuild
  eeforge.builder.ee_build:
    definition_file: ee-aws/execution-environment.yml
    tags: [registry.example.com/ee/ee-aws:1.4]
  check_mode: true
  register: ee_aws_plan
"""

RETURN = r"""
image_id:
  description: Id of the local image the primary tag points to (null when only the registry copy was checked).
  returned: success
  type: str
  sample: 8c2b5ab2a1f3d2e0b7c1...
digest:
  description: Manifest digest in the registry of the primary pushed tag (after a push, or when the registry
    copy is up to date); null without O(push).
  returned: success
  type: str
  sample: sha256:4f1d...
tags:
  description: The image references the image is tagged with, normalized (unqualified podman names get C(localhost/)).
  returned: success
  type: list
  elements: str
pushed:
  description: References pushed by this run, as C(name:tag@digest).
  returned: success
  type: list
  elements: str
signatures:
  description:
    - With O(sign_by) and O(sigstore_private_key), one entry per pushed tag and key, for the image the registry
      serves under the tag after the run (the GPG entries first).
    - In check mode, only the signatures that are there already; the actions say C(sign <tag>) for the others.
  returned: success
  type: list
  elements: dict
  contains:
    image:
      description: The tag the signature names.
      type: str
    digest:
      description: The manifest digest the signature names.
      type: str
    signed_by:
      description: Fingerprint of the O(sign_by) key, or C(sha256:) of the O(sigstore_private_key) public key (DER).
      type: str
    path:
      description: The signature file in O(signature_store), or the attachment (C(<repository>:sha256-<hex>.sig)).
      type: str
    new:
      description: Whether this run wrote it.
      type: bool
    kind:
      description: V(gpg) (simple signing) or V(sigstore).
      type: str
definition_digest:
  description: Digest of everything that defines the image; also the image label C(io.eeforge.definition-digest).
  returned: success
  type: str
  sample: sha256:0d5e...
base_image_digest:
  description:
    - What the base image was taken to be (see O(refresh_base)); also the image labels C(io.eeforge.base-digest)
      and C(org.opencontainers.image.base.digest).
    - The registry's manifest digest, or C(sha256:<image id>) for a local-only base; V(null) when check mode
      could not find out.
  returned: success
  type: str
  sample: sha256:6f1d...
base_image_moved:
  description: V(true) when the base image is not the one the image was last built on (so it is rebuilt).
  returned: success
  type: bool
  sample: false
base_image_verified:
  description:
    - V(true) when this run pulled the base image through a O(container_policy) that checks signatures
      (V(signature_required) or a policy file) and the policy accepted it, before building.
    - V(false) when nothing was built, or the policy checks no signatures.
  returned: success
  type: bool
  sample: true
manifest_digest:
  description: With O(platforms) and O(push=true), the digest of the manifest list the primary pushed tag names
    (also in RV(digest)); null in check mode when it would be pushed.
  returned: success
  type: str
  sample: sha256:711f...
platforms:
  description:
    - With O(platforms), one entry per platform, keyed by the platform as written.
    - RV(image_id) and RV(base_image_digest) are null then; RV(definition_digest) is a digest over the platforms'
      definition digests.
  returned: when O(platforms) is set
  type: dict
  sample:
    linux/arm64:
      image_id: c8d3d15e80cf...
      definition_digest: sha256:0d5e...
      base_image_digest: sha256:dd5d...
      built: true
      digest: sha256:be07...
  contains:
    image_id:
      description: The local image of this platform.
      type: str
    definition_digest:
      description: Its definition digest (label C(io.eeforge.definition-digest)).
      type: str
    base_image_digest:
      description: The digest of the base image's image for this platform that it is built on.
      type: str
    built:
      description: Whether this run built it.
      type: bool
    digest:
      description: Its manifest digest in the registry, as the pushed list names it (null without O(push)).
      type: str
containerfile:
  description: Text of the Containerfile that was built (or would be built in check mode); null when nothing had
    to be built.
  returned: success
  type: str
build_log:
  description: Path of the full build log (streamed while building); null when nothing was built.
  returned: success
  type: str
duration:
  description: Seconds the task took.
  returned: success
  type: float
build_duration:
  description: Seconds the image build took.
  returned: when an image was built
  type: float
ansible_builder_version:
  description: Version of ansible-builder used for the digest and the build context.
  returned: success
  type: str
  sample: 3.2.0
built:
  description: Whether an image was built by this run.
  returned: success
  type: bool
builder_invoked:
  description: Whether ansible-builder was run (false when the image was up to date).
  returned: success
  type: bool
up_to_date:
  description: Whether the image (and the registry copies, with O(push)) already matched the definition.
  returned: success
  type: bool
adaptations:
  description: What ee_build changed in the definition for the base image, one line each (e.g. the Debian apt
    adapter, C(skip_pip_install), CA certificates).
  returned: success
  type: list
  elements: str
actions:
  description: What this run did or, in check mode, would do (C(build), C(tag <ref>), C(push <ref>), C(sign <ref>), C(prune <id>)).
  returned: success
  type: list
  elements: str
context_dir:
  description: Path of the build context when it is kept (O(context_dir) or O(keep_context)).
  returned: success
  type: str
referenced_files:
  description: Absolute paths of the files the definition pulls in (part of the definition digest).
  returned: success
  type: list
  elements: str
pruned:
  description: Ids of images removed by O(prune_images).
  returned: when an image was pruned
  type: list
  elements: str
log_tail:
  description: The last lines of the build log or of the failing tool's output.
  returned: failure
  type: list
  elements: str
"""

import os
import sys

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.eeforge.builder.plugins.module_utils._build_module import BuildModule
from ansible_collections.eeforge.builder.plugins.module_utils._builder import EEBuild
from ansible_collections.eeforge.builder.plugins.module_utils._definition import (
    HAS_YAML,
    DefinitionError,
    without_format_grammars,
)
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildFamilyError, left_behind_hint
from ansible_collections.eeforge.builder.plugins.module_utils._lock import TagLockError, tag_lock
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError
from ansible_collections.eeforge.builder.plugins.module_utils._signals import Terminated, install_termination_handler


def builder_version():
    """``(installed, version)`` of ansible-builder, read from its dist-info next to the package.

    A no-op run needs only the version (it is part of the digest); importlib.metadata would cost
    more than the rest of such a run's own Python work, so it is the fallback only.
    """
    try:
        from importlib.util import find_spec  # pylint: disable=import-outside-toplevel
        spec = find_spec("ansible_builder")
    except ImportError:  # pragma: no cover - Python 2
        return False, None
    if spec is None:
        return False, None
    site = os.path.dirname(os.path.dirname(spec.origin or ""))
    try:
        found = [name[len("ansible_builder-"):-len(".dist-info")] for name in os.listdir(site)
                 if name.startswith("ansible_builder-") and name.endswith(".dist-info")]
    except OSError:
        found = []
    if len(found) == 1:
        return True, found[0]
    try:
        from importlib.metadata import version  # pylint: disable=import-outside-toplevel
        return True, version("ansible-builder")
    except ImportError:  # importlib.metadata.PackageNotFoundError is an ImportError
        return True, None


def builder_schema():
    """ansible-builder's v3 JSON schema, imported when a definition must be validated (not on a
    no-op: importing it brings in jsonschema, about half of a no-op run's own time)."""
    # ansible_builder.exceptions sets sys.tracebacklimit = 0 when imported; keep the interpreter's setting.
    saved = getattr(sys, "tracebacklimit", None)
    try:
        with without_format_grammars():
            from ansible_builder import ee_schema  # pylint: disable=import-outside-toplevel
    finally:
        if saved is None:
            if hasattr(sys, "tracebacklimit"):
                del sys.tracebacklimit
        else:
            sys.tracebacklimit = saved
    return ee_schema.schema_v3


def argument_spec():
    return dict(
        definition=dict(type="dict"),
        definition_file=dict(type="path"),
        project_dir=dict(type="path"),
        tags=dict(type="list", elements="str", required=True),
        build_args=dict(type="dict", default={}),
        squash=dict(type="str", default="off", choices=["off", "new", "all"]),
        no_cache=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        refresh_base=dict(type="bool", default=True),
        platforms=dict(type="list", elements="str", default=[]),
        prune_images=dict(type="bool", default=False),
        extra_build_cli_args=dict(type="list", elements="str", default=[]),
        context_dir=dict(type="path"),
        keep_context=dict(type="bool", default=False),
        labels=dict(type="dict", default={}),
        push=dict(type="bool", default=False),
        push_retries=dict(type="int", default=2),
        sign_by=dict(type="str"),
        sign_passphrase_file=dict(type="path", no_log=False),
        signature_store=dict(type="path"),
        sigstore_private_key=dict(type="path"),
        sigstore_passphrase=dict(type="str", no_log=True),
        ca_certificates=dict(type="list", elements="path", default=[]),
        galaxy_server_url=dict(type="str"),
        galaxy_token=dict(type="str", no_log=True),
        galaxy_keyring=dict(type="path"),
        galaxy_required_valid_signature_count=dict(type="str"),
        galaxy_ignore_signature_status_codes=dict(type="list", elements="str", default=[]),
        container_policy=dict(type="str", default="system"),
        container_keyring=dict(type="path"),
        base_registry_username=dict(type="str"),
        base_registry_password=dict(type="str", no_log=True),
        pip_index_url=dict(type="str", no_log=True),
        pip_extra_index_url=dict(type="str", no_log=True),
        build_log_dir=dict(type="path"),
    )


def builder_bin(module):
    """ansible-builder from PATH, else next to the Python running this module (a virtualenv)."""
    found = module.runner.get_bin("ansible-builder")
    if not found:
        candidate = os.path.join(os.path.dirname(sys.executable), "ansible-builder")
        found = module.runner.get_bin(candidate)
    if not found:
        module.fail_json(msg="Failed to find command 'ansible-builder': it is not in PATH. Install ansible-builder "
                             "(pip install ansible-builder) where the task runs.")
    return found


def main():
    # An AWX cancel (SIGTERM to the process group) raises Terminated: every temp dir, auth file and
    # lock of the run is released by its finally block before the task fails.
    install_termination_handler()
    module = BuildModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[["definition", "definition_file"]],
        required_one_of=[["definition", "definition_file"]],
        required_together=[["base_registry_username", "base_registry_password"]],
        required_by={"galaxy_token": "galaxy_server_url"},
        supports_check_mode=True,
    )
    has_builder, version = builder_version()
    if not has_builder:
        module.fail_json(msg=missing_required_lib("ansible-builder"))
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    if module.params["push_retries"] < 0 or module.params["timeout"] <= 0:
        module.fail_json(msg="Failed to build image: push_retries must be >= 0 and timeout > 0. Fix the option.")

    run = EEBuild(module, version, builder_schema, builder_bin(module), lock=tag_lock)
    try:
        changed, result = run.run()
    except (BuildFamilyError, DefinitionError, CommandError, TagLockError, EnvironmentError, ValueError) as exc:
        module.fail_from(exc)
    except Terminated as exc:
        module.fail_json(msg=str(exc) + left_behind_hint(exc), changed=False)
    for warning in run.warnings:
        module.warn(warning)
    diff = result.pop("diff", None)
    if module._diff and diff:
        result["diff"] = diff
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
