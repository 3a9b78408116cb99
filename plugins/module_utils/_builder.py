# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn a resolved definition into a build context (``ansible-builder create``) and an image
(``podman build`` / ``docker build``).

What it adds to what ansible-builder generates:

- Debian/Ubuntu bases (no dnf/microdnf, apt-get present): an apt adapter as
  ``options.package_manager_path`` (ansible-builder calls the package manager dnf-style:
  ``install -y ...``, ``clean all``), and ``options.skip_pip_install`` (Debian's system Python
  refuses ``ensurepip``) with ``python3-pip`` installed by apt when the base has no pip.
  The user's own ``package_manager_path`` / ``skip_pip_install`` always win.
- Build-time settings that must not end up in a layer (Galaxy/Hub server and token, pip index
  URLs, CA bundle paths) are written to one shell env file passed as a build secret
  (``--secret id=eeforge_env``) and sourced by every ``RUN`` through
  ``--mount=type=secret``: it lives in a tmpfs during each step only.
- ``ca_certificates``: PEM files copied into the context and installed into the image's trust
  store in the base stage (so every later stage and the final image trust them).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import tempfile
import time

from ansible_collections.eeforge.builder.plugins.module_utils._definition import (
    DIGEST_LABEL,
    DefinitionError,
    definition_digest,
    dump_definition,
    load_definition_file,
    resolve_definition,
    sha256_file,
    validate_definition,
)
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import ImageRef, ImageRefError, split_ref
from ansible_collections.eeforge.builder.plugins.module_utils._registry import (
    inspect_remote,
    push_image,
    registry_auth,
    registry_error,
)
from ansible_collections.eeforge.builder.plugins.module_utils._runner import (
    CommandError,
    private_tempdir,
    write_private_file,
)

try:
    from shlex import quote as shell_quote
except ImportError:  # pragma: no cover
    from pipes import quote as shell_quote  # pylint: disable=deprecated-module

HELPERS_DEST = "eeforge"                       # _build/eeforge in the context
HELPERS_IN_IMAGE = "/output/eeforge"           # purged with /output at the end of the final stage
APT_ADAPTER = HELPERS_IN_IMAGE + "/apt-dnf-adapter"
SECRET_ID = "eeforge_env"
SECRET_TARGET = "/run/secrets/eeforge_env"
GALAXY_SERVER_NAME = "eeforge_hub"

APT_ADAPTER_SCRIPT = r"""#!/bin/sh
# eeforge.builder apt adapter (options.package_manager_path on Debian/Ubuntu bases).
# ansible-builder's scripts call the package manager dnf-style: "install -y [dnf opts] pkgs"
# and "clean all"; this translates those calls to apt-get.
set -eu
export DEBIAN_FRONTEND=noninteractive
cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  install)
    pkgs=""
    skip=""
    for arg in "$@"; do
      if [ -n "$skip" ]; then skip=""; continue; fi
      case "$arg" in
        -y|--assumeyes|--nodocs|--best|--allowerasing|--quiet|-q) ;;
        --setopt|--enablerepo|--disablerepo) skip=1 ;;
        --setopt=*|--enablerepo=*|--disablerepo=*) ;;
        -*) echo "eeforge apt adapter: ignoring dnf option $arg" >&2 ;;
        *) pkgs="$pkgs $arg" ;;
      esac
    done
    [ -n "$pkgs" ] || exit 0
    if ! ls /var/lib/apt/lists/ 2>/dev/null | grep -q '_Packages'; then
      apt-get update -qq
    fi
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $pkgs
    ;;
  clean)
    apt-get clean
    rm -rf /var/lib/apt/lists/*
    ;;
  remove|erase)
    apt-get remove -y "$@"
    ;;
  *)
    echo "eeforge apt adapter: unsupported package manager command '$cmd'" >&2
    exit 2
    ;;
esac
"""

INSTALL_CA_SCRIPT = r"""#!/bin/sh
# eeforge.builder: add the PEM files in /output/eeforge/ca to the image's trust store.
set -eu
src=/output/eeforge/ca
if command -v update-ca-trust >/dev/null 2>&1; then
  mkdir -p /etc/pki/ca-trust/source/anchors
  cp "$src"/*.crt /etc/pki/ca-trust/source/anchors/
  update-ca-trust extract
elif command -v update-ca-certificates >/dev/null 2>&1; then
  mkdir -p /usr/local/share/ca-certificates/eeforge
  cp "$src"/*.crt /usr/local/share/ca-certificates/eeforge/
  update-ca-certificates
else
  for bundle in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
    if [ -f "$bundle" ]; then cat "$src"/*.crt >> "$bundle"; fi
  done
fi
"""

# Sourced by every RUN when ca_certificates are given: point pip/requests/openssl at the
# system bundle (which then contains the extra CAs) instead of pip's own certifi copy.
CA_ENV_SNIPPET = r"""for eeforge_bundle in /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/certs/ca-certificates.crt; do
  if [ -f "$eeforge_bundle" ]; then
    export PIP_CERT="$eeforge_bundle" REQUESTS_CA_BUNDLE="$eeforge_bundle" SSL_CERT_FILE="$eeforge_bundle"
    break
  fi
done
"""

