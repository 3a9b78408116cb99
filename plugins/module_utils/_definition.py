# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-builder v3 definitions: load, validate, resolve referenced files, normalize, digest.

Pure functions (no podman, no ansible-builder CLI), so unit tests need nothing but files.

- ``load_definition_file(path)`` -> dict
- ``validate_definition(definition, name)`` -> None, raises ``DefinitionError`` naming the key
- ``resolve_definition(definition, base_dir)`` -> ``ResolvedDefinition``: every file the
  definition pulls in (requirements files, ``additional_build_files`` matches, local collection
  tarballs) as absolute paths with their sha256, plus a derived definition that refers to
  them by absolute path and to local tarballs by their path inside the build (``/build/...``)
- ``definition_digest(resolved, build_args, builder_version, extra)`` -> ``sha256:...`` over the
  normalized definition, the bytes of every referenced file, the build args, the
  ansible-builder version and ``extra`` (anything else that changes the image).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import glob
import hashlib
import json
import os
import sys
from contextlib import contextmanager

try:
    import yaml
    HAS_YAML = True
    # libyaml's loader where PyYAML has it: the same documents, about 7x faster (a no-op run reads one).
    SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    HAS_YAML = False

DIGEST_LABEL = "io.eeforge.definition-digest"
# The normalized definition an image was built from (compact JSON), read back for --diff.
DEFINITION_LABEL = "io.eeforge.definition"
DEFINITION_LABEL_MAX = 32768
# ansible-builder's own default base image for a v3 definition without images.base_image
# (ansible_builder.constants.build_arg_defaults['EE_BASE_IMAGE'] in ansible-builder 3.x).
BUILDER_DEFAULT_BASE_IMAGE = "quay.io/ansible/ansible-runner:latest"
# Bump when ee_build changes how it turns a definition into a build context (adapters, secret
# mounts ...), so that images built the old way are rebuilt.
RECIPE_VERSION = "1"
# Where local collection tarballs go in the context (_build/<dir>) and in the galaxy stage.
COLLECTIONS_DEST = "eeforge-collections"
COLLECTIONS_IN_BUILD = "/build/" + COLLECTIONS_DEST

_TOP_KEYS = ("version", "build_arg_defaults", "dependencies", "images", "additional_build_steps",
             "additional_build_files", "options")


@contextmanager
def without_format_grammars():
    """Imports of jsonschema (and of ansible-builder's schema, which imports it) without rfc3987-syntax.

    jsonschema >= 4.25 registers an 'iri' format checker when rfc3987-syntax is installed, and importing
    rfc3987-syntax compiles its Lark grammars: about a second, paid by every run that validates a
    definition. cyclonedx-python-lib (ee_info's SBOM) installs it, through jsonschema[format-nongpl].
    Definitions are validated without a format checker, so nothing here uses it; an already imported
    jsonschema or rfc3987-syntax is left as it is.
    """
    blocked = "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules
    if blocked:
        sys.modules["rfc3987_syntax"] = None  # ``import rfc3987_syntax`` raises ImportError, as when absent
    try:
        yield
    finally:
        if blocked and "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is None:
            del sys.modules["rfc3987_syntax"]


class DefinitionError(Exception):
    """A definition problem; the text is one line: ``Failed to <verb> ... '<name>': <cause>. <fix>``."""


def _fail(name, cause, fix, verb="validate execution environment definition"):
    return DefinitionError("Failed to %s '%s': %s. %s" % (verb, name, cause, fix))


def load_definition_file(path):
    """Read a YAML definition file; raise DefinitionError (one line) when it cannot be used."""
    if os.path.isdir(path):
        raise _fail(path, "it is a directory", "Give the path of the definition file (execution-environment.yml)",
                    verb="read definition file")
    if not os.path.isfile(path):
        raise _fail(path, "the file does not exist", "Check definition_file", verb="read definition file")
    try:
        with open(path, "rb") as handle:
            data = yaml.load(handle.read().decode("utf-8"), Loader=SAFE_LOADER)  # nosec: a safe loader
    except (IOError, OSError) as exc:
        raise _fail(path, exc.strerror or str(exc), "Check the file's permissions", verb="read definition file")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise _fail(path, "YAML error%s: %s" % (where, problem), "Fix the YAML syntax", verb="read definition file")
    except UnicodeDecodeError:
        raise _fail(path, "it is not UTF-8 text", "Save it as UTF-8", verb="read definition file")
    if not isinstance(data, dict):
        raise _fail(path, "the file holds a %s, not a mapping" % type(data).__name__,
                    "A definition is a YAML mapping with 'version: 3'", verb="read definition file")
    return data


