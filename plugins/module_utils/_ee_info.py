# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inspect an Execution Environment image: what ``ee_info`` does, and the pure parts of it.

One ``podman image inspect`` gives labels, size, layers, creation date and repo digests; one
``podman run --rm`` of a small Python probe (``_probe_scripts.EE_PROBE_PY``, its input as JSON on
stdin) gives the
collections (``ansible-galaxy collection list --format json``), the Python packages of the
interpreter ansible runs with, the ansible-core and ansible-runner versions, the image user and
whether ``/runner`` is writable for root and for uid 1000.

Everything that does not need podman (requirement specs and versions in ``_requirements``, parsing
podman and ansible-galaxy output, the assertion message) is a pure function, unit tested without
podman; every podman call goes through ``_engine.Engine``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.eeforge.builder.plugins.module_utils._definition import DIGEST_LABEL
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildFamilyError, EngineError
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import (
    ImageRefError,
    split_ref,
)
from ansible_collections.eeforge.builder.plugins.module_utils._package_db import (
    RPM_QUERYFORMAT,
    parse_dpkg_status,
    parse_os_release,
    parse_rpm_query,
)
from ansible_collections.eeforge.builder.plugins.module_utils._probe_scripts import EE_PROBE_PY
from ansible_collections.eeforge.builder.plugins.module_utils._registry import (
    RegistryError,
    resolve_digest,
)
from ansible_collections.eeforge.builder.plugins.module_utils._requirements import (
    assertion_failures,
    normalize_python_name,
)
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError

PULL_POLICIES = ("always", "missing", "never")
PROBE_MARKER = "EEFORGE-EE-INFO-PROBE:"
RUNNER_DIR = "/runner"
# The uid OpenShift, Kubernetes container groups and most EE images (USER 1000) run jobs as.
RUNNER_UID = 1000


class EEInfoError(BuildFamilyError):
    """A failure with a one-line, user-actionable message (``cause`` and ``fix``)."""


# ----------------------------------------------------------------------------------------------
# Parsing podman and ansible-galaxy output (pure)
# ----------------------------------------------------------------------------------------------

def parse_collection_list(text):
    """``ansible-galaxy collection list --format json`` -> ``(versions, paths)``.

    The JSON maps each collections path (in search order) to ``{fqcn: {version}}``; the first path
    holding a collection is the one ansible loads it from, so that one wins. ansible-core's private
    collections (``ansible._protomatter``: a name part starting with ``_``, which Galaxy never
    allows) are not installed content and are left out.
    """
    text = (text or "").strip()
    if not text:
        return {}, {}
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in ansible-galaxy output")
    data = json.loads(text[start:])
    versions, paths = {}, {}
    for path, collections in data.items():
        for name, meta in (collections or {}).items():
            if name in versions or name.split(".")[-1].startswith("_"):
                continue
            version = (meta or {}).get("version")
            versions[name] = None if version in (None, "*") else to_text(version)
            paths[name] = path
    return versions, paths


def _name_matches(repo_digest_name, ref):
    """True when ``localhost/x`` or ``127.0.0.1:5000/ns/x`` names the same repository as ``ref``."""
    try:
        other = split_ref(repo_digest_name + ":latest")
    except ImageRefError:
        return False
    if other.repository == ref.repository and other.registry == ref.registry:
        return True
    # A short name podman resolved locally: 'eeforge-x' is 'localhost/eeforge-x'.
    return not ref.explicit_registry and other.registry == "localhost" and other.repository.split("/")[-1] == ref.repository.split("/")[-1]


def repo_digest_candidates(image, repo_digests):
    """The distinct ``sha256:...`` digests podman holds for ``image``'s repository, in its order.

    podman lists every name of an image with every manifest digest it stored for it, so an image
    built locally and pushed has two (the local manifest and the registry's).
    """
    try:
        ref = split_ref(image)
    except ImageRefError:
        ref = None
    found = []
    for entry in repo_digests or []:
        name, dummy, digest = entry.rpartition("@")
        if (ref is None or _name_matches(name, ref)) and digest not in found:
            found.append(digest)
    return found


def pick_repo_digest(image, repo_digests, manifest_digest=None):
    """The repo digest of ``image`` from local data: the pinned one, the only one, or podman's own."""
    try:
        ref = split_ref(image)
    except ImageRefError:
        ref = None
    if ref is not None and ref.digest:
        return ref.digest
    candidates = repo_digest_candidates(image, repo_digests)
    if manifest_digest and manifest_digest in candidates:
        return manifest_digest
    return candidates[0] if candidates else None