PROBE_SCRIPT = r"""for b in /usr/bin/dnf /usr/bin/microdnf /usr/bin/yum /usr/bin/apt-get; do
  if [ -x "$b" ]; then echo "bin=$b"; fi
done
if "$1" -m pip --version >/dev/null 2>&1; then echo "pip=yes"; else echo "pip=no"; fi
if [ -x "$1" ]; then echo "python=yes"; else echo "python=no"; fi
"""

# $1 podman, $2 image, $3 python path, $4 PROBE_SCRIPT; run by ``podman unshare``.
# Exits with PROBE_MOUNT_REFUSED when podman cannot mount the image itself.
PROBE_MOUNT_REFUSED = 3
PROBE_CHROOT_SCRIPT = r"""root=$("$1" image mount "$2") || exit 3
chroot "$root" /bin/sh -c "$4" probe "$3"
rc=$?
"$1" image unmount "$2" >/dev/null
exit $rc
"""

# Same arguments. ``podman image mount`` refuses an image of a read-only additional image store
# (storage.conf ``additionalimagestores``: "layer not known", it would have to record the mount in
# that store), but a container made from the image (never started) mounts its layers read-only
# from there, as ``podman build`` does: the image is used as is, not pulled or copied.
PROBE_CONTAINER_CHROOT_SCRIPT = r"""ctr=$("$1" create --pull=never --network=none --entrypoint /bin/sh "$2") || exit 1
trap '"$1" rm --force "$ctr" >/dev/null 2>&1' EXIT
root=$("$1" mount "$ctr") || exit 1
chroot "$root" /bin/sh -c "$4" probe "$3"
rc=$?
"$1" unmount "$ctr" >/dev/null
exit $rc
"""


class BuildInputError(ValueError):
    """A module input that cannot work; the text is one line."""


class BuildError(Exception):
    """A failed build step; ``str()`` is one line, ``log_tail`` holds the last lines of the build log."""

    def __init__(self, message, log_tail=None, log_path=None):
        super(BuildError, self).__init__(message)
        self.log_tail = log_tail or []
        self.log_path = log_path


def probe_base_image(runner, runtime_bin, image, python_path="/usr/bin/python3", timeout=600, runtime="podman"):
    """Look inside ``image`` (already local): package managers and whether Python has pip.

    Returns ``{'package_managers': [...], 'pip': bool, 'python': bool}``; raises CommandError
    if the container cannot run.
    """
    argv = [runtime_bin, "run", "--rm", "--network=none", "--user=0", "--entrypoint", "/bin/sh", image,
            "-c", PROBE_SCRIPT, "probe", python_path]
    try:
        _rc, out, _err = runner.run(argv, timeout=timeout)
    except CommandError:
        if runtime != "podman":
            raise
        # Podman in a container that may not start containers (an AWX job: no CAP_SYS_ADMIN, /proc
        # masked, so the OCI runtime cannot mount proc): read the image's file system in podman's
        # user namespace instead, as the chroot-isolated build steps do.
        fallback = [runtime_bin, "unshare", "/bin/sh", "-c", PROBE_CHROOT_SCRIPT, "probe", runtime_bin, image,
                    python_path, PROBE_SCRIPT]
        try:
            _rc, out, _err = runner.run(fallback, timeout=timeout)
        except CommandError as exc:
            if exc.rc != PROBE_MOUNT_REFUSED:
                raise
            # An image of a read-only additional image store: mount a container made from it.
            fallback = fallback[:4] + [PROBE_CONTAINER_CHROOT_SCRIPT] + fallback[5:]
            _rc, out, _err = runner.run(fallback, timeout=timeout)
    found = {"package_managers": [], "pip": False, "python": False}
    for line in out.splitlines():
        key, _sep, value = line.strip().partition("=")
        if key == "bin":
            found["package_managers"].append(value)
        elif key == "pip":
            found["pip"] = value == "yes"
        elif key == "python":
            found["python"] = value == "yes"
    return found


def _steps(value):
    if not value:
        return []
    if isinstance(value, str):
        return value.strip().splitlines()
    return list(value)


