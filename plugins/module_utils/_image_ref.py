# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse and validate container image references (pure functions, no podman needed).

The grammar is the one of github.com/distribution/reference, which podman, skopeo and
docker share::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component ( "/" path-component )*
    domain     := host [ ":" port ]          (a first component with "." or ":" or "localhost")
    path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex          (sha256: 64 lower-case hex digits)

Without a domain the registry is ``docker.io``, and a one-component repository there is
``library/<name>``, as docker and podman resolve it.

Usage::

    ref = split_ref('registry.example.com:5000/ee/aws:1.2')
    ref.registry      # 'registry.example.com:5000'
    ref.repository    # 'ee/aws'
    ref.tag           # '1.2'
    ref.with_digest('sha256:...')   # a new ImageRef, same name and tag, pinned

Every error is an ``ImageRefError`` (a ``ValueError``) whose text is one line naming the
problem and how to fix it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
# Other spellings of Docker Hub that mean docker.io.
DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(
    r"^(?:%s(?:\.%s)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$" % (_DOMAIN_COMPONENT, _DOMAIN_COMPONENT)
)
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_HEX_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}
NAME_TOTAL_LENGTH_MAX = 255


class ImageRefError(ValueError):
    """An image reference or digest that podman would refuse; the text is one line."""


def _fail(ref, cause, fix):
    return ImageRefError("Invalid image reference '%s': %s. %s" % (ref, cause, fix))


def validate_digest(digest, ref=None):
    """Return ``digest`` if it is a well-formed content digest, else raise ImageRefError.

    ``sha256``/``sha384``/``sha512`` digests must have the right number of lower-case hex digits.
    ``ref`` (optional) is the reference the digest belongs to, used in the message.
    """
    what = ref if ref is not None else digest
    if not isinstance(digest, str) or not digest:
        raise _fail(what, "the digest is empty", "Use 'sha256:' followed by 64 hex digits")
    if not _DIGEST_RE.match(digest):
        raise _fail(what, "digest '%s' is not '<algorithm>:<hex>'" % digest,
                    "Use 'sha256:' followed by 64 lower-case hex digits")
    algorithm, hexpart = digest.split(":", 1)
    expected = _HEX_LEN.get(algorithm)
    if expected is not None:
        if not re.match(r"^[0-9a-f]+$", hexpart):
            raise _fail(what, "digest '%s' must be lower-case hex" % digest,
                        "Use 'sha256:' followed by 64 lower-case hex digits")
        if len(hexpart) != expected:
            raise _fail(what, "%s digest has %d hex digits, expected %d" % (algorithm, len(hexpart), expected),
                        "Copy the full digest, e.g. from 'skopeo inspect'")
    return digest


class ImageRef(object):
    """A parsed image reference: ``registry``, ``repository``, ``tag``, ``digest``.

    ``registry`` is never empty (``docker.io`` when the reference names none) and
    ``explicit_registry`` says whether the reference named it. ``tag`` and ``digest`` may be None.
    Instances are immutable; ``with_tag``/``with_digest`` return new ones.
    """

    __slots__ = ("registry", "repository", "tag", "digest", "explicit_registry")

    def __init__(self, registry, repository, tag=None, digest=None, explicit_registry=True):
        object.__setattr__(self, "registry", registry)
        object.__setattr__(self, "repository", repository)
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "digest", digest)
        object.__setattr__(self, "explicit_registry", explicit_registry)

    def __setattr__(self, name, value):
        raise AttributeError("ImageRef is immutable")

    @property
    def name(self):
        """``registry/repository`` (no tag, no digest): what ``podman images`` calls the repository."""
        return "%s/%s" % (self.registry, self.repository)

    @property
    def is_docker_hub(self):
        return self.registry == DEFAULT_REGISTRY

    @property
    def tagged(self):
        """``registry/repository:tag`` (``latest`` when the reference has no tag)."""
        return "%s:%s" % (self.name, self.tag or DEFAULT_TAG)

    def with_tag(self, tag):
        if not _TAG_RE.match(tag or ""):
            raise _fail(tag, "tag '%s' is not valid" % tag,
                        "A tag is up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
        return ImageRef(self.registry, self.repository, tag, self.digest, self.explicit_registry)

    def with_digest(self, digest):
        """The same name and tag, pinned to ``digest`` (``name:tag@sha256:...``)."""
        validate_digest(digest, str(self))
        return ImageRef(self.registry, self.repository, self.tag, digest, self.explicit_registry)

    def without_digest(self):
        return ImageRef(self.registry, self.repository, self.tag, None, self.explicit_registry)

    def __str__(self):
        text = self.name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text

    def __repr__(self):
        return "ImageRef(%r, %r, tag=%r, digest=%r)" % (self.registry, self.repository, self.tag, self.digest)

    def __eq__(self, other):
        if not isinstance(other, ImageRef):
            return NotImplemented
        return (self.registry, self.repository, self.tag, self.digest) == (
            other.registry, other.repository, other.tag, other.digest)

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self):
        return hash((self.registry, self.repository, self.tag, self.digest))


