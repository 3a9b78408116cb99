# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Multi-platform EEs (ee_build ``platforms``): the platform strings, emulation, the base's
platforms and the per-platform plan. Pure functions, except ``emulation_problem`` (runs a probe).

- ``parse_platforms``: ``os/arch[/variant]`` strings as podman's ``--platform`` takes them, checked
  (OCI architecture names; ``linux`` only: EEs are Linux images) and kept as written.
- ``emulation_problem``: whether this host can run a foreign architecture's programs. Inside an
  AWX job binfmt_misc is not mounted, so its entries cannot be read there: a tiny static ELF of
  that architecture is executed instead (``probe_elf``: exit(7)); the kernel runs it through
  qemu-user-static when an entry with the F flag is registered on the host.
- ``base_platforms``: which image of the base's manifest list each platform builds on.
- ``plan_platforms``: which platforms to build, which tags get a new manifest list, which are pushed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import platform as _host
import struct

from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError, BuildInputError

DIGEST_LABEL = "io.eeforge.definition-digest"
UNKNOWN = "unknown"
LIST_TYPES = ("application/vnd.oci.image.index.v1+json",
              "application/vnd.docker.distribution.manifest.list.v2+json")

# OCI/Go architecture names podman knows -> the variants it accepts for them.
ARCHITECTURES = {"amd64": (), "arm64": ("v8",), "arm": ("v5", "v6", "v7"), "ppc64le": (), "s390x": (),
                 "386": (), "riscv64": (), "mips64le": ()}
# What users write instead (uname -m, Debian names).
ALIASES = {"x86_64": "amd64", "aarch64": "arm64", "armhf": "arm", "armv7l": "arm", "i386": "386", "i686": "386",
           "x86-64": "amd64", "ppc64el": "ppc64le"}
# uname -m -> OCI architecture of this host.
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le",
             "s390x": "s390x", "i686": "386", "i386": "386", "armv7l": "arm", "riscv64": "riscv64"}
# Debian's qemu-user-static binfmt_misc entry for each architecture.
QEMU_ENTRIES = {"arm64": "qemu-aarch64", "amd64": "qemu-x86_64", "arm": "qemu-arm", "ppc64le": "qemu-ppc64le",
                "s390x": "qemu-s390x", "386": "qemu-i386", "riscv64": "qemu-riscv64", "mips64le": "qemu-mips64el"}
BINFMT_DIR = "/proc/sys/fs/binfmt_misc"

# exit(7) as machine code: (ELF e_machine, instructions).
PROBE_EXIT = 7
_PROBE_CODE = {
    # movz x0, #7; movz x8, #93 (exit); svc #0
    "arm64": (0xB7, struct.pack("<3I", 0xD28000E0, 0xD2800BA8, 0xD4000001)),
    # mov edi, 7; mov eax, 60 (exit); syscall
    "amd64": (0x3E, b"\xbf\x07\x00\x00\x00\xb8\x3c\x00\x00\x00\x0f\x05"),
}


class Platform(object):
    """One target platform; ``text`` is the string as the user wrote it (what podman gets)."""

    def __init__(self, text, os_name, arch, variant=None):
        self.text = text
        self.os = os_name
        self.arch = arch
        self.variant = variant

    def matches(self, entry):
        """Whether a manifest list entry's ``platform`` dict is this platform."""
        entry = entry or {}
        if entry.get("os") != self.os or entry.get("architecture") != self.arch:
            return False
        if not self.variant or entry.get("variant") == self.variant:
            return True
        return self.arch == "arm64" and self.variant == "v8" and not entry.get("variant")  # v8 is arm64's only one

    def __repr__(self):
        return "Platform(%r)" % self.text


def _input_error(cause, fix):
    return BuildInputError("Failed to build image: platforms: %s" % cause, fix)


def parse_platforms(values):
    """The ``platforms`` option -> a list of ``Platform``; raises BuildInputError in one line."""
    found = []
    for value in values or []:
        text = value if isinstance(value, str) else str(value)
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise _input_error("'%s' is not OS/ARCH or OS/ARCH/VARIANT" % text,
                               "Write each platform as podman's --platform takes it, e.g. linux/amd64 or linux/arm64")
        os_name, arch = parts[0], parts[1]
        variant = parts[2] if len(parts) == 3 else None
        if os_name != "linux":
            raise _input_error("'%s': the OS '%s' is not linux" % (text, os_name),
                               "Execution environments are Linux images: write linux/%s" % arch)
        if arch not in ARCHITECTURES:
            hint = " ('%s' is called '%s' there)" % (arch, ALIASES[arch]) if arch in ALIASES else ""
            raise _input_error("'%s': unknown architecture '%s'" % (text, arch),
                               "Use an OCI architecture name%s: %s" % (hint, ", ".join(sorted(ARCHITECTURES))))
        if variant and variant not in ARCHITECTURES[arch]:
            known = ", ".join(ARCHITECTURES[arch]) or "none"
            raise _input_error("'%s': unknown variant '%s' of %s" % (text, variant, arch),
                               "Leave the variant out, or use one of: %s" % known)
        platform = Platform(text, os_name, arch, variant)
        if any(p.os == platform.os and p.arch == platform.arch and p.variant == platform.variant for p in found):
            raise _input_error("'%s' is listed twice" % text, "List each platform once")
        found.append(platform)
    return found


