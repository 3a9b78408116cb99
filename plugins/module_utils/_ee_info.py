# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inspect an Execution Environment image: what ``ee_info`` does, and the pure parts of it.

One ``podman image inspect`` gives labels, size, layers, creation date and repo digests; one
``podman run --rm`` of a small Python probe (passed on stdin, never quoted into argv) gives the
collections (``ansible-galaxy collection list --format json``), the Python packages of the
interpreter ansible runs with, the ansible-core and ansible-runner versions, the image user and
whether ``/runner`` is writable for root and for uid 1000.

Everything that does not need podman (requirement specs, version comparison, parsing podman and
ansible-galaxy output, the assertion message) is a pure function, unit tested without podman.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import (
    ImageRefError,
    split_ref,
)
from ansible_collections.eeforge.builder.plugins.module_utils._registry import (
    RegistryError,
    pull_image,
    resolve_digest,
)
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError

DEFINITION_DIGEST_LABEL = "io.eeforge.definition-digest"
PULL_POLICIES = ("always", "missing", "never")
PROBE_MARKER = "EEFORGE-EE-INFO-PROBE:"
RUNNER_DIR = "/runner"
# The uid OpenShift, Kubernetes container groups and most EE images (USER 1000) run jobs as.
RUNNER_UID = 1000

# The probe runs inside the image as root (what AWX does on podman execution nodes: it passes
# --user=root). It must run on any Python 3 an EE may have, so: no f-strings, no walrus.
PROBE_SCRIPT = r'''
import errno, json, os, subprocess, sys, tempfile

MARKER = "%(marker)s"
RUNNER_DIR = "%(runner_dir)s"
RUNNER_UID = %(runner_uid)d

LIST_PACKAGES = """
import json, sys
packages = {}
try:
    from importlib import metadata
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name not in packages:
            packages[name] = dist.version
except ImportError:
    import pkg_resources
    for dist in pkg_resources.working_set:
        packages.setdefault(dist.project_name, dist.version)
core = None
try:
    from ansible.release import __version__ as core
except Exception:
    pass
print(json.dumps({"packages": packages, "ansible_core": core, "executable": sys.executable,
                  "python_version": "%%d.%%d.%%d" %% tuple(sys.version_info[:3])}))
"""


def which(name):
    for folder in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def shebang_python(script):
    try:
        with open(script, "rb") as handle:
            first = handle.readline().decode("utf-8", "replace").strip()
    except (IOError, OSError):
        return None
    if not first.startswith("#!"):
        return None
    parts = first[2:].split()
    if not parts:
        return None
    if os.path.basename(parts[0]) == "env" and len(parts) > 1:
        return which(parts[-1])
    return parts[0]


def tail(text, lines=5):
    return "\n".join(text.strip().splitlines()[-lines:])


def resolve_user(spec):
    import grp
    import pwd
    result = {"image_user": spec, "uid": 0, "gid": 0, "name": "root", "home": "/root"}
    user, _, group = (spec or "").partition(":")
    entry = None
    if user:
        try:
            entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        except (KeyError, ValueError):
            entry = None
        if entry is None and not user.isdigit():
            result.update({"uid": None, "gid": None, "name": user, "home": None,
                           "error": "user %%s is not in /etc/passwd" %% user})
            return result
        result["uid"] = entry.pw_uid if entry else int(user)
        result["gid"] = entry.pw_gid if entry else 0
        result["name"] = entry.pw_name if entry else None
        result["home"] = entry.pw_dir if entry else None
    if group:
        try:
            result["gid"] = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            result["error"] = "group %%s is not in /etc/group" %% group
    return result


def mode_allows_write(path, uid, groups):
    """What the permission bits say (where the file system is read-only, no file can be created to try)."""
    if uid == 0:
        return True
    st = os.stat(path)
    if st.st_uid == uid:
        bits = 0o300
    elif st.st_gid in groups:
        bits = 0o030
    else:
        bits = 0o003
    return st.st_mode & bits == bits


def can_write(path, uid, gid, groups):
    """Fork, drop to uid/gid/groups, create and remove a file in path."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            handle, name = tempfile.mkstemp(prefix=".ee-info-", dir=path)
            os.close(handle)
            os.unlink(name)
            code = 0
        except OSError as exc:
            code = 2 if exc.errno == errno.EROFS else 1
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1
    if code == 2:
        return mode_allows_write(path, uid, groups)
    return code == 0


def groups_of(uid, gid, extra=()):
    import grp
    import pwd
    groups = set([gid])
    groups.update(extra)
    try:
        name = pwd.getpwuid(uid).pw_name
        groups.update(g.gr_gid for g in grp.getgrall() if name in g.gr_mem)
    except KeyError:
        pass
    return sorted(groups)


def main():
    image_user = sys.argv[1] if len(sys.argv) > 1 else ""
    out = {"probe_python": sys.executable, "warnings": []}

    galaxy = which("ansible-galaxy")
    out["ansible_galaxy"] = galaxy
    python = shebang_python(galaxy) if galaxy else None
    if not python or not os.path.exists(python):
        python = sys.executable
    out["python_path"] = python

    # ansible-galaxy (about a second) and the package listing run side by side.
    galaxy_proc = None
    if galaxy:
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        galaxy_proc = subprocess.Popen([galaxy, "collection", "list", "--format", "json"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    listing = subprocess.Popen([python, "-c", LIST_PACKAGES], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = listing.communicate()
    if listing.returncode == 0:
        out["python"] = json.loads(stdout.decode("utf-8"))
    else:
        out["python"] = None
        out["warnings"].append("listing the packages of %%s failed: %%s" %% (python, tail(stderr.decode("utf-8", "replace"))))

    out["ansible_runner"] = which("ansible-runner")
    out["galaxy"] = None
    if galaxy_proc is not None:
        stdout, stderr = galaxy_proc.communicate()
        out["galaxy"] = {"rc": galaxy_proc.returncode, "stdout": stdout.decode("utf-8", "replace"),
                         "stderr": tail(stderr.decode("utf-8", "replace"), 10)}

    user = resolve_user(image_user)
    out["user"] = user
    runner = {"path": RUNNER_DIR, "exists": os.path.isdir(RUNNER_DIR)}
    if runner["exists"]:
        st = os.stat(RUNNER_DIR)
        runner.update({"uid": st.st_uid, "gid": st.st_gid, "mode": "%%04o" %% (st.st_mode & 0o7777)})
    out["runner_dir"] = runner
    writable = {"root": False, "uid_%%d" %% RUNNER_UID: False, "image_user": False}
    if runner["exists"]:
        writable["root"] = can_write(RUNNER_DIR, 0, 0, [0])
        gid = 0
        try:
            import pwd
            gid = pwd.getpwuid(RUNNER_UID).pw_gid
        except KeyError:
            pass
        writable["uid_%%d" %% RUNNER_UID] = can_write(RUNNER_DIR, RUNNER_UID, gid, groups_of(RUNNER_UID, gid, [0]))
        if user.get("uid") is not None:
            writable["image_user"] = can_write(RUNNER_DIR, user["uid"], user["gid"],
                                               groups_of(user["uid"], user["gid"]))
    out["runner_writable"] = writable
    sys.stdout.write("\n" + MARKER + json.dumps(out) + "\n")


main()
''' % {"marker": PROBE_MARKER, "runner_dir": RUNNER_DIR, "runner_uid": RUNNER_UID}