def plan_adaptations(derived, probe, ca_files=()):
    """Adapt ``derived`` (modified in place) for the base image described by ``probe``.

    Returns ``(helper_files, adaptations)``: ``{name: text}`` to put in ``_build/eeforge`` and a
    list of one-line descriptions of what was changed and why (the module returns it).
    ``probe`` may be None (base image not inspected: only ca_certificates are handled).
    """
    helpers = {}
    adaptations = []
    options = derived.setdefault("options", {})
    steps = derived.setdefault("additional_build_steps", {})
    prepend_base = []
    pkgmgrs = (probe or {}).get("package_managers") or []
    rpm_family = any(os.path.basename(p) in ("dnf", "microdnf", "yum") for p in pkgmgrs)
    apt = any(p.endswith("/apt-get") for p in pkgmgrs)
    debian = probe is not None and apt and not rpm_family
    if debian:
        if "package_manager_path" not in options:
            helpers["apt-dnf-adapter"] = APT_ADAPTER_SCRIPT
            options["package_manager_path"] = APT_ADAPTER
            adaptations.append("options.package_manager_path=%s: the base image has apt-get and no dnf/microdnf; "
                               "the adapter translates ansible-builder's dnf-style calls" % APT_ADAPTER)
        if "skip_pip_install" not in options:
            options["skip_pip_install"] = True
            if probe.get("pip"):
                adaptations.append("options.skip_pip_install=true: Debian's system Python refuses ensurepip and the "
                                   "base image already has pip")
            else:
                prepend_base.append("RUN $PKGMGR install -y python3-pip && $PKGMGR clean all")
                adaptations.append("options.skip_pip_install=true and python3-pip installed with apt: Debian's "
                                   "system Python refuses ensurepip")
    if ca_files:
        helpers["install-ca"] = INSTALL_CA_SCRIPT
        adaptations.append("ca_certificates: %d PEM file(s) added to the image trust store in the base stage"
                           % len(ca_files))
        prepend_base.append("RUN sh %s/install-ca" % HELPERS_IN_IMAGE)
    if helpers or ca_files:
        prepend_base.insert(0, "COPY _build/%s/ %s/" % (HELPERS_DEST, HELPERS_IN_IMAGE))
    if prepend_base:
        steps["prepend_base"] = prepend_base + _steps(steps.get("prepend_base"))
    if not steps:
        derived.pop("additional_build_steps")
    return helpers, adaptations


def secret_env_text(galaxy_server_url=None, galaxy_token=None, pip_index_url=None, pip_extra_index_url=None,
                    ca=False):
    """Shell text exported in every RUN through the build secret (None when nothing is needed)."""
    lines = []
    if pip_index_url:
        lines.append("export PIP_INDEX_URL=%s" % shell_quote(pip_index_url))
    if pip_extra_index_url:
        lines.append("export PIP_EXTRA_INDEX_URL=%s" % shell_quote(pip_extra_index_url))
    if galaxy_server_url:
        prefix = "ANSIBLE_GALAXY_SERVER_%s" % GALAXY_SERVER_NAME.upper()
        lines.append("export ANSIBLE_GALAXY_SERVER_LIST=%s" % GALAXY_SERVER_NAME)
        lines.append("export %s_URL=%s" % (prefix, shell_quote(galaxy_server_url)))
        if galaxy_token:
            lines.append("export %s_TOKEN=%s" % (prefix, shell_quote(galaxy_token)))
    text = "\n".join(lines) + ("\n" if lines else "")
    if ca:
        text += CA_ENV_SNIPPET
    return text or None


_RUN_RE = re.compile(r"^(RUN)(\s+)(.*)$")


def add_secret_mounts(containerfile, secret_id=SECRET_ID, target=SECRET_TARGET):
    """Make every shell-form RUN source the env secret: ``RUN --mount=type=secret,... . T && cmd``.

    Exec-form (``RUN ["..."]``) and heredoc RUNs are left alone. Returns the new text.
    """
    out = []
    mount = "--mount=type=secret,id=%s,target=%s" % (secret_id, target)
    for line in containerfile.splitlines():
        match = _RUN_RE.match(line)
        if not match:
            out.append(line)
            continue
        rest = match.group(3)
        flags = []
        while rest.startswith("--"):
            flag, _sep, rest = rest.partition(" ")
            flags.append(flag)
            rest = rest.lstrip()
        if rest.startswith("[") or rest.startswith("<<"):
            out.append(line)
            continue
        out.append("RUN %s . %s && %s" % (" ".join([mount] + flags), target, rest))
    return "\n".join(out) + "\n"


def _builder_argv(builder_bin, definition_path, context_dir, runtime):
    return [builder_bin, "create", "--file", definition_path, "--context", context_dir,
            "--output-filename", "Containerfile" if runtime == "podman" else "Dockerfile", "-v", "2"]


