# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A CycloneDX SBOM of an Execution Environment, from what ee_info finds in it.

``build_sbom(inventory)`` returns CycloneDX 1.6 JSON made with cyclonedx-python-lib (imported when
called: it is needed only where the SBOM is written, and ``SbomLibraryMissing`` says which package is
missing so the module can fail with ``missing_required_lib``). ``validate_sbom(text)`` checks it
against the CycloneDX JSON schema the library ships (offline).

The inventory is ee_info's result plus the package database of the image:

- ``image`` (reference), ``digest`` (manifest digest, may be None), ``image_id``, ``architecture``
- ``base_image`` and ``base_image_digest``
- ``os_release``: ``_package_db.parse_os_release()`` of ``/etc/os-release`` (``id``, ``version_id``...)
- ``os_packages``: ``_package_db.parse_dpkg_status()`` or ``parse_rpm_query()`` output
- ``python_packages`` (name -> version), ``collections`` (FQCN -> version),
  ``ansible_core_version``, ``ansible_runner_version``

purls: ``pkg:deb/<distro>/<name>@<version>?arch=..&distro=<id>-<version_id>``,
``pkg:rpm/<vendor>/<name>@<version>-<release>?arch=..&epoch=..&distro=..``, ``pkg:pypi/<name>@<version>``
(name lowercased, ``_`` -> ``-``), ``pkg:ansible/<namespace>/<name>@<version>`` for collections (the
type proposed to the purl specification for Ansible collections; the spec registers none yet), and
``pkg:oci/<name>@sha256:..?repository_url=..&tag=..`` for the image and its base.

``inventory_from_facts(result)`` makes the inventory from ee_info's result (its ``os_inventory`` and
the base image labels ee_build sets). ``write_sbom(path, text, check_mode)`` writes it atomically
(temp file in the same directory, renamed, mode 0644) unless the file already holds the same SBOM:
``same_sbom`` ignores ``metadata.timestamp`` and ``serialNumber``, so re-inspecting an unchanged
image reports no change and leaves the file (and its first timestamp) alone.

The package database parsers (``_package_db``) are pure functions on text, so the probe that reads
``/var/lib/dpkg/status`` (or runs ``rpm -qa --queryformat RPM_QUERYFORMAT``) in the image only hands
them what it read.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import tempfile
import uuid

CYCLONEDX_SPEC_VERSION = "1.6"
TOOL_NAME = "eeforge.builder"
PROPERTY_PREFIX = "eeforge:"

# purl namespaces of rpm vendors, by os-release ID (the names vulnerability scanners match on).
RPM_VENDORS = {
    "rhel": "redhat",
    "centos": "centos",
    "fedora": "fedora",
    "rocky": "rocky",
    "almalinux": "almalinux",
    "ol": "oracle",
    "amzn": "amazon",
    "opensuse-leap": "opensuse",
    "opensuse-tumbleweed": "opensuse",
    "sles": "suse",
}


class SbomError(ValueError):
    """An inventory that cannot be written as an SBOM; the message is one line."""


class SbomWriteError(SbomError):
    """The SBOM file cannot be written; the message names the path and the fix."""


class SbomLibraryMissing(ImportError):
    """cyclonedx-python-lib (or one of its dependencies) is not importable; ``library`` names it."""

    def __init__(self, library, exc):
        self.library = library
        super(SbomLibraryMissing, self).__init__("%s is required to write an SBOM: %s" % (library, exc))


def normalize_pypi_name(name):
    """The purl name of a PyPI package: lowercased, ``_`` replaced by ``-``."""
    return name.strip().lower().replace("_", "-")


def _libs():
    """cyclonedx-python-lib and packageurl-python, imported on first use."""
    try:
        # pylint: disable=import-outside-toplevel
        from packageurl import PackageURL
    except ImportError as exc:
        raise SbomLibraryMissing("packageurl-python", exc)
    try:
        # pylint: disable=import-outside-toplevel
        from cyclonedx.model import Property
        from cyclonedx.model.bom import Bom
        from cyclonedx.model.component import Component, ComponentType
        from cyclonedx.model.tool import Tool
        from cyclonedx.output.json import JsonV1Dot6
    except ImportError as exc:
        raise SbomLibraryMissing("cyclonedx-python-lib", exc)
    return {
        "PackageURL": PackageURL, "Property": Property, "Bom": Bom, "Component": Component,
        "ComponentType": ComponentType, "Tool": Tool, "Json": JsonV1Dot6,
    }