# Where podman cannot start a container (an AWX job: no CAP_SYS_ADMIN, /proc masked, so the OCI
# runtime cannot mount proc), the probe runs in podman's user namespace, chrooted into the file
# system of a container that is created and mounted but never started (writable, unlike
# ``podman image mount``: ansible-galaxy needs ~/.ansible/tmp), then removed. Like ee_build's base
# image probe, it needs no /proc. The environment is the image's: PATH on argv ($3), the rest on
# stdin ahead of the probe (see chroot_probe_input). $1 podman, $2 image, $3 PATH, then the probe's
# own arguments.
PROBE_CHROOT_SCRIPT = r"""podman=$1 image=$2 path=$3
shift 3
cid=$("$podman" create --pull=never --network=none --entrypoint=python3 "$image") || exit 125
root=$("$podman" mount "$cid") || { "$podman" rm --force "$cid" >/dev/null; exit 125; }
chroot "$root" env -i PATH="$path" python3 - "$@"
rc=$?
"$podman" rm --force "$cid" >/dev/null
exit $rc
"""
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Signs in podman run's stderr that the OCI runtime could not set the container up here (as
# opposed to the image's command failing).
_NESTED_RUNTIME_ERRORS = ("mount `proc`", "mount proc", "/proc/sys/", "ping_group_range", "cap_sys_admin",
                          "operation not permitted", "permission denied", "read-only file system")
_OCI_RUNTIME_WORDS = ("oci runtime", "crun:", "runc:", "runc create failed", "crun create failed")