def render_context(runner, builder_bin, derived, helpers, ca_files, staging_dir, context_dir, runtime,
                   use_secret, log_handle=None, timeout=None):
    """Write ``derived`` and the helper files under ``staging_dir``, run ``ansible-builder create``
    into ``context_dir`` and post-process the Containerfile. Returns the Containerfile text."""
    helper_dir = os.path.join(staging_dir, HELPERS_DEST)
    if helpers or ca_files:
        os.makedirs(helper_dir)
        for name, text in helpers.items():
            path = os.path.join(helper_dir, name)
            with open(path, "w") as handle:
                handle.write(text)
            os.chmod(path, 0o755)
        if ca_files:
            os.makedirs(os.path.join(helper_dir, "ca"))
            for index, src in enumerate(ca_files):
                with open(src, "rb") as handle:
                    data = handle.read()
                dest = os.path.join(helper_dir, "ca", "eeforge-%02d-%s.crt" % (
                    index, re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.splitext(os.path.basename(src))[0])))
                with open(dest, "wb") as handle:
                    handle.write(data)
        # ansible-builder copies a directory's content into _build/<dest>
        derived.setdefault("additional_build_files", []).insert(0, {"src": helper_dir, "dest": HELPERS_DEST})
    if not os.path.isdir(staging_dir):
        os.makedirs(staging_dir)  # no helper files (check mode without the base image)
    definition_path = os.path.join(staging_dir, "execution-environment.yml")
    with open(definition_path, "w") as handle:
        handle.write(dump_definition(derived))
    argv = _builder_argv(builder_bin, definition_path, context_dir, runtime)
    try:
        _rc, out, err = runner.run(argv, timeout=timeout, cwd=staging_dir)
    except CommandError as exc:
        if log_handle:
            log_handle.write("$ %s\n%s%s\n" % (" ".join(argv), exc.stdout, exc.stderr))
        lines = [line for line in (exc.stderr + "\n" + exc.stdout).splitlines() if line.strip()]
        cause = lines[-1].strip() if lines else exc.summary()
        raise BuildError("Failed to render build context with ansible-builder: %s. Fix the definition (see the "
                         "ansible-builder message)" % cause, lines[-30:])
    if log_handle:
        log_handle.write("$ %s\n%s%s\n" % (" ".join(argv), out, err))
    name = "Containerfile" if runtime == "podman" else "Dockerfile"
    path = os.path.join(context_dir, name)
    with open(path) as handle:
        text = handle.read()
    if use_secret:
        text = add_secret_mounts(text)
        with open(path, "w") as handle:
            handle.write(text)
    return text


# What a failing RUN step was doing, for the one-line error.
_STEP_KINDS = (
    ("ansible-galaxy collection install", "the galaxy step (installing collections)"),
    ("ansible-galaxy role install", "the galaxy step (installing roles)"),
    ("check_galaxy", "the galaxy check (ansible-galaxy missing in the base stage)"),
    ("introspect", "the introspect step (reading collection requirements)"),
    ("assemble", "the builder step (pip wheels and bindep)"),
    ("install-from-bindep", "the final install step (system packages and pip requirements)"),
    ("check_ansible", "the final check (ansible/ansible-runner missing)"),
    ("pip_install", "the pip bootstrap step (ensurepip)"),
    ("$ANSIBLE_INSTALL_REFS", "the pip step installing ansible-core/ansible-runner"),
    ("pip install", "a pip step"),
    ("install-ca", "the CA certificate step"),
    ("$PKGMGR install", "a system package step"),
)


def describe_failure(log_text):
    """``(cause, hint)`` from a build log: which step failed and the most telling error line before it."""
    lines = [line.rstrip() for line in log_text.splitlines() if line.strip()]
    step, index = None, len(lines)
    for number, line in enumerate(lines):
        match = re.search(r'building at STEP "(.*)": ', line)
        if match:
            step, index = match.group(1), number
    if step is None:
        pull = None
        for line in lines:
            if re.search(r"(?i)initializing source|unable to pull|pulling image|manifest unknown|"
                         r"repository .* not found|reading manifest", line):
                pull = line.strip()
        if pull:
            return ("the base image could not be pulled: %s" % pull[:300],
                    "Check images.base_image.name and base_registry_username/base_registry_password")
    window = [line.strip() for line in lines[max(0, index - 60):index]
              if not line.startswith("+") and not line.startswith("-->") and not re.match(r"^\[\d+/\d+\] STEP", line)
              and not set(line.strip()) <= set("*")]
    telling = [line for line in window if re.search(r"(?i)error|not found|no such|failed|denied|unable|refused", line)]
    detail = (telling or window or [lines[-1] if lines else ""])[-1]
    kind = "a build step"
    for needle, what in _STEP_KINDS:
        if step and needle in step:
            kind = what
            break
    hint = "See the build log"
    if "galaxy" in kind:
        hint = "Check dependencies.galaxy, galaxy_server_url/galaxy_token, and that collection tarballs are readable"
    elif "pip" in kind or "builder step" in kind or "final install" in kind:
        hint = "Check dependencies.python/system and pip_index_url; the log shows the failing package"
    cause = "%s failed: %s" % (kind, detail[:300]) if detail else "%s failed" % kind
    if step:
        cause += " (step: %s)" % step[:120]
    return cause, hint


def build_argv(runtime_bin, runtime, context_dir, tags, build_args, labels, squash="off", no_cache=False,
               extra_args=None, secret_path=None, auth_file=None, log_path=None, iid_file=None, pull=None):
    """The ``podman build`` / ``docker build`` argv (no secrets in it: the secret is a file path)."""
    name = "Containerfile" if runtime == "podman" else "Dockerfile"
    argv = [runtime_bin, "build", "-f", os.path.join(context_dir, name)]
    for tag in tags:
        argv += ["-t", tag]
    for key in sorted(build_args or {}):
        argv += ["--build-arg", "%s=%s" % (key, build_args[key])]
    for key in sorted(labels or {}):
        argv += ["--label", "%s=%s" % (key, labels[key])]
    if squash == "new":
        argv.append("--squash")
    elif squash == "all":
        argv.append("--squash-all" if runtime == "podman" else "--squash")
    if no_cache:
        argv.append("--no-cache")
    if secret_path:
        argv += ["--secret", "id=%s,src=%s" % (SECRET_ID, secret_path)]
    if runtime == "podman":
        if squash != "new":
            # podman refuses --squash together with --layers.
            argv.append("--layers")
        if auth_file:
            argv += ["--authfile", auth_file]
        if log_path:
            argv += ["--logfile", log_path]
        if iid_file:
            argv += ["--iidfile", iid_file]
        if pull:
            argv.append("--pull=%s" % pull)
    elif iid_file:
        argv += ["--iidfile", iid_file]
    argv += list(extra_args or [])
    argv.append(context_dir)
    return argv