def needs_registry_digest(image, candidates):
    """True when only the registry can tell which of several local digests the tag has there."""
    try:
        ref = split_ref(image)
    except ImageRefError:
        return False
    return len(candidates) > 1 and not ref.digest and ref.explicit_registry and ref.registry != "localhost"


def image_facts(image, info):
    """The engine's image facts (``_engine.parse_image_inspect``) -> the image facts ee_info returns."""
    labels = info["labels"]
    return {
        "image_id": info["id"],
        "labels": labels,
        "definition_digest": labels.get(DIGEST_LABEL),
        "size": info["size"],
        "layers": info["layers"],
        "created": info["created"],
        "digest": pick_repo_digest(image, info["repo_digests"], info["manifest_digest"]),
        "digest_candidates": repo_digest_candidates(image, info["repo_digests"]),
        "repo_digests": info["repo_digests"],
        "tags": info["tags"],
        "architecture": info["architecture"],
        "os": info["os"],
        "image_user": info["user"],
        "entrypoint": info["entrypoint"],
        "env": info["env"],
    }


def parse_probe_output(stdout):
    """Find the probe's JSON document (the line after the marker) in the container's stdout."""
    for line in reversed((stdout or "").splitlines()):
        if line.startswith(PROBE_MARKER):
            return json.loads(line[len(PROBE_MARKER):])
    raise ValueError("the probe printed no result")


def summarize_probe(probe):
    """Probe JSON -> the ee_info keys that come from inside the image, plus warnings."""
    warnings = list(probe.get("warnings") or [])
    python = probe.get("python") or {}
    packages = dict(python.get("packages") or {})
    by_norm = dict((normalize_python_name(name), version) for name, version in packages.items())
    galaxy = probe.get("galaxy")
    collections, paths = {}, {}
    if galaxy is None:
        warnings.append("ansible-galaxy is not on PATH in the image: it is not an Execution Environment "
                        "(no collections can be listed)")
    elif galaxy.get("rc") != 0:
        warnings.append("ansible-galaxy collection list failed (rc=%s): %s" % (galaxy.get("rc"), galaxy.get("stderr")))
    else:
        collections, paths = parse_collection_list(galaxy.get("stdout"))
    core = python.get("ansible_core") or by_norm.get("ansible-core") or by_norm.get("ansible-base")
    runner = by_norm.get("ansible-runner")
    if runner is None:
        warnings.append("ansible-runner is not installed for %s: AWX cannot run jobs in this image"
                        % (probe.get("python_path") or "the image's python"))
    user = dict(probe.get("user") or {})
    if user.get("error"):
        warnings.append("image user '%s': %s" % (user.get("image_user"), user.pop("error")))
    return {
        "collections": collections,
        "collection_paths": paths,
        "python_packages": packages,
        "ansible_core_version": core,
        "ansible_runner_version": runner,
        "python_path": probe.get("python_path"),
        "python_version": python.get("python_version"),
        "user": user,
        "runner_writable": probe.get("runner_writable") or {},
        "runner_dir": probe.get("runner_dir") or {},
        "probe_method": probe.get("probe_method", "run"),
    }, warnings


# ----------------------------------------------------------------------------------------------
# Inspecting through the engine (the only part that runs commands)
# ----------------------------------------------------------------------------------------------

def summarize_os_inventory(probe):
    """The probe's ``os_inventory`` (raw os-release and package database text) -> ``(os_facts, warnings)``.

    ``os_facts``: ``os_release`` (parsed), ``package_db`` (``dpkg``, ``rpm`` or None) and
    ``os_packages`` (``_package_db.parse_dpkg_status``/``parse_rpm_query`` entries). An image with neither
    database gives no OS packages and a warning, not a failure (a distroless EE is still an EE).
    """
    raw = probe.get("os_inventory") or {}
    warnings = []
    db = raw.get("package_db")
    packages = []
    if raw.get("error"):
        warnings.append("the OS packages are left out of the SBOM: %s" % raw["error"])
    elif db == "dpkg":
        packages = parse_dpkg_status(raw.get("packages"))
    elif db == "rpm":
        try:
            packages = parse_rpm_query(raw.get("packages"))
        except ValueError as exc:
            warnings.append("the OS packages are left out of the SBOM: rpm -qa output is unreadable (%s)" % exc)
    else:
        warnings.append("the image has neither /var/lib/dpkg/status nor rpm: the SBOM lists no OS packages")
    return {"os_release": parse_os_release(raw.get("os_release")), "package_db": db, "os_packages": packages}, warnings


