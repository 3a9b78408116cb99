# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_build's base image identity (``refresh_base``): what the base tag points at, decided once.

``resolve_base()`` is a pure function of the base reference, the local base image's facts, the
base digest the last build recorded (``BASE_DIGEST_LABEL`` of the image the tags name) and a
``lookup`` callable that asks the registry (``_registry.resolve_digest``). It returns a
``BaseImage``: the digest the definition digest covers and the image records, and the exact
reference the build starts FROM, so that a tag that moves during the build cannot mix two bases.

- ``refresh_base: true``: a base with a registry is looked up there (its manifest digest); a
  ``localhost/`` base, or a short name (no registry) that is local, is its local image id. When the registry cannot be asked or does not have
  it, the local image is used (with a warning); with neither, the run fails in one line (check
  mode warns and counts a build).
- ``refresh_base: false``: the digest the last build recorded, as long as there is one (the
  base is then neither looked up nor pulled again); else as with ``true``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError, RegistryError
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import split_ref

BASE_DIGEST_LABEL = "io.eeforge.base-digest"
# Provenance labels of the OCI image spec's annotations, as labels (podman shows them, AWX users read them).
BASE_NAME_LABEL = "org.opencontainers.image.base.name"
BASE_DIGEST_OCI_LABEL = "org.opencontainers.image.base.digest"


class BaseImage(object):
    """``ref`` as the definition names it; ``digest`` (``sha256:...``: the registry's manifest
    digest, or ``sha256:<image id>`` for a local-only base; None when unknown in check mode);
    ``build_ref`` what FROM uses; ``pull`` whether ``build_ref`` must be pulled first; ``source``
    (``registry``, ``local``, ``recorded``, ``definition``, or ``unqualified``: a short name that is
    not local, which the caller pulls before asking again)."""

    def __init__(self, ref, digest, build_ref, source, pull=False):
        self.ref = ref
        self.digest = digest
        self.build_ref = build_ref
        self.source = source
        self.pull = pull

    def labels(self):
        """The labels every image built on this base carries."""
        if not self.digest:
            return {}
        return {BASE_DIGEST_LABEL: self.digest, BASE_NAME_LABEL: self.ref, BASE_DIGEST_OCI_LABEL: self.digest}


def recorded_base_digest(*facts):
    """The base digest the last build recorded: the label of the first image in ``facts`` that has one."""
    for info in facts:
        if isinstance(info, dict):
            value = (info.get("labels") or {}).get(BASE_DIGEST_LABEL)
            if value:
                return value
    return None


def local_base_digest(ref, local):
    """The local base image's registry digest for ``ref``'s repository, else ``sha256:<image id>``."""
    name = "%s/%s@" % (ref.registry, ref.repository)
    for repo_digest in local.get("repo_digests") or []:
        if repo_digest.startswith(name):
            return repo_digest[len(name):]
    return "sha256:" + local["id"]


def _exact(ref, digest, local):
    """``(build_ref, pull)`` for ``digest`` of ``ref``: the local image when it is that one, else ``repo@digest``."""
    if local and ("sha256:" + local["id"] == digest or local_base_digest(ref, local) == digest):
        return local["id"], False
    pinned = "%s/%s@%s" % (ref.registry, ref.repository, digest)
    if local and pinned in (local.get("repo_digests") or []):
        return local["id"], False
    return pinned, True


def resolve_base(base_ref, local, recorded, refresh, lookup, check_mode=False, exists=None):
    """``(BaseImage, warnings)``; raises BuildError in one line (see the module docstring).

    ``local``: the facts of the local image ``base_ref`` names, or None; ``recorded``: the base digest
    of the last build, or None; ``lookup(ref)``: the registry's digest of ``ref`` or None, may raise
    RegistryError; ``exists(image_id)``: whether a local image is still there (a recorded local base).
    """
    ref = split_ref(base_ref, require_tag=False)
    warnings = []
    if ref.digest:
        build_ref, pull = (local["id"], False) if local else (base_ref, True)
        return BaseImage(base_ref, ref.digest, build_ref, "definition", pull=pull), warnings
    local_only = ref.registry == "localhost"
    if recorded and not refresh:
        build_ref, pull = _exact(ref, recorded, local)
        if local_only and pull:
            image_id = recorded.split(":", 1)[-1]
            if not (exists and exists(image_id)):
                raise BuildError("Failed to build image: the base image the last build used ('%s' at %s) is no "
                                 "longer in local storage" % (base_ref, recorded),
                                 "Set refresh_base: true to build on what '%s' is now" % base_ref)
            build_ref, pull = image_id, False
        return BaseImage(base_ref, recorded, build_ref, "recorded", pull=pull), warnings
    if local_only or (local and not ref.explicit_registry):
        # A short name (no registry) that is local may have come from any unqualified-search
        # registry: the local image is what podman builds on, so it is what counts.
        if local:
            return BaseImage(base_ref, "sha256:" + local["id"], local["id"], "local"), warnings
    if not ref.explicit_registry:
        # podman resolves a short name through its unqualified-search registries, which a registry
        # lookup cannot follow: the caller pulls it first (not in check mode) and asks again.
        return BaseImage(base_ref, None, base_ref, "unqualified", pull=True), warnings
    if local_only:
        if check_mode:
            return BaseImage(base_ref, None, base_ref, "local", pull=True), warnings
        raise BuildError("Failed to pull base image '%s': it is not in local storage, and a 'localhost/' image "
                         "cannot be pulled" % base_ref,
                         "Build or load it first (podman images), or name it with its registry")
    error = None
    try:
        digest = lookup(base_ref)
        cause = None if digest else "it does not exist in its registry"
    except RegistryError as exc:
        digest, cause, error = None, exc.cause, exc
    if digest:
        build_ref, pull = _exact(ref, digest, local)
        return BaseImage(base_ref, digest, build_ref, "registry", pull=pull), warnings
    if local:
        warnings.append("Could not look up base image '%s' in its registry (%s): building on the local copy"
                        % (base_ref, cause.replace("Failed to inspect image '%s': " % base_ref, "")))
        digest = local_base_digest(ref, local)
        return BaseImage(base_ref, digest, local["id"], "local"), warnings
    if check_mode:
        warnings.append("Base image '%s' could not be looked up (%s): counted as a build"
                        % (base_ref, cause.replace("Failed to inspect image '%s': " % base_ref, "")))
        return BaseImage(base_ref, None, base_ref, "registry", pull=True), warnings
    if error is None:
        raise BuildError("Failed to pull base image '%s': it does not exist in its registry" % base_ref,
                         "Check images.base_image.name (repository and tag)")
    raise BuildError(error.cause.replace("Failed to inspect image", "Failed to pull base image"),
                     error.fix + " (base_registry_username/base_registry_password)")