def _looks_like_domain(component):
    return "." in component or ":" in component or component == "localhost" or component.startswith("[")


def split_ref(ref, require_tag=False, allow_digest=True, default_tag=DEFAULT_TAG):
    """Parse ``ref`` into an ``ImageRef`` or raise ``ImageRefError`` (one line).

    - ``require_tag=False``: a reference with neither tag nor digest gets ``default_tag``
      (``latest``); a digest-only reference keeps ``tag=None``.
    - ``require_tag=True``: a reference without a tag is an error ("has no tag").
    - ``allow_digest=False``: a reference with ``@digest`` is an error (e.g. build tags).
    """
    if not isinstance(ref, str):
        raise _fail(ref, "it is a %s, not a string" % type(ref).__name__, "Quote the image reference")
    if not ref:
        raise _fail(ref, "it is empty", "Give a reference like 'registry.example.com/ee/name:1.0'")
    if ref != ref.strip() or re.search(r"\s", ref):
        raise _fail(ref, "it contains whitespace", "Remove the spaces")
    if "://" in ref:
        raise _fail(ref, "it has a URL scheme", "Drop '%s://'" % ref.split("://", 1)[0])

    rest = ref
    digest = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not allow_digest:
            raise _fail(ref, "a digest is not allowed here", "Remove '@%s'" % digest)
        validate_digest(digest, ref)

    tag = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not tag:
            raise _fail(ref, "the tag after ':' is empty", "Write a tag after ':' or remove the ':'")
        if not _TAG_RE.match(tag):
            raise _fail(ref, "tag '%s' is not valid" % tag,
                        "A tag is up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")

    if not rest:
        raise _fail(ref, "it has no repository name", "Give a name before the tag or digest")
    components = rest.split("/")
    explicit_registry = len(components) > 1 and _looks_like_domain(components[0])
    if explicit_registry:
        registry = components.pop(0)
        if not _DOMAIN_RE.match(registry):
            raise _fail(ref, "registry '%s' is not a valid host[:port]" % registry,
                        "Use a host name or IP address, optionally with ':port'")
        if registry.lower() in DOCKER_HUB_ALIASES:
            registry = DEFAULT_REGISTRY
    else:
        registry = DEFAULT_REGISTRY

    for component in components:
        if not component:
            raise _fail(ref, "the repository path has an empty component", "Remove the doubled or trailing '/'")
        if component != component.lower() and _PATH_COMPONENT_RE.match(component.lower()):
            raise _fail(ref, "repository path '%s' must be lower case" % "/".join(components),
                        "Use '%s'" % "/".join(components).lower())
        if not _PATH_COMPONENT_RE.match(component):
            raise _fail(ref, "repository path component '%s' is not valid" % component,
                        "Use lower-case letters, digits and single '.', '_', '__' or '-' between them")
    if registry == DEFAULT_REGISTRY and len(components) == 1:
        components.insert(0, "library")
    repository = "/".join(components)
    if len(registry) + 1 + len(repository) > NAME_TOTAL_LENGTH_MAX:
        raise _fail(ref, "the name is longer than %d characters" % NAME_TOTAL_LENGTH_MAX, "Use a shorter name")

    if tag is None and digest is None:
        if require_tag:
            raise _fail(ref, "it has no tag", "Add one, e.g. '%s:1.0'" % ref)
        tag = default_tag
    elif tag is None and require_tag:
        raise _fail(ref, "it has no tag", "Add one before the digest, e.g. '%s:1.0@%s'" % (rest, digest))
    return ImageRef(registry, repository, tag, digest, explicit_registry)


def tls_flags(tls_verify):
    """podman's and skopeo's ``--tls-verify=...`` for a registry, or nothing when ``tls_verify`` is None
    (registries.conf decides)."""
    if tls_verify is None:
        return []
    return ["--tls-verify=%s" % ("true" if tls_verify else "false")]