def _path_text(path):
    parts = []
    for item in path:
        if isinstance(item, int):
            parts.append("[%d]" % item)
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def validate_definition(definition, name="inline definition", schema=None):
    """Validate ``definition`` against ansible-builder's v3 JSON schema (``schema``) and a few
    rules of ours. Raises DefinitionError whose text names the key and what was expected.

    ``schema`` is ``ansible_builder.ee_schema.schema_v3``; None skips the schema part (unit tests
    of the rules below).
    """
    if not isinstance(definition, dict):
        raise _fail(name, "the definition is a %s, not a mapping" % type(definition).__name__,
                    "Give a dict with 'version: 3'")
    version = definition.get("version")
    if version is None:
        raise _fail(name, "key 'version' is missing", "ee_build needs an ansible-builder v3 definition: add 'version: 3'")
    try:
        version_int = int(version)
    except (TypeError, ValueError):
        raise _fail(name, "'version' is %r, not a number" % (version,), "Use 'version: 3'")
    if version_int != 3:
        raise _fail(name, "version %s is not supported" % version,
                    "ee_build needs an ansible-builder v3 definition (see 'ansible-builder' docs on migrating to v3)")
    if schema is not None:
        with without_format_grammars():
            from jsonschema import Draft7Validator  # pylint: disable=import-outside-toplevel
            from jsonschema.exceptions import best_match  # pylint: disable=import-outside-toplevel
        error = best_match(Draft7Validator(schema).iter_errors(definition))
        if error is not None:
            where = _path_text(error.absolute_path)
            message = error.message
            if error.validator in ("anyOf", "oneOf"):
                kinds = []
                for sub in error.validator_value:
                    kind = sub.get("type")
                    if kind == "array" and (sub.get("items") or {}).get("type"):
                        kind = "list of %ss" % sub["items"]["type"]
                    if kind and kind not in kinds:
                        kinds.append(kind)
                if kinds:
                    message = "%r is not of type %s" % (error.instance, " or ".join(kinds))
            if error.validator == "additionalProperties":
                fix = "Remove or rename the key; allowed keys are in the ansible-builder v3 schema"
            elif error.validator in ("type", "anyOf", "oneOf"):
                fix = "Use a value of the expected type"
            else:
                fix = "See the ansible-builder v3 definition reference"
            raise _fail(name, "at '%s': %s" % (where, message.replace("\n", " ")), fix)
    image = base_image_name(definition)
    last = image.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in image:
        raise _fail(name, "base image '%s' has no tag" % image, "Add a tag, e.g. '%s:latest'" % image)
    for index, entry in enumerate(definition.get("additional_build_files") or []):
        dest = entry.get("dest", "")
        if os.path.isabs(dest) or ".." in dest.split("/"):
            raise _fail(name, "at 'additional_build_files[%d].dest': '%s' must be relative and without '..'"
                        % (index, dest), "Use a path relative to the build context, e.g. 'configs'")


def builder_default_base_image():
    """The base image ansible-builder uses when a v3 definition names none (read from the installed
    ansible-builder, so this follows its version)."""
    try:
        from ansible_builder import constants  # pylint: disable=import-outside-toplevel
        return constants.build_arg_defaults["EE_BASE_IMAGE"]
    except (ImportError, KeyError, AttributeError):
        return BUILDER_DEFAULT_BASE_IMAGE


def base_image_name(definition):
    """The base image the build uses: ``images.base_image.name``, else the definition's
    ``build_arg_defaults.EE_BASE_IMAGE``, else ansible-builder's default (as ansible-builder does)."""
    base = ((definition.get("images") or {}).get("base_image") or {}).get("name")
    if base:
        return base
    return (definition.get("build_arg_defaults") or {}).get("EE_BASE_IMAGE") or builder_default_base_image()