def run_build(runner, runtime, argv, log_path, timeout=None, environ_update=None):
    """Run the build; stream to ``log_path`` (podman ``--logfile``; docker output appended after).

    Returns the seconds it took. Raises BuildError (one line + log tail) on failure.
    """
    started = time.time()
    try:
        _rc, out, err = runner.run(argv, timeout=timeout, environ_update=environ_update)
        if runtime != "podman" or out or err:
            with open(log_path, "a") as handle:
                handle.write(out)
                handle.write(err)
    except CommandError as exc:
        with open(log_path, "a") as handle:
            handle.write(exc.stdout)
            handle.write(exc.stderr)
        with open(log_path) as handle:
            text = handle.read()
        tail = text.splitlines()[-30:]
        if exc.timed_out:
            raise BuildError("Failed to build image: the build did not finish within %s seconds. Raise timeout or "
                             "check the build log %s" % (timeout, log_path), tail, log_path)
        cause, hint = describe_failure(text)
        raise BuildError("Failed to build image: %s. %s (full log: %s)" % (cause, hint, log_path), tail, log_path)
    return time.time() - started


def write_secret_file(directory, text):
    """The env secret as a 0600 file in a private dir (removed by the caller's private_tempdir)."""
    return write_private_file(directory, "eeforge_env", text)


# ---------------------------------------------------------------------------------------------
# The ee_build run: decide (digest, local and registry state), then render, build, tag, push.
# ---------------------------------------------------------------------------------------------

def local_image(runner, runtime_bin, ref):
    """``{'id', 'labels'}`` of a local image, or None when it does not exist."""
    rc, out, _err = runner.run([runtime_bin, "image", "inspect", "--format", "{{json .}}", ref], check=False)
    if rc != 0 or not out.strip():
        return None
    data = json.loads(out)
    if isinstance(data, list):
        data = data[0] if data else {}
    labels = data.get("Labels") or (data.get("Config") or {}).get("Labels") or {}
    return {"id": (data.get("Id") or "").replace("sha256:", ""), "labels": labels}


def prune_log_dir(log_dir, keep=20):
    """Keep the ``keep`` newest ``*.log`` files in ``log_dir``."""
    try:
        logs = sorted((os.path.join(log_dir, n) for n in os.listdir(log_dir) if n.endswith(".log")),
                      key=os.path.getmtime)
    except OSError:
        return
    for path in logs[:-keep]:
        try:
            os.remove(path)
        except OSError:
            pass