def probe_input(image_user, env=None, os_inventory=False):
    """EE_PROBE_PY's stdin: one JSON document. ``environ`` is the image's configured environment
    (what ``podman run`` sets; the chroot fallback starts from an empty one), kept off argv.
    ``os_inventory`` asks for os-release and the OS package database too (for an SBOM)."""
    environ = {"HOME": "/root"}
    for item in env or []:
        key, sep, value = to_text(item).partition("=")
        if sep and key:
            environ[key] = value
    document = {"marker": PROBE_MARKER, "runner_dir": RUNNER_DIR, "runner_uid": RUNNER_UID,
                "image_user": image_user or "", "environ": environ}
    if os_inventory:
        document["os_inventory"] = {"rpm_queryformat": RPM_QUERYFORMAT}
    return json.dumps(document)


def _last_line(text):
    lines = [line.strip() for line in to_text(text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


class EEInspector(object):
    """ee_info's use of the engine: pull by policy (never in check mode), inspect, probe.

    ``registry_auth`` is ``_registry.registry_auth`` (turns username/password into a private auth
    file for the pull). Errors raise EEInfoError with a one-line message.
    """

    def __init__(self, module, engine, registry_auth=None, check_mode=False):
        self.module = module
        self.engine = engine
        self.registry_auth = registry_auth
        self.check_mode = check_mode
        self.name = engine.name

    def exists(self, image):
        return self.engine.exists(image)

    def pull(self, image, username=None, password=None, auth_file=None, tls_verify=True, platform=None):
        try:
            ref = split_ref(image)
            with self.registry_auth(self.module, ref.registry, username, password, auth_file) as auth_path:
                self.engine.pull(image, auth_file=auth_path, tls_verify=tls_verify,
                                 platform=platform.text if platform else None)
        except ImageRefError as exc:
            raise EEInfoError("Failed to pull image '%s': %s" % (image, exc), "Fix the image reference")
        except RegistryError as exc:
            raise EEInfoError(exc.cause, exc.fix)

    def registry_digest(self, image, username=None, password=None, auth_file=None, tls_verify=True):
        """The digest the tag has in its registry now (skopeo inspect), or None when it cannot be told.

        Only with skopeo: without it ``resolve_digest`` would pull, which pull: never forbids.
        """
        if not self.engine.runner.get_bin("skopeo"):
            return None
        try:
            return resolve_digest(self.module, image, username=username, password=password, auth_file=auth_file,
                                  tls_verify=tls_verify, runtime="skopeo", timeout=min(self.engine.timeout, 60),
                                  runner=self.engine.runner)
        except RegistryError:
            return None

    def ensure_image(self, image, pull, platform=None, **auth):
        """Apply AWX's pull policy (always|missing|never): ``(pulled, would_pull)``.

        In check mode nothing is pulled: ``would_pull`` says a real run would have.
        """
        if pull == "always":
            if self.check_mode:
                return False, True
            self.pull(image, platform=platform, **auth)
            return True, False
        if self.exists(image):
            return False, False
        if pull == "never":
            raise EEInfoError("Failed to inspect execution environment '%s': the image is not in local storage and "
                              "pull is 'never'" % image, "Pull it first or use pull: missing")
        if self.check_mode:
            return False, True
        self.pull(image, platform=platform, **auth)
        return True, False

    def inspect(self, image, ref=None):
        """The facts of local ``image`` (or of ``ref``, its image for a platform)."""
        try:
            info = self.engine.inspect(ref or image)
        except EngineError as exc:
            raise EEInfoError(exc.cause.replace("Failed to inspect image", "Failed to inspect execution environment"),
                              exc.fix)
        if info is None:
            raise EEInfoError("Failed to inspect execution environment '%s': the image is not in local storage" % image,
                              "Check the reference (%s images lists the local ones)" % self.name)
        return image_facts(image, info)

    def probe(self, image, image_id, image_user, env=None, os_inventory=False):
        """EE_PROBE_PY in the image as root without network (``Engine.run_in_image``); its
        ``probe_method`` says how (``run`` or ``chroot``)."""
        try:
            out, err, method = self.engine.run_in_image(image_id, ["python3", "-c", EE_PROBE_PY],
                                                        data=probe_input(image_user, env, os_inventory),
                                                        env=env)
        except CommandError as exc:
            self._no_python3(image, exc)
            run_error = getattr(exc, "run_error", None)
            if run_error is None:
                raise EEInfoError("Failed to inspect execution environment '%s': the probe container failed (%s)"
                                  % (image, exc.summary()), "Check that '%s run %s' works on this host"
                                  % (self.name, image))
            raise EEInfoError("Failed to inspect execution environment '%s': podman cannot start a container here "
                              "(%s) and reading the image through 'podman unshare' failed too (%s)"
                              % (image, run_error.last_line(), exc.summary()),
                              "Check that '%s create %s' and '%s unshare %s mount CONTAINER' work here"
                              % (self.name, image, self.name, self.name))
        try:
            probe = parse_probe_output(to_text(out))
        except ValueError as exc:
            raise EEInfoError("Failed to inspect execution environment '%s': %s (%s)" % (image, exc, _last_line(err)),
                              "Check that the image runs python3 scripts")
        probe["probe_method"] = method
        return probe

    @staticmethod
    def _no_python3(image, exc):
        text = (exc.stderr or "").lower()
        if "python3" in text and ("not found" in text or "no such file" in text):
            raise EEInfoError("Failed to inspect execution environment '%s': the image has no python3 on PATH, so it "
                              "cannot be an Execution Environment" % image, "Build it from an EE base image")


# What ee_info returns about an image it could not look at (check mode, image not local).
UNKNOWN_KEYS = ("image_id", "digest", "definition_digest", "size", "layers", "created", "architecture", "os",
                "ansible_core_version", "ansible_runner_version", "python_path", "python_version", "probe_method")


def collect(inspector, image, pull="missing", username=None, password=None, auth_file=None, tls_verify=True,
            assert_collections=None, assert_python=None, os_inventory=False, platform=None):
    """Pull (by policy), inspect and probe ``image``; return ``(result, failures, warnings)``.

    With ``os_inventory`` the same probe also reads os-release and the OS package database; they
    are in ``result["os_inventory"]`` (``summarize_os_inventory``; None when the image was not looked at).

    ``failures`` is empty when every asserted collection and package is present at a matching version.
    In check mode nothing is pulled: an image that a real run would pull first is reported with
    ``would_pull: true`` and unknown facts (null), and its assertions are not evaluated (a warning says so).
    ``platform`` (a ``_platforms.Platform``) picks the image of a manifest list; ``result["platforms"]``
    lists the local list's platforms (a single image: its own).
    """
    auth = dict(username=username, password=password, auth_file=auth_file, tls_verify=tls_verify)
    pulled, would_pull = inspector.ensure_image(image, pull, platform=platform, **auth)
    warnings = []
    if would_pull and not inspector.exists(image):
        result = dict((key, None) for key in UNKNOWN_KEYS)
        result.update({"image": image, "pulled": False, "would_pull": True, "repo_digests": [], "tags": [],
                       "labels": {}, "collections": {}, "collection_paths": {}, "python_packages": {}, "user": {},
                       "runner_writable": {}, "runner_dir": {}, "platforms": []})
        if os_inventory:
            result["os_inventory"] = None
        warnings.append("check mode: '%s' is not in local storage and was not pulled (pull: %s), so what it holds is "
                        "unknown%s" % (image, pull, "; the assertions were not checked"
                                       if assert_collections or assert_python else ""))
        return result, {}, warnings
    if would_pull:
        warnings.append("check mode: '%s' was not pulled (pull: always); these are the facts of the local copy, which "
                        "may differ from the registry's" % image)
    from ansible_collections.eeforge.builder.plugins.module_utils._platforms import (  # pylint: disable=import-outside-toplevel
        check_image_platform,
        select_instance,
    )
    target, platforms = select_instance(inspector.engine, image, platform)
    facts = inspector.inspect(image, target)
    if platforms is None:
        platforms = check_image_platform(image, facts, platform)
    probe = inspector.probe(image, facts["image_id"], facts["image_user"], env=facts["env"], os_inventory=os_inventory)
    inside, probe_warnings = summarize_probe(probe)
    warnings += probe_warnings
    if needs_registry_digest(image, facts["digest_candidates"]):
        remote = inspector.registry_digest(image, **auth)
        if remote in facts["digest_candidates"]:
            facts["digest"] = remote
        elif remote:
            warnings.append("%s points to %s in its registry now, not to this local image; use pull: always to "
                            "inspect that one" % (image, remote))
    result = {
        "image": image,
        "image_id": facts["image_id"],
        "pulled": pulled,
        "would_pull": would_pull,
        "digest": facts["digest"],
        "repo_digests": facts["repo_digests"],
        "tags": facts["tags"],
        "labels": facts["labels"],
        "definition_digest": facts["definition_digest"],
        "size": facts["size"],
        "layers": facts["layers"],
        "created": facts["created"],
        "architecture": facts["architecture"],
        "os": facts["os"],
        "platforms": platforms,
    }
    result.update(inside)
    result["user"]["image_user"] = facts["image_user"]
    if os_inventory:
        result["os_inventory"], os_warnings = summarize_os_inventory(probe)
        warnings += os_warnings
    failures = assertion_failures(result, assert_collections, assert_python)
    return result, failures, warnings