def os_package_purl(lib, package, os_release):
    """The purl of one dpkg/rpm package (a PackageURL)."""
    distro_id = (os_release.get("id") or "").lower()
    distro = "%s-%s" % (distro_id, os_release["version_id"]) if distro_id and os_release.get("version_id") else None
    qualifiers = {}
    if package.get("arch"):
        qualifiers["arch"] = package["arch"]
    kind = package.get("kind")
    if kind == "deb":
        namespace = distro_id or "debian"
    elif kind == "rpm":
        namespace = RPM_VENDORS.get(distro_id, distro_id) or None
        if package.get("epoch") not in (None, "", "0"):
            qualifiers["epoch"] = str(package["epoch"])
    else:
        raise SbomError("OS package '%s' is of kind '%s', expected deb or rpm" % (package.get("name"), kind))
    if distro:
        qualifiers["distro"] = distro
    return lib["PackageURL"](type=kind, namespace=namespace, name=package["name"], version=package.get("version"),
                             qualifiers=qualifiers or None)


def image_purl(lib, ref, digest, arch=None):
    """``pkg:oci/<name>@<digest>?repository_url=<registry/repository>&tag=<tag>`` for an image reference."""
    name, tag = _split_image(ref)
    qualifiers = {"repository_url": name}
    if tag:
        qualifiers["tag"] = tag
    if arch:
        qualifiers["arch"] = arch
    return lib["PackageURL"](type="oci", name=name.rsplit("/", 1)[-1].lower(), version=digest or None,
                             qualifiers=qualifiers)


def _split_image(ref):
    ref = (ref or "").split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        return ref[:ref.rfind(":")], ref[ref.rfind(":") + 1:]
    return ref, None


def _props(lib, pairs):
    return [lib["Property"](name=PROPERTY_PREFIX + key, value=str(value)) for key, value in pairs if value not in (None, "")]


def _require(inventory, key):
    value = inventory.get(key)
    if not value:
        raise SbomError("the inventory has no '%s'" % key)
    return value


