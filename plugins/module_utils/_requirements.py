# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Requirement specs and versions for ee_info's assertions (pure): ``containers.podman>=1.10``,
``boto3~=1.34``, ansible-galaxy's ``name:1.2``; PEP 440 and semver ordering good enough for them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.common.text.converters import to_text

# ----------------------------------------------------------------------------------------------
# Requirement specs and versions (pure)
# ----------------------------------------------------------------------------------------------

_SPEC_RE = re.compile(r"^\s*(==|!=|>=|<=|~=|>|<|=)?\s*([0-9A-Za-z*][0-9A-Za-z.*+!_-]*)\s*$")
_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_PRE_TAGS = {"dev": -4, "a": -3, "alpha": -3, "b": -2, "beta": -2, "c": -1, "rc": -1, "pre": -1, "preview": -1}


def normalize_python_name(name):
    """PEP 503 normalization: ``PyYAML`` and ``pyyaml``, ``ansible_core`` and ``ansible-core`` match."""
    return re.sub(r"[-_.]+", "-", name).lower()


def version_key(version):
    """A sort key for PEP 440 and semver versions good enough for requirement checks.

    ``1.10.0 > 1.9.3``; ``2.0.0rc1`` and ``2.0.0-beta.1`` sort before ``2.0.0``; ``.post1`` after;
    build metadata and local versions (``+...``) are ignored; a leading ``v`` and epochs are allowed.
    """
    text = to_text(version).strip().lower()
    if text.startswith("v"):
        text = text[1:]
    text = text.split("+", 1)[0]
    epoch = 0
    if "!" in text:
        head, text = text.split("!", 1)
        epoch = int(head) if head.isdigit() else 0
    match = re.match(r"^(\d+(?:\.\d+)*)(.*)$", text)
    if not match:
        return (epoch, (), (0, ()), text)
    release = [int(part) for part in match.group(1).split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    rest = match.group(2).lstrip(".-_")
    if not rest:
        phase = (0, ())
    elif rest.startswith("post") or (rest.startswith("r") and rest[1:2].isdigit()):
        phase = (1, tuple(int(n) for n in re.findall(r"\d+", rest)))
    else:
        tag = re.match(r"^([a-z]+)", rest)
        rank = _PRE_TAGS.get(tag.group(1), -1) if tag else -1
        phase = (rank, tuple(int(n) for n in re.findall(r"\d+", rest)))
    return (epoch, tuple(release), phase, "")


def _release(version):
    """The release numbers as written (``'2.19.0'`` -> ``[2, 19, 0]``), without the trailing-zero folding."""
    match = re.match(r"^v?(?:\d+!)?(\d+(?:\.\d+)*)", to_text(version).strip().lower())
    return [int(part) for part in match.group(1).split(".")] if match else []


def _wildcard_match(version, pattern):
    wanted = _release(pattern.rstrip("*").rstrip("."))
    if not wanted:
        return True
    have = _release(version) + [0] * len(wanted)
    return have[:len(wanted)] == wanted


def spec_matches(version, op, wanted):
    """True when ``version`` satisfies ``<op> <wanted>`` (``*`` wildcards with == and !=)."""
    if version is None:
        return False
    if op in ("==", "=") and "*" in wanted:
        return _wildcard_match(version, wanted)
    if op == "!=" and "*" in wanted:
        return not _wildcard_match(version, wanted)
    if wanted == "*":
        return True
    have, want = version_key(version), version_key(wanted)
    if op in ("==", "="):
        return have == want
    if op == "!=":
        return have != want
    if op == ">=":
        return have >= want
    if op == "<=":
        return have <= want
    if op == ">":
        return have > want
    if op == "<":
        return have < want
    if op == "~=":
        release = _release(wanted)
        if len(release) < 2:
            raise ValueError("'~=' needs at least two version parts, e.g. ~=1.2")
        upper = release[:-1]
        upper[-1] += 1
        return have >= want and version_key(".".join(str(p) for p in upper)) > have
    raise ValueError("unknown operator '%s'" % op)


def parse_requirement(text):
    """``'containers.podman>=1.10,<2'`` -> ``('containers.podman', [('>=', '1.10'), ('<', '2')])``.

    A bare name has no constraints; ``name:1.2`` (ansible-galaxy's spelling) means ``==1.2``,
    ``name:>=1.2`` means ``>=1.2``. Lines copied from a pip requirements file work too: an inline
    ``# comment`` and an environment marker (``; python_version >= "3.9"``) are ignored, and
    ``name @ URL`` requires the name only. Raises ValueError with a one-line reason.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty requirement")
    text = re.split(r"\s#", text, 1)[0].split(";", 1)[0].strip()
    if "@" in text:
        text = text.split("@", 1)[0].strip()
    if not text:
        raise ValueError("empty requirement")
    if ":" in text and not re.search(r"[<>=!~]", text.split(":", 1)[0]):
        name, spec = text.split(":", 1)
        if spec and not re.match(r"^\s*(==|!=|>=|<=|~=|>|<|=)", spec):
            spec = "==" + spec
        text = name + spec
    match = _NAME_RE.match(text)
    if not match:
        raise ValueError("'%s' does not start with a name" % text)
    name, rest = match.group(1), match.group(3).strip()
    constraints = []
    if rest:
        for part in rest.split(","):
            spec = _SPEC_RE.match(part)
            if not spec or (part.strip() and not spec.group(1) and spec.group(2) != "*"):
                raise ValueError("'%s' in '%s' is not '<op><version>' (op: ==, !=, >=, <=, >, <, ~=)" % (part.strip(), text))
            constraints.append((spec.group(1) or "==", spec.group(2)))
    return name, constraints


def format_requirement(name, constraints):
    return name + ",".join(op + version for op, version in constraints)


def check_requirements(installed, wanted, normalize=None):
    """Compare ``wanted`` (list of requirement strings) with ``installed`` (name -> version).

    Returns ``(missing, mismatched)``: ``missing`` lists the requirement strings whose name is
    absent; ``mismatched`` lists dicts ``{name, wanted, found}`` for names present at a version
    outside the spec. Invalid requirement strings raise ValueError.
    """
    normalize = normalize or (lambda name: name.lower())
    index = dict((normalize(name), (name, version)) for name, version in (installed or {}).items())
    missing, mismatched = [], []
    for text in wanted or []:
        name, constraints = parse_requirement(text)
        found = index.get(normalize(name))
        if found is None:
            missing.append(format_requirement(name, constraints))
            continue
        version = found[1]
        if not all(spec_matches(version, op, want) for op, want in constraints):
            mismatched.append({"name": found[0], "wanted": format_requirement(name, constraints), "found": version})
    return missing, mismatched


def assertion_failures(info, assert_collections=None, assert_python=None):
    """Return ``{'collections': {...}, 'python': {...}}`` of what is missing or at the wrong version."""
    failures = {}
    for kind, wanted, installed, normalize in (
        ("collections", assert_collections, info.get("collections"), None),
        ("python", assert_python, info.get("python_packages"), normalize_python_name),
    ):
        if not wanted:
            continue
        missing, mismatched = check_requirements(installed, wanted, normalize)
        if missing or mismatched:
            failures[kind] = {"missing": missing, "wrong_version": mismatched}
    return failures


def assertion_message(image, failures):
    """One line: ``Failed to verify execution environment 'img': missing collections: a.b; ...``."""
    parts = []
    for kind, label in (("collections", "collection"), ("python", "python package")):
        found = failures.get(kind)
        if not found:
            continue
        if found["missing"]:
            parts.append("missing %s%s: %s" % (label, "s" if len(found["missing"]) > 1 else "", ", ".join(found["missing"])))
        if found["wrong_version"]:
            parts.append("wrong %s version%s: %s" % (
                label, "s" if len(found["wrong_version"]) > 1 else "",
                ", ".join("%s is %s, wanted %s" % (m["name"], m["found"], m["wanted"]) for m in found["wrong_version"])))
    return "Failed to verify execution environment '%s': %s. Add them to the definition's dependencies and rebuild." % (
        image, "; ".join(parts))