def host_arch():
    """This host's OCI architecture (``amd64``, ``arm64``...), or uname -m when unknown."""
    machine = _host.machine()
    return _MACHINES.get(machine, machine)


def probe_elf(arch):
    """A static little-endian ELF64 executable for ``arch`` that calls exit(7), or None when there
    is no probe for it (132 bytes for arm64)."""
    if arch not in _PROBE_CODE:
        return None
    machine, code = _PROBE_CODE[arch]
    base, ehsize, phsize = 0x400000, 64, 56
    size = ehsize + phsize + len(code)
    header = b"\x7fELF" + bytes(bytearray([2, 1, 1, 0])) + bytes(bytearray(8)) + struct.pack(
        "<HHIQQQIHHHHHH", 2, machine, 1, base + ehsize + phsize, ehsize, 0, 0, ehsize, phsize, 1, 0, 0, 0)
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    return header + program + code


def _binfmt_state(arch, binfmt_dir):
    """None (cannot tell: binfmt_misc not mounted here), or the entry's problem ('' when fine)."""
    entry = QEMU_ENTRIES.get(arch)
    if not entry or not os.path.isfile(os.path.join(binfmt_dir, "register")):
        return None
    path = os.path.join(binfmt_dir, entry)
    try:
        with open(path) as handle:
            text = handle.read()
    except (IOError, OSError):
        return "binfmt_misc has no '%s' entry" % entry
    if not text.startswith("enabled"):
        return "the binfmt_misc entry '%s' is disabled" % entry
    flags = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("flags:")]
    if flags and "F" not in flags[0]:
        return "the binfmt_misc entry '%s' lacks the F flag, so containers cannot reach its interpreter" % entry
    return ""


def emulation_problem(runner, arch, workdir, binfmt_dir=BINFMT_DIR):
    """None when this host runs ``arch`` programs (natively or emulated), else a one-line reason.

    ``workdir`` is a private directory for the probe. The probe runs through ``runner`` (coreutils
    timeout executes it: 126 is 'cannot execute', 127 'not found', as an ELF whose interpreter is
    missing here, an entry without the F flag, reports).
    """
    if arch == host_arch():
        return None
    elf = probe_elf(arch)
    if elf is None:
        state = _binfmt_state(arch, binfmt_dir)
        return state or None
    path = os.path.join(workdir, "eeforge-probe-" + arch)
    with open(path, "wb") as handle:
        handle.write(elf)
    os.chmod(path, 0o700)
    try:
        rc, _out, err = runner.run([path], check=False, timeout=60)
    except OSError as exc:
        rc, err = 126, str(exc)
    finally:
        os.remove(path)
    if rc == PROBE_EXIT:
        return None
    state = _binfmt_state(arch, binfmt_dir)
    if state:
        return state
    if rc == 127 or "no such file" in (err or "").lower():
        return "the binfmt_misc entry for %s names an interpreter that is not reachable here (no F flag)" % arch
    return "no enabled binfmt_misc entry runs %s programs (exec format error)" % arch


def emulation_error(platform, reason):
    entry = QEMU_ENTRIES.get(platform.arch, "qemu-" + platform.arch)
    return BuildError("Failed to build image for %s: this host (linux/%s) cannot run %s programs: %s"
                      % (platform.text, host_arch(), platform.arch, reason),
                      "On the host that runs podman (the AWX execution node), install qemu-user-static, mount "
                      "binfmt_misc (mount -t binfmt_misc binfmt_misc %s) and enable '%s' with the F flag "
                      "(update-binfmts --enable %s); for a container group the node's kernel must have it, a pod "
                      "cannot register it" % (BINFMT_DIR, entry, entry))


def platform_name(entry):
    """``os/arch[/variant]`` of a manifest list entry's ``platform`` dict."""
    entry = entry or {}
    text = "%s/%s" % (entry.get("os"), entry.get("architecture"))
    return text + ("/" + entry["variant"] if entry.get("variant") else "")