def build_sbom(inventory, timestamp=None):
    """CycloneDX 1.6 JSON (a str) of the Execution Environment ``inventory`` describes.

    ``timestamp`` (a datetime) is the BOM's creation time (now when None). The serial number is
    derived from the image digest (or ID) and the component list, so the same image gives the same
    serial. Raises SbomError on an inventory that lacks the image, SbomLibraryMissing without the library.
    """
    lib = _libs()
    image = _require(inventory, "image")
    digest = inventory.get("digest")
    image_id = inventory.get("image_id")
    if not (digest or image_id):
        raise SbomError("the inventory of '%s' has neither a digest nor an image_id" % image)
    os_release = dict(inventory.get("os_release") or {})
    component_type = lib["ComponentType"]
    comp = lib["Component"]

    root = comp(
        name=_split_image(image)[0], version=digest or image_id, type=component_type.CONTAINER,
        bom_ref="image", purl=image_purl(lib, image, digest, inventory.get("architecture")),
        properties=_props(lib, [("image_id", image_id), ("digest", digest),
                                ("ansible_core_version", inventory.get("ansible_core_version")),
                                ("ansible_runner_version", inventory.get("ansible_runner_version"))]),
    )
    components = []
    seen = set()

    def add(component):
        key = str(component.bom_ref)
        if key in seen:
            return
        seen.add(key)
        components.append(component)

    if inventory.get("base_image"):
        base_digest = inventory.get("base_image_digest")
        add(comp(name=_split_image(inventory["base_image"])[0], version=base_digest, type=component_type.CONTAINER,
                 bom_ref="base-image", purl=image_purl(lib, inventory["base_image"], base_digest),
                 properties=_props(lib, [("role", "base image")])))
    if os_release.get("id"):
        add(comp(name=os_release["id"], version=os_release.get("version_id"), type=component_type.OPERATING_SYSTEM,
                 bom_ref="os", description=os_release.get("pretty_name")))

    for package in inventory.get("os_packages") or []:
        if not package.get("name") or not package.get("version"):
            raise SbomError("an OS package has no name or version: %r" % (package,))
        purl = os_package_purl(lib, package, os_release)
        add(comp(name=package["name"], version=package["version"], type=component_type.LIBRARY, purl=purl,
                 bom_ref=purl.to_string(),
                 properties=_props(lib, [("package:kind", package.get("kind")),
                                         ("package:source", package.get("source")),
                                         ("package:source_version", package.get("source_version")),
                                         ("package:license", package.get("license"))])))

    python = dict(inventory.get("python_packages") or {})
    core, runner = inventory.get("ansible_core_version"), inventory.get("ansible_runner_version")
    by_norm = dict((normalize_pypi_name(name), name) for name in python)
    for name, version in (("ansible-core", core), ("ansible-runner", runner)):
        if version and name not in by_norm:
            python[name] = version
    for name in sorted(python, key=normalize_pypi_name):
        version = python[name]
        if not version:
            raise SbomError("Python package '%s' has no version" % name)
        purl = lib["PackageURL"](type="pypi", name=normalize_pypi_name(name), version=str(version))
        role = {"ansible-core": "ansible-core", "ansible-base": "ansible-core",
                "ansible-runner": "ansible-runner"}.get(normalize_pypi_name(name))
        add(comp(name=name, version=str(version), type=component_type.LIBRARY, purl=purl, bom_ref=purl.to_string(),
                 properties=_props(lib, [("role", role)])))

    for fqcn in sorted(inventory.get("collections") or {}):
        version = inventory["collections"][fqcn]
        if fqcn.count(".") != 1:
            raise SbomError("collection name '%s' is not namespace.name" % fqcn)
        namespace, name = fqcn.split(".")
        purl = lib["PackageURL"](type="ansible", namespace=namespace, name=name, version=str(version) if version else None)
        add(comp(name=name, group=namespace, version=str(version) if version else None, type=component_type.LIBRARY,
                 purl=purl, bom_ref=purl.to_string(),
                 properties=_props(lib, [("ansible:collection", fqcn)])))

    bom = lib["Bom"](components=components)
    bom.metadata.component = root
    bom.metadata.tools.components.add(comp(name=TOOL_NAME, type=component_type.APPLICATION, group="eeforge"))
    if timestamp is not None:
        bom.metadata.timestamp = timestamp
    bom.serial_number = uuid.uuid5(uuid.NAMESPACE_URL, "eeforge-sbom:%s:%s" % (
        digest or image_id, ",".join(sorted(seen))))
    bom.register_dependency(root, components)
    return lib["Json"](bom).output_as_string(indent=2)


def check_library():
    """Raise SbomLibraryMissing now (before anything is pulled) when the SBOM could not be written."""
    _libs()
    try:
        # pylint: disable=import-outside-toplevel,unused-import
        from cyclonedx.validation.json import JsonStrictValidator  # noqa: F401
    except ImportError as exc:
        raise SbomLibraryMissing("cyclonedx-python-lib[json-validation]", exc)


def validate_sbom(text):
    """The first schema error of the CycloneDX JSON ``text`` as one line, or None when it is valid."""
    try:
        # pylint: disable=import-outside-toplevel
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator
    except ImportError as exc:
        raise SbomLibraryMissing("cyclonedx-python-lib[json-validation]", exc)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is None:
        return None
    return " ".join(str(error).split())[:500]


def purls(text):
    """Every purl in the CycloneDX JSON ``text`` (metadata component first)."""
    doc = json.loads(text)
    found = []
    meta = (doc.get("metadata") or {}).get("component") or {}
    if meta.get("purl"):
        found.append(meta["purl"])
    found += [comp["purl"] for comp in doc.get("components") or [] if comp.get("purl")]
    return found


# Labels ee_build sets on the images it builds (the OCI image spec's base annotations, as labels).
BASE_NAME_LABELS = ("org.opencontainers.image.base.name",)
BASE_DIGEST_LABELS = ("org.opencontainers.image.base.digest", "io.eeforge.base-digest")
FILE_MODE = 0o644


