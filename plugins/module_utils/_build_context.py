# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The build context: what ee_build adds to what ``ansible-builder create`` generates.

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

It also keeps the build logs (one per build, the 20 newest) and reads a failed build's log to say
which step failed. ``_builder_create.render_context`` runs ``ansible-builder create`` with these additions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import time

from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError, left_behind_hint, path_error
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError

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


# ee_build's look at a base image (package managers, pip), run in it through Engine.run_in_image.
# $1 is the Python path; prints key=value lines.
BASE_PROBE_SH = r"""for b in /usr/bin/dnf /usr/bin/microdnf /usr/bin/yum /usr/bin/apt-get; do
  if [ -x "$b" ]; then echo "bin=$b"; fi
done
if "$1" -m pip --version >/dev/null 2>&1; then echo "pip=yes"; else echo "pip=no"; fi
if [ -x "$1" ]; then echo "python=yes"; else echo "python=no"; fi
"""


def parse_base_probe(out):
    """BASE_PROBE_SH's output -> ``{'package_managers': [...], 'pip': bool, 'python': bool}``."""
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


def probe_base_image(engine, image, python_path="/usr/bin/python3", timeout=600):
    """Look inside ``image`` (already local): package managers and whether Python has pip.

    Runs BASE_PROBE_SH through ``Engine.run_in_image`` (podman run, or where podman cannot start a
    container, the unshare + mount + chroot fallback). Raises CommandError if neither works.
    """
    out, _err, _method = engine.run_in_image(image, ["/bin/sh", "-c", BASE_PROBE_SH, "probe", python_path],
                                             timeout=timeout)
    return parse_base_probe(out)


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


def prepare_context_dir(path):
    """Create ``path`` (the user's context_dir) if needed; one-line BuildError when it cannot be used."""
    try:
        if not os.path.isdir(path):
            os.makedirs(path)
        probe = os.path.join(path, ".eeforge-write-test")
        with open(probe, "w") as handle:
            handle.write("")
        os.remove(probe)
    except (IOError, OSError) as exc:
        if exc.errno == errno.EEXIST:
            exc = OSError(errno.ENOTDIR, "it exists and is not a directory")
        raise path_error("use context directory", path, exc, option="context_dir")
    return path


# ---------------------------------------------------------------------------------------------
# Build logs: where they go, how many are kept, and which step a failed build log says failed.
# ---------------------------------------------------------------------------------------------

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


def new_log_path(log_dir, primary):
    """A fresh log file path in ``log_dir`` (default ``~/.ansible/eeforge/build-logs``) for ``primary``."""
    if not log_dir:
        log_dir = os.path.join(os.path.expanduser("~"), ".ansible", "eeforge", "build-logs")
    try:
        if not os.path.isdir(log_dir):
            os.makedirs(log_dir, 0o700)
        prune_log_dir(log_dir)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", "%s-%s" % (primary.repository.rsplit("/", 1)[-1], primary.tag))
        path = os.path.join(log_dir, "%s-%s-%d.log" % (name, time.strftime("%Y%m%dT%H%M%S"), os.getpid()))
        with open(path, "a"):
            pass
    except (IOError, OSError) as exc:
        raise path_error("write build log in", log_dir, exc, option="build_log_dir")
    return path


def run_build(engine, options, timeout):
    """``engine.build(options)``; a failure becomes one BuildError line naming the failed step and the log."""
    log_path = options.log_path
    try:
        return engine.build(options, timeout=timeout)
    except CommandError as exc:
        with open(log_path, "a") as handle:
            handle.write(exc.stdout)
            handle.write(exc.stderr)
        with open(log_path) as handle:
            text = handle.read()
        tail = text.splitlines()[-30:]
        if exc.timed_out:
            raise BuildError("Failed to build image: the build did not finish within %s seconds" % timeout,
                             "Raise timeout or check the build log %s%s" % (log_path, left_behind_hint(exc)),
                             tail, log_path)
        cause, hint = describe_failure(text)
        fix = "%s (full log: %s)%s" % (hint, log_path, left_behind_hint(exc))
        raise BuildError("Failed to build image: %s" % cause, fix, tail, log_path)
