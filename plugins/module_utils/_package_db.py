# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An image's OS package database, as pure functions on the text ee_info's probe read in the image.

- ``parse_os_release()`` of ``/etc/os-release`` (``id``, ``version_id``...);
- ``parse_dpkg_status()`` of ``/var/lib/dpkg/status`` (installed packages only);
- ``parse_rpm_query()`` of ``rpm -qa --queryformat RPM_QUERYFORMAT``.

Their output is what ``_sbom.build_sbom`` turns into components with purls.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


class PackageDbError(ValueError):
    """Package database text that is not in the expected format; the text is one line."""


# rpm -qa --queryformat: one package a line, tab separated; "(none)" where a tag is unset.
RPM_QUERYFORMAT = r"%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t%{LICENSE}\n"

# dpkg states whose files are on disk (Status-Abbrev i, F, W, t).
_INSTALLED_STATES = ("installed", "half-configured", "triggers-awaited", "triggers-pending")


def parse_os_release(text):
    """``/etc/os-release`` text -> dict with lowercased keys (``id``, ``version_id``, ``pretty_name``...)."""
    result = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        result[key.strip().lower()] = value
    return result


def parse_dpkg_status(text):
    """``/var/lib/dpkg/status`` text -> the installed packages, sorted by name and arch.

    Each is ``{"name", "version", "arch", "kind": "deb", "source", "source_version"}``; ``source`` is
    the source package (the binary's name when the stanza names none). Packages whose status is not
    installed (removed with config files left, for example) are skipped.
    """
    packages = []
    for stanza in re.split(r"\n\s*\n", text or ""):
        fields = _deb_fields(stanza)
        if not fields.get("package"):
            continue
        status = fields.get("status", "").split()
        if not status or status[-1] not in _INSTALLED_STATES:
            continue
        source, source_version = fields.get("package"), fields.get("version")
        if fields.get("source"):
            match = re.match(r"^(\S+)(?:\s+\((\S+)\))?$", fields["source"])
            if match:
                source = match.group(1)
                source_version = match.group(2) or fields.get("version")
        packages.append({
            "name": fields["package"],
            "version": fields.get("version"),
            "arch": fields.get("architecture"),
            "kind": "deb",
            "source": source,
            "source_version": source_version,
        })
    packages.sort(key=lambda pkg: (pkg["name"], pkg["arch"] or ""))
    return packages


def _deb_fields(stanza):
    fields = {}
    key = None
    for line in stanza.splitlines():
        if not line.strip():
            continue
        if line[0] in " \t":
            if key:
                fields[key] += "\n" + line.strip()
            continue
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        key = key.strip().lower()
        fields[key] = value.strip()
    return fields


def parse_rpm_query(text):
    """``rpm -qa --queryformat RPM_QUERYFORMAT`` output -> the packages, sorted by name and arch.

    Each is ``{"name", "version" (VERSION-RELEASE), "epoch" (None or str), "arch", "kind": "rpm",
    "source" (the source rpm), "license"}``. ``gpg-pubkey`` pseudo-packages are skipped.
    """
    packages = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 5:
            raise PackageDbError("rpm query line '%s' has %d fields, expected 7 (use RPM_QUERYFORMAT)"
                                 % (line[:80], len(parts)))
        name, epoch, version, release, arch = parts[:5]
        if name == "gpg-pubkey":
            continue
        none = "(none)"
        packages.append({
            "name": name,
            "version": "%s-%s" % (version, release) if release and release != none else version,
            "epoch": epoch if epoch and epoch != none else None,
            "arch": arch if arch and arch != none else None,
            "kind": "rpm",
            "source": parts[5] if len(parts) > 5 and parts[5] != none else None,
            "license": parts[6] if len(parts) > 6 and parts[6] != none else None,
        })
    packages.sort(key=lambda pkg: (pkg["name"], pkg["arch"] or ""))
    return packages