def list_instances(manifest):
    """``[(platform dict, digest)]`` of a manifest list / image index dict; None when it is not a list."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("manifests"), list):
        return None
    if manifest.get("mediaType") not in LIST_TYPES + (None,):
        return None
    found = []
    for entry in manifest["manifests"]:
        if isinstance(entry, dict) and entry.get("digest") and isinstance(entry.get("platform"), dict):
            found.append((entry["platform"], entry["digest"]))
    return found


def pick(platforms, instances):
    """``{platform text: digest}`` for each platform found in ``instances``; the first match wins."""
    chosen = {}
    for platform in platforms:
        for entry, digest in instances:
            if platform.matches(entry):
                chosen[platform.text] = digest
                break
    return chosen


def missing_platforms_error(base_ref, missing, present):
    return BuildError("Failed to build image: base image '%s' has no %s image (it has %s)"
                      % (base_ref, " and no ".join(p.text for p in missing), ", ".join(present) or "none"),
                      "Use a base image (a manifest list) with every platform in platforms, or leave %s out"
                      % ", ".join(p.text for p in missing))


def _digest_of(info):
    if not info or info == UNKNOWN:
        return None
    return (info.get("labels") or {}).get(DIGEST_LABEL)


class PlatformPlan(object):
    """``build``: platform texts to build; ``relist``: tags that get a new local manifest list;
    ``push``: pushed tags to push (``podman manifest push --all``)."""

    def __init__(self, build=(), relist=(), push=(), warnings=()):
        self.build = list(build)
        self.relist = list(relist)
        self.push = list(push)
        self.warnings = list(warnings)

    @property
    def actions(self):
        return ["build %s" % p for p in self.build] + ["manifest %s" % t for t in self.relist] + \
            ["push %s" % r for r in self.push]

    @property
    def changed(self):
        return bool(self.build or self.relist or self.push)


def plan_platforms(digests, tags, push_refs, local, lists, remote, force=False):
    """Decide a multi-platform run.

    ``digests``: ``{platform: definition digest}`` in platform order; ``tags``: every tag, primary
    first; ``local``: ``{platform: facts or None}``, the images the primary tag's local list holds;
    ``lists``: ``{tag: {platform: image id} or None}``, what each tag's local list holds;
    ``remote``: ``{push ref: {platform: facts or None} (the registry's list), None or UNKNOWN}``.
    """
    platforms = list(digests)
    build = [p for p in platforms if force or _digest_of(local.get(p)) != digests[p]]
    unknown = [r for r in push_refs if remote.get(r) == UNKNOWN]
    warnings = ["The manifest list '%s' in its registry is unknown (the registry could not be read in check mode); "
                "counted as a push" % r for r in unknown]

    def remote_ok(ref):
        state = remote.get(ref)
        if not isinstance(state, dict) or sorted(state) != sorted(platforms):
            return False
        return all(_digest_of(state[p]) == digests[p] for p in platforms)

    if not force and build and push_refs and all(remote_ok(r) for r in push_refs):
        return PlatformPlan(warnings=warnings)  # up to date in the registry (push-only workflow)
    # The primary tag's list is what the up-to-date images were found by; every tag gets the same.
    expected = lists.get(tags[0])
    relist = [t for t in tags if build or not expected or lists.get(t) != expected]
    push = [r for r in push_refs if build or not remote_ok(r)]
    return PlatformPlan(build=build, relist=relist, push=push, warnings=warnings)


def select_instance(engine, image, platform=None):
    """``(ref to inspect, platforms)`` for local ``image`` (ee_info ``platform``).

    A local manifest list: its image for ``platform`` (a ``Platform``), or for this host's platform,
    as ``name@digest``, and the list's platforms. Anything else: ``(image, None)`` (see
    ``check_image_platform``). Raises BuildError in one line.
    """
    if not engine.manifest_exists(image):
        return image, None
    instances = list_instances(engine.manifest_inspect(image)) or []
    names = [platform_name(entry) for entry, _digest in instances]
    wanted = platform or Platform("linux/" + host_arch(), "linux", host_arch())
    chosen = pick([wanted], instances)
    if not chosen:
        raise BuildError("Failed to inspect execution environment '%s': its manifest list has no %s image (it has "
                         "%s)" % (image, wanted.text, ", ".join(names) or "none"), "Set platform to one of them")
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[:len(name) - len(last)] + last.split(":", 1)[0]
    return "%s@%s" % (name, chosen[wanted.text]), names


def check_image_platform(image, facts, platform=None):
    """``[own platform]`` of a single image; raises BuildError when it is not ``platform``."""
    own = {"os": facts.get("os"), "architecture": facts.get("architecture")}
    if platform and not platform.matches(own):
        raise BuildError("Failed to inspect execution environment '%s': the local image is %s, not %s"
                         % (image, platform_name(own), platform.text),
                         "Use pull: always to pull its %s image" % platform.text)
    return [platform_name(own)]