def definition_label(normalized):
    """Compact JSON of a normalized definition for DEFINITION_LABEL, or None when it is too large for a label."""
    text = json.dumps(normalized, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= DEFINITION_LABEL_MAX else None


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _lines(value):
    """Inline requirement text or list -> stripped non-empty lines (comments kept: they may be pip options)."""
    if isinstance(value, str):
        value = value.splitlines()
    return [line.strip() for line in value if isinstance(line, str) and line.strip()]


class ReferencedFile(object):
    """A file the definition pulls into the build: where it is, what it is, its sha256."""

    def __init__(self, kind, spec, path, sha256, name):
        self.kind = kind      # python | system | galaxy | exclude_python | additional_build_file | collection
        self.spec = spec      # as the user wrote it
        self.path = path      # absolute path on this host
        self.sha256 = sha256
        self.name = name      # name that matters in the build (dest/relative name), part of the digest

    def as_dict(self):
        return {"kind": self.kind, "spec": self.spec, "path": self.path, "sha256": self.sha256, "name": self.name}


class ResolvedDefinition(object):
    """Result of ``resolve_definition``.

    ``normalized``: canonical data for the digest (file refs replaced by their sha256);
    ``derived``: the definition handed to ``ansible-builder create`` (absolute paths, inline
    galaxy requirements with tarballs at their in-build paths); ``files``: ReferencedFile list.
    """

    def __init__(self, normalized, derived, files, base_image):
        self.normalized = normalized
        self.derived = derived
        self.files = files
        self.base_image = base_image


def _resolve_path(spec, base_dir, what, name):
    path = os.path.expanduser(spec)
    if not os.path.isabs(path):
        if base_dir is None:
            raise _fail(name, "%s '%s' is a relative path and there is no directory to resolve it against" % (what, spec),
                        "Set project_dir (inline definitions) or use an absolute path", verb="resolve files of")
        path = os.path.join(base_dir, path)
    path = os.path.normpath(path)
    if not os.path.exists(path):
        raise _fail(name, "%s '%s' does not exist (looked at %s)" % (what, spec, path),
                    "Fix the path; relative paths resolve against the definition file's directory or project_dir",
                    verb="resolve files of")
    return path


def _walk_files(path):
    if os.path.isfile(path):
        return [(os.path.basename(path), path)]
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for fname in sorted(files):
            full = os.path.join(root, fname)
            found.append((os.path.join(os.path.basename(path), os.path.relpath(full, path)), full))
    return found


def _load_galaxy(value, base_dir, name, files):
    """Galaxy requirements as a dict, from a file path, an inline dict, a list of lines or text."""
    if isinstance(value, dict):
        return copy.deepcopy(value), base_dir
    if isinstance(value, list) or (isinstance(value, str) and "\n" in value):
        text = "\n".join(value) if isinstance(value, list) else value
        try:
            data = yaml.load(text, Loader=SAFE_LOADER) or {}  # nosec: a safe loader
        except yaml.YAMLError as exc:
            raise _fail(name, "inline galaxy requirements are not valid YAML (%s)" % str(exc).splitlines()[0],
                        "Fix 'dependencies.galaxy'")
        return data, base_dir
    path = _resolve_path(value, base_dir, "galaxy requirements file", name)
    files.append(ReferencedFile("galaxy", value, path, sha256_file(path), "requirements.yml"))
    try:
        with open(path, "rb") as handle:
            data = yaml.load(handle.read().decode("utf-8"), Loader=SAFE_LOADER) or {}  # nosec: a safe loader
    except yaml.YAMLError as exc:
        raise _fail(name, "galaxy requirements file '%s' is not valid YAML (%s)" % (value, str(exc).splitlines()[0]),
                    "Fix the file")
    return data, os.path.dirname(path)


def _is_local_collection(entry, base_dirs):
    """(is_local, spec) for a galaxy collection entry that names a local tarball."""
    if isinstance(entry, str):
        spec, ctype = entry, None
    elif isinstance(entry, dict):
        spec, ctype = entry.get("name") or entry.get("source"), entry.get("type")
    else:
        return False, None
    if not isinstance(spec, str):
        return False, None
    if ctype == "file":
        return True, spec
    if ctype in (None,) and spec.endswith((".tar.gz", ".tgz")) and not spec.startswith(("http://", "https://")):
        return True, spec
    return False, None


def _resolve_galaxy(requirements, req_dirs, name, files, extra_build_files):
    if not isinstance(requirements, dict):
        if isinstance(requirements, list):  # old style: a bare list of roles
            return requirements
        raise _fail(name, "galaxy requirements are a %s, not a mapping with 'collections'/'roles'"
                    % type(requirements).__name__, "Fix 'dependencies.galaxy'")
    result = copy.deepcopy(requirements)
    collections = result.get("collections") or []
    seen = {}
    for index, entry in enumerate(collections):
        local, spec = _is_local_collection(entry, req_dirs)
        if not local:
            continue
        if spec.startswith("/build/"):
            # already an in-build path (the user copies it with additional_build_files)
            continue
        path = None
        for base in req_dirs:
            candidate = os.path.normpath(os.path.join(base, os.path.expanduser(spec))) if base else spec
            if os.path.isfile(candidate):
                path = candidate
                break
        if path is None:
            path = _resolve_path(spec, req_dirs[0], "collection tarball", name)
            if not os.path.isfile(path):
                raise _fail(name, "collection tarball '%s' is not a file" % spec, "Point at a .tar.gz file",
                            verb="resolve files of")
        base = os.path.basename(path)
        if base in seen and seen[base] != path:
            raise _fail(name, "two collection tarballs are both named '%s'" % base, "Rename one of them",
                        verb="resolve files of")
        seen[base] = path
        files.append(ReferencedFile("collection", spec, path, sha256_file(path), base))
        extra_build_files.append({"src": path, "dest": COLLECTIONS_DEST})
        new_entry = {"name": "%s/%s" % (COLLECTIONS_IN_BUILD, base), "type": "file"}
        collections[index] = new_entry
    if collections:
        result["collections"] = collections
    return result


def resolve_definition(definition, base_dir, name="inline definition"):
    """Resolve every file ``definition`` refers to against ``base_dir``; see ResolvedDefinition.

    Raises DefinitionError (one line) for a missing file or a glob that matches nothing.
    """
    files = []
    derived = copy.deepcopy(definition)
    derived["version"] = 3
    deps = derived.get("dependencies") or {}
    normalized_deps = {}
    extra_build_files = []

    for key in ("python", "system"):
        value = deps.get(key)
        if value is None:
            continue
        if isinstance(value, list) or (isinstance(value, str) and "\n" in value):
            normalized_deps[key] = _lines(value)
            continue
        path = _resolve_path(value, base_dir, "%s requirements file" % key, name)
        sha = sha256_file(path)
        files.append(ReferencedFile(key, value, path, sha, key))
        deps[key] = path
        normalized_deps[key] = {"file_sha256": sha}

    if deps.get("galaxy") is not None:
        requirements, req_dir = _load_galaxy(deps["galaxy"], base_dir, name, files)
        req_dirs = [d for d in (base_dir, req_dir) if d]
        galaxy = _resolve_galaxy(requirements, req_dirs or [None], name, files, extra_build_files)
        deps["galaxy"] = galaxy
        # Tarball entries are normalized to their in-build path; the tarball bytes are in files.
        normalized_deps["galaxy"] = galaxy

    for key in ("python_interpreter", "ansible_core", "ansible_runner", "exclude"):
        if deps.get(key) is not None:
            normalized_deps[key] = copy.deepcopy(deps[key])
    if deps:
        derived["dependencies"] = deps

    build_files = []
    normalized_files = []
    for index, entry in enumerate(derived.get("additional_build_files") or []):
        src, dest = entry.get("src"), entry.get("dest")
        if os.path.isabs(os.path.expanduser(src)):
            matches = sorted(glob.glob(os.path.expanduser(src)))
        else:
            if base_dir is None:
                raise _fail(name, "additional_build_files[%d].src '%s' is relative and there is no directory to "
                            "resolve it against" % (index, src), "Set project_dir or use an absolute path",
                            verb="resolve files of")
            matches = sorted(glob.glob(os.path.join(base_dir, src)))
        if not matches:
            raise _fail(name, "additional_build_files[%d].src '%s' matches no file" % (index, src),
                        "Fix the path or glob; it resolves against the definition file's directory or project_dir",
                        verb="resolve files of")
        for match in matches:
            build_files.append({"src": match, "dest": dest})
            for rel, full in _walk_files(match):
                sha = sha256_file(full)
                files.append(ReferencedFile("additional_build_file", src, full, sha, os.path.join(dest, rel)))
                normalized_files.append({"dest": os.path.join(dest, rel), "sha256": sha})
    build_files.extend(extra_build_files)
    if build_files:
        derived["additional_build_files"] = build_files

    normalized = {}
    for key in _TOP_KEYS:
        value = definition.get(key)
        if value in (None, {}, []):
            continue
        if key == "version":
            normalized[key] = int(value)
        elif key == "dependencies":
            normalized[key] = normalized_deps
        elif key == "additional_build_files":
            normalized[key] = sorted(normalized_files, key=lambda item: (item["dest"], item["sha256"]))
        elif key == "additional_build_steps":
            normalized[key] = dict((section, _lines(steps)) for section, steps in value.items() if steps)
        else:
            normalized[key] = copy.deepcopy(value)
    return ResolvedDefinition(normalized, derived, files, base_image_name(definition))


def definition_digest(resolved, build_args=None, builder_version="", extra=None):
    """``sha256:<hex>`` over the normalized definition, every referenced file's bytes (by sha256 and
    the name it gets in the build), the build args, the ansible-builder version and ``extra``."""
    payload = {
        "recipe": RECIPE_VERSION,
        "definition": resolved.normalized,
        "files": sorted([[f.kind, f.name, f.sha256] for f in resolved.files]),
        "build_args": dict((str(k), "" if v is None else str(v)) for k, v in (build_args or {}).items()),
        "ansible_builder": builder_version or "",
        "extra": extra or {},
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def dump_definition(definition):
    """YAML text of a (derived) definition, as ansible-builder reads it."""
    return yaml.safe_dump(definition, default_flow_style=False, sort_keys=True)