def inventory_from_facts(result):
    """ee_info's ``result`` (with ``os_inventory``) -> the inventory ``build_sbom`` takes.

    The base image comes from the image's labels (``org.opencontainers.image.base.name`` and
    ``.base.digest`` / ``io.eeforge.base-digest``, set by ee_build); without a base name it is left out.
    """
    labels = result.get("labels") or {}
    os_facts = result.get("os_inventory") or {}
    base = next((labels[key] for key in BASE_NAME_LABELS if labels.get(key)), None)
    base_digest = next((labels[key] for key in BASE_DIGEST_LABELS if labels.get(key)), None)
    inventory = dict((key, result.get(key)) for key in (
        "image", "digest", "image_id", "architecture", "python_packages", "collections",
        "ansible_core_version", "ansible_runner_version"))
    inventory.update({"base_image": base, "base_image_digest": base_digest if base else None,
                      "os_release": os_facts.get("os_release") or {}, "os_packages": os_facts.get("os_packages") or []})
    return inventory


def _comparable(text):
    doc = json.loads(text)
    doc.pop("serialNumber", None)
    (doc.get("metadata") or {}).pop("timestamp", None)
    return doc


def same_sbom(old_text, new_text):
    """True when two SBOM texts differ at most in their timestamp and serial number."""
    try:
        return _comparable(old_text) == _comparable(new_text)
    except (TypeError, ValueError, AttributeError):
        return False


def summary(text):
    """The ``sbom`` result: component count, spec version, serial number."""
    doc = json.loads(text)
    return {"components": len(doc.get("components") or []), "spec_version": doc.get("specVersion"),
            "serial_number": doc.get("serialNumber"), "format": doc.get("bomFormat")}


def _write_error(path, exc, doing):
    reason = exc.strerror or str(exc)
    folder = os.path.dirname(path) or "."
    if exc.errno == errno.ENOENT:
        fix = "create the directory '%s' first or choose another sbom_path" % folder
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "choose a writable directory for sbom_path or fix the permissions of '%s'" % folder
    elif exc.errno == errno.ENOTDIR:
        fix = "'%s' is not a directory; choose another sbom_path" % folder
    elif exc.errno == errno.EISDIR:
        fix = "sbom_path must name a file, not a directory"
    else:
        fix = "choose another sbom_path"
    return SbomWriteError("Failed to write the SBOM to '%s': %s %s (%s). Fix: %s." % (path, doing, path, reason, fix))


def check_target(path):
    """The absolute ``path`` when its directory exists (checked before anything is pulled); else SbomWriteError."""
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        raise _write_error(path, EnvironmentError(errno.EISDIR, "Is a directory"), "cannot replace the directory")
    if not os.path.isdir(folder):
        code = errno.ENOTDIR if os.path.exists(folder) else errno.ENOENT
        raise _write_error(path, EnvironmentError(code, os.strerror(code)), "no directory for")
    return path


def write_sbom(path, text, check_mode=False):
    """Write ``text`` to ``path`` unless it already holds the same SBOM; return True when it (would have) changed.

    Atomic: a temp file in the same directory, chmod 0644, fsync, renamed over ``path``; whatever
    fails removes the temp file and raises SbomWriteError (one line: the path and the fix).
    In check mode nothing is written (the directory is still checked).
    """
    path = check_target(path)
    folder = os.path.dirname(path)
    old = None
    try:
        with open(path, "rb") as handle:
            old = handle.read().decode("utf-8", "replace")
    except EnvironmentError as exc:
        if exc.errno != errno.ENOENT:
            raise _write_error(path, exc, "cannot read")
    if old is not None and same_sbom(old, text):
        return False
    if check_mode:
        if not os.access(folder, os.W_OK | os.X_OK):
            raise _write_error(path, EnvironmentError(errno.EACCES, os.strerror(errno.EACCES)), "cannot write")
        return True
    tmp = None
    try:
        handle, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=folder)
        with os.fdopen(handle, "wb") as out:
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, FILE_MODE)
        os.rename(tmp, path)
        tmp = None
    except EnvironmentError as exc:
        raise _write_error(path, exc, "cannot write")
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return True