class EEInfoError(Exception):
    """A failure with a one-line, user-actionable message."""


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


def parse_image_inspect(image, text):
    """``podman image inspect`` JSON -> the image facts ee_info returns."""
    data = json.loads(text)
    if isinstance(data, list):
        if not data:
            raise ValueError("podman image inspect returned an empty list")
        data = data[0]
    config = data.get("Config") or {}
    labels = config.get("Labels") or data.get("Labels") or {}
    layers = (data.get("RootFS") or {}).get("Layers") or []
    return {
        "image_id": data.get("Id"),
        "labels": dict(labels),
        "definition_digest": labels.get(DEFINITION_DIGEST_LABEL),
        "size": data.get("Size"),
        "layers": len(layers),
        "created": data.get("Created"),
        "digest": pick_repo_digest(image, data.get("RepoDigests"), data.get("Digest")),
        "digest_candidates": repo_digest_candidates(image, data.get("RepoDigests")),
        "repo_digests": list(data.get("RepoDigests") or []),
        "tags": list(data.get("RepoTags") or []),
        "architecture": data.get("Architecture"),
        "os": data.get("Os"),
        "image_user": config.get("User") if config.get("User") is not None else (data.get("User") or ""),
        "entrypoint": config.get("Entrypoint"),
        "env": list(config.get("Env") or []),
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
# podman (the only part that runs commands)
# ----------------------------------------------------------------------------------------------

def cannot_start_containers(stderr):
    """True when podman run's error says the OCI runtime cannot set a container up here (nested, unprivileged)."""
    text = to_text(stderr or "").lower()
    return any(word in text for word in _OCI_RUNTIME_WORDS) and any(sign in text for sign in _NESTED_RUNTIME_ERRORS)


def image_path(env):
    """The PATH in the image's configured environment (``KEY=VALUE`` list), or the usual default."""
    for item in env or []:
        key, sep, value = to_text(item).partition("=")
        if sep and key == "PATH" and value:
            return value
    return DEFAULT_PATH


def chroot_probe_input(env):
    """The chroot probe's stdin: the image's environment (as podman run would set it), then PROBE_SCRIPT."""
    environ = {"HOME": "/root"}
    for item in env or []:
        key, sep, value = to_text(item).partition("=")
        if sep and key:
            environ[key] = value
    return "import os\nos.environ.update(%s)\n%s" % (json.dumps(environ), PROBE_SCRIPT)


def _last_line(text):
    lines = [line.strip() for line in to_text(text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


class EEInspector(object):
    """Runs the container runtime for ee_info: pull by policy, inspect, probe.

    ``runner`` is the collection's CommandRunner (argv lists through ``module.run_command``);
    ``runtime`` is ``podman`` (or ``docker``, same commands without podman's own options).
    Errors raise EEInfoError with a one-line message.
    """

    def __init__(self, module, runner, runtime="podman", timeout=3600):
        self.module = module
        self.runner = runner
        self.runtime = runtime
        self.timeout = timeout
        self.binary = runner.get_bin(runtime)
        if not self.binary:
            raise EEInfoError("Failed to find container runtime '%s': it is not installed or not in PATH. Install %s "
                              "or set container_runtime." % (runtime, runtime))

    def exists(self, image):
        rc, dummy, dummy = self.runner.run([self.binary, "image", "inspect", image], check=False)
        return rc == 0

    def pull(self, image, username=None, password=None, auth_file=None, tls_verify=True):
        try:
            pull_image(self.module, image, username=username, password=password, auth_file=auth_file,
                       tls_verify=tls_verify, runtime=self.runtime, timeout=self.timeout, runner=self.runner)
        except RegistryError as exc:
            raise EEInfoError(str(exc))

    def registry_digest(self, image, username=None, password=None, auth_file=None, tls_verify=True):
        """The digest the tag has in its registry now (skopeo inspect), or None when it cannot be told.

        Only with skopeo: without it ``resolve_digest`` would pull, which pull: never forbids.
        """
        if not self.runner.get_bin("skopeo"):
            return None
        try:
            return resolve_digest(self.module, image, username=username, password=password, auth_file=auth_file,
                                  tls_verify=tls_verify, runtime="skopeo", timeout=min(self.timeout, 60),
                                  runner=self.runner)
        except RegistryError:
            return None

    def ensure_image(self, image, pull, **auth):
        """Apply AWX's pull policy (always|missing|never); return True when the image was pulled."""
        if pull == "always":
            self.pull(image, **auth)
            return True
        if self.exists(image):
            return False
        if pull == "never":
            raise EEInfoError(
                "Failed to inspect execution environment '%s': the image is not in local storage and pull is 'never'. "
                "Pull it first or use pull: missing." % image)
        self.pull(image, **auth)
        return True

    def inspect(self, image):
        try:
            dummy, out, dummy = self.runner.run([self.binary, "image", "inspect", image])
        except CommandError as exc:
            raise EEInfoError("Failed to inspect execution environment '%s': %s. Check the reference "
                              "(%s images lists the local ones)." % (image, exc.last_line() or exc.summary(), self.runtime))
        try:
            return parse_image_inspect(image, out)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise EEInfoError("Failed to inspect execution environment '%s': unreadable %s image inspect output "
                              "(%s). Check the %s installation." % (image, self.runtime, exc, self.runtime))

    def probe(self, image, image_id, image_user, env=None):
        """One ``run --rm`` of PROBE_SCRIPT (on stdin, never in argv) as root, without network.

        Where podman cannot start a container (an AWX job), the same probe runs chrooted into the
        file system of a created (never started) container, mounted in podman's user namespace. The result's ``probe_method`` says
        which (``run`` or ``chroot``).
        """
        argv = [self.binary, "run", "--rm", "--interactive", "--pull=never", "--network=none", "--user=0",
                "--entrypoint=python3"]
        if self.runtime == "podman":
            argv += ["--timeout=%d" % self.timeout, "--log-driver=none"]
        argv += [image_id, "-", image_user or ""]
        method = "run"
        try:
            dummy, out, err = self.runner.run(argv, data=PROBE_SCRIPT, binary_data=False, timeout=self.timeout + 30)
        except CommandError as exc:
            self._no_python3(image, exc)
            if self.runtime != "podman" or not cannot_start_containers(exc.stderr):
                raise EEInfoError("Failed to inspect execution environment '%s': the probe container failed (%s). "
                                  "Check that '%s run %s' works on this host."
                                  % (image, exc.summary(), self.runtime, image))
            method = "chroot"
            out, err = self._probe_chroot(image, image_id, image_user, env, exc)
        try:
            probe = parse_probe_output(to_text(out))
        except ValueError as exc:
            raise EEInfoError("Failed to inspect execution environment '%s': %s (%s). Check that the image runs "
                              "python3 scripts." % (image, exc, _last_line(err)))
        probe["probe_method"] = method
        return probe

    @staticmethod
    def _no_python3(image, exc):
        text = (exc.stderr or "").lower()
        if "python3" in text and ("not found" in text or "no such file" in text):
            raise EEInfoError("Failed to inspect execution environment '%s': the image has no python3 on PATH, so it "
                              "cannot be an Execution Environment. Build it from an EE base image." % image)

    def _probe_chroot(self, image, image_id, image_user, env, run_error):
        argv = [self.binary, "unshare", "/bin/sh", "-c", PROBE_CHROOT_SCRIPT, "probe", self.binary, image_id,
                image_path(env), image_user or ""]
        try:
            dummy, out, err = self.runner.run(argv, data=chroot_probe_input(env), binary_data=False,
                                              timeout=self.timeout + 30)
        except CommandError as exc:
            self._no_python3(image, exc)
            raise EEInfoError("Failed to inspect execution environment '%s': podman cannot start a container here "
                              "(%s) and reading the image through 'podman unshare' failed too (%s). Check that "
                              "'%s create %s' and '%s unshare %s mount CONTAINER' work here."
                              % (image, run_error.last_line(), exc.summary(), self.runtime, image, self.runtime,
                                 self.runtime))
        return out, err


def collect(inspector, image, pull="missing", username=None, password=None, auth_file=None, tls_verify=True,
            assert_collections=None, assert_python=None):
    """Pull (by policy), inspect and probe ``image``; return ``(result, failures, warnings)``.

    ``failures`` is empty when every asserted collection and package is present at a matching version.
    """
    auth = dict(username=username, password=password, auth_file=auth_file, tls_verify=tls_verify)
    pulled = inspector.ensure_image(image, pull, **auth)
    facts = inspector.inspect(image)
    probe = inspector.probe(image, facts["image_id"], facts["image_user"], env=facts["env"])
    inside, warnings = summarize_probe(probe)
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
    }
    result.update(inside)
    result["user"]["image_user"] = facts["image_user"]
    failures = assertion_failures(result, assert_collections, assert_python)
    return result, failures, warnings