class EEBuild(object):
    """One ee_build run. ``module`` is a BuildModule; ``builder`` the ansible_builder hooks
    (``version``, ``schema``, ``bin``). ``run()`` returns the result dict (without ``changed``
    decided by anyone else) or raises one of the collection's exceptions."""

    def __init__(self, module, builder_version, builder_schema, builder_bin):
        """``builder_schema``: ansible-builder's v3 schema, or a function returning it (called only
        when the definition has to be validated against it)."""
        self.module = module
        self.params = module.params
        self.runner = module.runner
        self.builder_version = builder_version
        self.builder_schema = builder_schema
        self.schema_checked = False
        self.builder_bin = builder_bin
        self.runtime = self.params["container_runtime"]
        self.runtime_bin = None
        self.warnings = []

    def check_schema(self, definition, def_name):
        """Validate ``definition`` against ansible-builder's schema (and our rules), once."""
        if self.schema_checked:
            return
        schema = self.builder_schema() if callable(self.builder_schema) else self.builder_schema
        validate_definition(definition, def_name, schema=schema)
        self.schema_checked = True

    # -- inputs -------------------------------------------------------------------------------
    def parse_tags(self):
        tags = self.params["tags"] or []
        if not tags:
            raise BuildInputError("Failed to build image: 'tags' is empty. Give at least one image reference, "
                                  "e.g. 'registry.example.com/ee/name:1.0'")
        refs = []
        for tag in tags:
            try:
                ref = split_ref(tag, allow_digest=False)
            except ImageRefError as exc:
                raise BuildInputError("Failed to build image: tags: %s" % exc)
            if not ref.explicit_registry and self.runtime == "podman":
                # podman stores unqualified names under localhost/ (not docker.io/library/)
                typed = tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag
                ref = ImageRef("localhost", typed, ref.tag, None, explicit_registry=False)
            refs.append(ref)
        seen = set()
        for ref in refs:
            if str(ref) in seen:
                raise BuildInputError("Failed to build image: tag '%s' is listed twice. Remove the duplicate" % ref)
            seen.add(str(ref))
        return refs

    def load_definition(self):
        if self.params["definition_file"]:
            path = os.path.abspath(self.params["definition_file"])
            definition = load_definition_file(path)
            return definition, os.path.dirname(path), path
        project_dir = self.params["project_dir"]
        if project_dir and not os.path.isdir(project_dir):
            raise DefinitionError("Failed to resolve files of 'inline definition': project_dir '%s' is not a "
                                  "directory. Fix project_dir" % project_dir)
        return self.params["definition"], project_dir, "inline definition"

    def check_ca_files(self):
        files = []
        for path in self.params["ca_certificates"] or []:
            if not os.path.isfile(path):
                raise BuildInputError("Failed to read CA certificate '%s': the file does not exist. Fix ca_certificates"
                                      % path)
            with open(path, "rb") as handle:
                data = handle.read()
            if b"-----BEGIN CERTIFICATE-----" not in data:
                raise BuildInputError("Failed to read CA certificate '%s': it holds no PEM certificate "
                                      "('-----BEGIN CERTIFICATE-----'). Convert it to PEM" % path)
            files.append(path)
        return files

    def check_build_args(self):
        args = {}
        for key, value in (self.params["build_args"] or {}).items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)):
                raise BuildInputError("Failed to build image: build_args key '%s' is not a valid ARG name. Use letters, "
                                      "digits and '_'" % key)
            if isinstance(value, (dict, list)):
                raise BuildInputError("Failed to build image: build_args '%s' is a %s, not a string. Quote it"
                                      % (key, type(value).__name__))
            args[str(key)] = "" if value is None else ("%s" % value if not isinstance(value, bool)
                                                       else str(value).lower())
        return args

    def check_extra_args(self):
        extra = [str(a) for a in self.params["extra_build_cli_args"] or []]
        previous = ""
        for arg in extra:
            value = ""
            if arg.startswith("--build-arg="):
                value = arg.split("=", 1)[1]
            elif previous == "--build-arg":
                value = arg
            if re.match(r"(?i)^\w*(token|password|passwd|secret)\w*=", value):
                raise BuildInputError("Failed to build image: extra_build_cli_args passes '%s' as a build arg, which "
                                      "stays in the image history. Use galaxy_token, or a --secret with a file"
                                      % value.split("=", 1)[0])
            previous = arg
        return extra

    def check_labels(self):
        labels = {}
        for key, value in (self.params["labels"] or {}).items():
            if key == DIGEST_LABEL:
                raise BuildInputError("Failed to build image: label '%s' is set by ee_build itself. Remove it from labels"
                                      % key)
            if not key or re.search(r"\s|=", key):
                raise BuildInputError("Failed to build image: label key '%s' is not valid. Use a key without spaces or '='"
                                      % key)
            labels[key] = "" if value is None else str(value)
        return labels

    # -- state --------------------------------------------------------------------------------
    def remote_state(self, refs):
        """``{str(ref): info or None}`` for the tags that are pushed."""
        state = {}
        for ref in refs:
            state[str(ref)] = inspect_remote(
                self.module, str(ref), username=self.params["registry_username"],
                password=self.params["registry_password"], auth_file=self.params["auth_file"],
                tls_verify=self.params["tls_verify"], runner=self.runner, timeout=120)
        return state

    # -- the run ------------------------------------------------------------------------------
    def run(self):
        started = time.time()
        params = self.params
        refs = self.parse_tags()
        build_args = self.check_build_args()
        extra_args = self.check_extra_args()
        labels = self.check_labels()
        ca_files = self.check_ca_files()
        definition, base_dir, def_name = self.load_definition()
        # ansible-builder's schema is checked only when something will be done with the definition:
        # an image labelled with this definition's digest was built from it after it passed the same
        # check (the digest covers the ansible-builder version). Any earlier error waits for it, so a
        # definition that breaks the schema still fails with the schema's message first.
        try:
            validate_definition(definition, def_name)
            resolved = resolve_definition(definition, base_dir, def_name)
            base_ref = resolved.base_image
            try:
                split_ref(base_ref, require_tag=False)
            except ImageRefError as exc:
                raise DefinitionError("Failed to validate execution environment definition '%s': "
                                      "images.base_image.name: %s" % (def_name, exc))
        except Exception:
            self.check_schema(definition, def_name)
            raise
        if not self.runner.get_bin(self.runtime):
            self.check_schema(definition, def_name)
        self.runtime_bin = self.module.runtime_bin()

        extra = {
            "labels": labels,
            "squash": params["squash"],
            "extra_build_cli_args": extra_args,
            "ca_certificates": [sha256_file(p) for p in ca_files],
            "galaxy_server_url": params["galaxy_server_url"] or "",
            "pip_index_url": params["pip_index_url"] or "",
            "pip_extra_index_url": params["pip_extra_index_url"] or "",
            "runtime": self.runtime,
        }
        digest = definition_digest(resolved, build_args, self.builder_version, extra)

        result = {
            "definition_digest": digest,
            "tags": [str(r) for r in refs],
            "image_id": None,
            "digest": None,
            "pushed": [],
            "containerfile": None,
            "build_log": None,
            "built": False,
            "builder_invoked": False,
            "adaptations": [],
            "actions": [],
            "ansible_builder_version": self.builder_version,
            "context_dir": None,
            "referenced_files": [f.path for f in resolved.files],
        }

        primary = refs[0]
        local = dict((str(r), local_image(self.runner, self.runtime_bin, str(r))) for r in refs)
        primary_local = local[str(primary)]
        local_ok = bool(primary_local) and primary_local["labels"].get(DIGEST_LABEL) == digest
        if not local_ok or params["force"] or self.module.check_mode:
            self.check_schema(definition, def_name)
        push_refs = [r for r in refs if r.registry != "localhost"] if params["push"] else []
        if params["push"] and not push_refs:
            raise BuildInputError("Failed to push image '%s': every tag is local ('localhost/...'). Add a tag with a "
                                  "registry, e.g. 'registry.example.com/ee/name:1.0'" % primary)
        if params["push"] and len(push_refs) < len(refs):
            self.warnings.append("Not pushed (local-only names): %s" % ", ".join(
                str(r) for r in refs if r.registry == "localhost"))
        remote = self.remote_state(push_refs) if push_refs else {}
        remote_ok = all(info and (info.get("labels") or {}).get(DIGEST_LABEL) == digest for info in remote.values())

        before = {"definition_digest": (primary_local or {}).get("labels", {}).get(DIGEST_LABEL),
                  "image_id": (primary_local or {}).get("id")}
        need_build = params["force"] or not local_ok
        if not params["force"] and not local_ok and push_refs and remote_ok:
            # Up to date in the registry; nothing to build for a push-only workflow.
            need_build = False
            result["digest"] = remote[str(primary)]["digest"] if str(primary) in remote else None
            result["up_to_date"] = True
            result["duration"] = round(time.time() - started, 3)
            result["diff"] = {"before": before, "after": before}
            return False, result

        retag = []
        if not need_build:
            retag = [r for r in refs[1:] if not local[str(r)] or local[str(r)]["id"] != primary_local["id"]]
        push_needed = [r for r in push_refs if need_build or not remote_ok or not remote.get(str(r))
                       or (remote[str(r)].get("labels") or {}).get(DIGEST_LABEL) != digest]
        changed = need_build or bool(retag) or bool(push_needed)
        result["up_to_date"] = not changed
        after_id = "(new image)" if need_build else before["image_id"]
        result["diff"] = {"before": before, "after": {"definition_digest": digest, "image_id": after_id}}
        if not need_build:
            result["image_id"] = primary_local["id"]

        if need_build:
            result["actions"].append("build")
        result["actions"] += ["tag %s" % r for r in retag] + ["push %s" % r for r in push_needed]

        if not changed:
            result["duration"] = round(time.time() - started, 3)
            if push_refs:
                result["digest"] = remote[str(push_refs[0])]["digest"]
            return False, result

        if need_build:
            self.build(result, resolved, refs, build_args, labels, extra_args, ca_files, digest, base_ref,
                       before["image_id"])
        elif not self.module.check_mode:
            for ref in retag:
                self.runner.run([self.runtime_bin, "tag", primary_local["id"], str(ref)])

        if push_needed and not self.module.check_mode:
            self.push(result, push_needed, primary)
        if self.module.check_mode:
            result["pushed"] = []
        result["duration"] = round(time.time() - started, 3)
        return True, result

    # -- build --------------------------------------------------------------------------------
    def _ensure_base(self, base_ref, base_auth, check_mode):
        """Make sure the base image is local (pull it, except in check mode). Returns True if local."""
        if local_image(self.runner, self.runtime_bin, base_ref):
            return True
        if check_mode:
            return False
        argv = [self.runtime_bin, "pull", "--quiet"]
        if self.runtime == "podman" and not self.params["tls_verify"]:
            argv.append("--tls-verify=false")
        env = None
        if base_auth:
            if self.runtime == "docker":
                env = {"DOCKER_CONFIG": os.path.dirname(base_auth)}
            else:
                argv += ["--authfile", base_auth]
        argv.append(base_ref)
        try:
            self.runner.run(argv, timeout=self.params["timeout"], environ_update=env)
        except CommandError as exc:
            err = registry_error("pull", base_ref, exc)
            raise BuildError("Failed to pull base image '%s': %s" % (
                base_ref, str(err).split(": ", 1)[1] if ": " in str(err) else err), exc.tail())
        return True

    def _log_path(self, primary):
        log_dir = self.params["build_log_dir"]
        if not log_dir:
            log_dir = os.path.join(os.path.expanduser("~"), ".ansible", "eeforge", "build-logs")
        if not os.path.isdir(log_dir):
            os.makedirs(log_dir, 0o700)
        prune_log_dir(log_dir)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", "%s-%s" % (primary.repository.rsplit("/", 1)[-1], primary.tag))
        return os.path.join(log_dir, "%s-%s-%d.log" % (name, time.strftime("%Y%m%dT%H%M%S"), os.getpid()))

    def build(self, result, resolved, refs, build_args, labels, extra_args, ca_files, digest, base_ref, old_id):
        params = self.params
        check_mode = self.module.check_mode
        base_registry = split_ref(base_ref).registry
        with private_tempdir(prefix="ee-build-") as staging:
            secrets_dir = os.path.join(staging, "secrets")
            os.makedirs(secrets_dir, 0o700)
            with registry_auth(self.module, base_registry, params["base_registry_username"],
                               params["base_registry_password"], None) as base_auth:
                have_base = self._ensure_base(base_ref, base_auth, check_mode)
                probe = None
                if have_base:
                    python_path = (((resolved.derived.get("dependencies") or {}).get("python_interpreter") or {})
                                   .get("python_path") or "/usr/bin/python3")
                    try:
                        probe = probe_base_image(self.runner, self.runtime_bin, base_ref, python_path,
                                                 runtime=self.runtime)
                    except CommandError as exc:
                        raise BuildError("Failed to inspect base image '%s': %s. Check that it is a Linux image "
                                         "with /bin/sh" % (base_ref, exc.summary()), exc.tail())
                else:
                    self.warnings.append("Base image '%s' is not present locally; check mode did not pull it, so "
                                         "the Debian adaptation is decided at build time" % base_ref)
                derived = resolved.derived
                helpers, adaptations = plan_adaptations(derived, probe, ca_files)
                result["adaptations"] = adaptations
                secret_text = secret_env_text(params["galaxy_server_url"], params["galaxy_token"],
                                              params["pip_index_url"], params["pip_extra_index_url"],
                                              ca=bool(ca_files))
                if params["context_dir"] and not check_mode:
                    context_dir = os.path.abspath(params["context_dir"])
                    if not os.path.isdir(context_dir):
                        os.makedirs(context_dir)
                elif params["keep_context"] and not check_mode:
                    context_dir = tempfile.mkdtemp(prefix="ee-build-context-")
                else:
                    context_dir = os.path.join(staging, "context")
                log_path = None if check_mode else self._log_path(refs[0])
                log_handle = open(log_path, "a") if log_path else None  # pylint: disable=consider-using-with
                try:
                    result["builder_invoked"] = True
                    result["containerfile"] = render_context(
                        self.runner, self.builder_bin, derived, helpers, ca_files, os.path.join(staging, "defn"),
                        context_dir, self.runtime, use_secret=bool(secret_text), log_handle=log_handle,
                        timeout=params["timeout"])
                finally:
                    if log_handle:
                        log_handle.close()
                if not check_mode and (params["context_dir"] or params["keep_context"]):
                    result["context_dir"] = context_dir
                if check_mode:
                    return
                result["build_log"] = log_path
                secret_path = write_secret_file(secrets_dir, secret_text) if secret_text else None
                iid_file = os.path.join(staging, "iid")
                all_labels = dict(labels)
                all_labels[DIGEST_LABEL] = digest
                argv = build_argv(self.runtime_bin, self.runtime, context_dir, [str(r) for r in refs], build_args,
                                  all_labels, params["squash"], params["no_cache"], extra_args, secret_path,
                                  base_auth, log_path, iid_file)
                with open(log_path, "a") as handle:
                    handle.write("$ %s\n" % " ".join(argv))
                env = {"DOCKER_BUILDKIT": "1"} if self.runtime == "docker" else None
                if self.runtime == "docker" and base_auth:
                    env["DOCKER_CONFIG"] = os.path.dirname(base_auth)
                result["build_duration"] = round(run_build(self.runner, self.runtime, argv, log_path,
                                                           params["timeout"], env), 3)
                result["built"] = True
                with open(iid_file) as handle:
                    result["image_id"] = handle.read().strip().replace("sha256:", "")
        if params["prune_images"] and old_id and old_id != result["image_id"]:
            self._prune(old_id, result)

    def _prune(self, old_id, result):
        """Remove the image the primary tag pointed to before, if nothing else uses it."""
        info = local_image(self.runner, self.runtime_bin, old_id)
        rc, out, _err = self.runner.run([self.runtime_bin, "image", "inspect", "--format", "{{json .RepoTags}}",
                                         old_id], check=False)
        if not info or rc != 0:
            return
        if json.loads(out or "[]"):
            return  # still tagged by something else
        rc, _out, _err = self.runner.run([self.runtime_bin, "rmi", old_id], check=False)
        if rc == 0:
            result["actions"].append("prune %s" % old_id[:12])
            result["pruned"] = [old_id]

    # -- push ---------------------------------------------------------------------------------
    def push(self, result, push_refs, primary):
        params = self.params
        by_registry = {}
        for ref in push_refs:
            by_registry.setdefault(ref.registry, []).append(ref)
        for registry, refs in by_registry.items():
            with registry_auth(self.module, registry, params["registry_username"], params["registry_password"],
                               params["auth_file"]) as auth_path:
                for ref in refs:
                    pushed_digest = push_image(self.module, str(ref), str(ref), auth_file=auth_path,
                                               tls_verify=params["tls_verify"], retries=params["push_retries"],
                                               runtime=self.runtime, timeout=params["timeout"], runner=self.runner)
                    result["pushed"].append(str(ref) if not pushed_digest else "%s@%s" % (ref, pushed_digest))
                    if result["digest"] is None or ref == primary:
                        result["digest"] = pushed_digest
