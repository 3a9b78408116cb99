# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Native (amd64) against emulated (arm64) builds of one small EE, as ratios from one run (issue 15).

Columns measured now, all cold (fresh tag, ``--no-cache``), on the harness bases (amd64:
tests/harness/base_image.py, arm64: tests/harness/multiarch.py):

- ``ansible-builder``: plain ``ansible-builder build --extra-build-cli-args='--platform P'``
  of the definition below (ansible-core + ansible-runner + six), per platform;
- ``pip emulated``: one Containerfile stage ``RUN pip install ansible-core ansible-runner``
  (resolution, download and install in the target platform's Python);
- ``wheels native``: ``pip download --platform <target wheel tags> --only-binary=:all:`` on the
  build host (native), then ``pip install --no-index --find-links`` in the target stage;
- ``cross install``: ``pip install --target --platform ... --only-binary=:all:`` in a stage run
  with the build host's platform, the tree COPY'd into the target stage: no emulated pip at all.

- ``ee-build``: ``ansible -m eeforge.builder.ee_build`` with ``platforms: [P]`` and ``no_cache``, cold,
  per platform (the whole CLI run; the module's ``build_duration`` beside it); then the two-platform
  EE (``platforms: [linux/amd64, linux/arm64]``, from the layer cache of those two builds) and the
  no-ops: one platform, two platforms, and no ``platforms`` at all (a plain single image), each
  ``--noop-repeat`` times, as ratios (target: two-platform no-op <= 1.2 x one-platform no-op).
  ee_build's base is a local manifest list of the two harness bases.

Usage: bench/multiarch [--platforms linux/amd64,linux/arm64] [--only COLUMN,...] [--repeat N] [--noop-repeat N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.harness.base_image import ensure_base_image  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.binfmt import ENTRIES, ensure as ensure_binfmt  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.multiarch import ensure_arm64_base_image  # noqa: E402  pylint: disable=wrong-import-position
from tests.harness.podman_env import podman, write_podman_config  # noqa: E402  pylint: disable=wrong-import-position

VENV_BIN = os.path.dirname(sys.executable)
IMAGE = "localhost/eeforge-t15-bench"
PACKAGES = ("ansible-core==2.19.14", "ansible-runner==2.4.3")
PYTHON_VERSION = "3.11"  # bookworm's python3
# pip's tag names for the wheels a bookworm (glibc 2.36) Python of each architecture accepts.
WHEEL_PLATFORMS = {
    "amd64": ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64"),
    "arm64": ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64"),
}

DEFINITION = """\
version: 3
images:
  base_image:
    name: {base}
options:
  package_manager_path: /output/eeforge/apt-dnf-adapter
  skip_pip_install: true
dependencies:
  ansible_core:
    package_pip: {core}
  ansible_runner:
    package_pip: {runner}
  python:
    - six==1.16.0
additional_build_files:
  - src: eeforge
    dest: eeforge
additional_build_steps:
  prepend_base:
    - COPY _build/eeforge/ /output/eeforge/
"""

PIP_EMULATED = """\
FROM {base}
RUN python3 -m pip install --no-cache-dir {packages} && ansible --version
"""

WHEELS_NATIVE = """\
FROM {base}
COPY wheels/ /tmp/wheels/
RUN python3 -m pip install --no-cache-dir --no-index --find-links /tmp/wheels {packages} \\
 && rm -rf /tmp/wheels && ansible --version
"""

CROSS_INSTALL = """\
FROM --platform={native} {native_base} AS wheels
RUN python3 -m pip install --no-cache-dir --target /cross --only-binary=:all: --implementation cp \\
    --python-version {pyver} --abi cp{pynodot} --abi abi3 --abi none {platform_args} {packages}
# Explicit: podman 4.3 carries an earlier stage's FROM --platform over to a later plain FROM.
FROM --platform={target} {base}
COPY --from=wheels /cross/bin/ /usr/local/bin/
COPY --from=wheels /cross/ /usr/local/lib/python{pyver}/dist-packages/
RUN rm -rf /usr/local/lib/python{pyver}/dist-packages/bin && ansible --version
"""


def run(argv, env, cwd=None, timeout=3600):
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit("failed: %s" % " ".join(argv[:4]))
    return elapsed, proc.stdout + proc.stderr


def arch_of(platform):
    os_name, arch = platform.partition("/")[::2]
    if os_name != "linux" or arch not in WHEEL_PLATFORMS:
        raise SystemExit("unsupported platform %r: use linux/amd64 or linux/arm64" % platform)
    return arch


def native_platform():
    machine = os.uname().machine
    return {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}[machine]


class Bench:
    def __init__(self, work, env, bases):
        self.work = work
        self.env = env
        self.bases = bases  # arch -> local base image reference
        self.tags = []
        self.stage_images = []
        self.lists = []
        self.runs = 0

    def built(self, output):
        """Remember the images a build committed ("--> ID" lines: intermediate stages too)."""
        self.stage_images += re.findall(r"^--> ([0-9a-f]{11,64})$", output, re.M)

    def tag(self, column, arch):
        self.runs += 1
        tag = "%s:%s-%s-%d" % (IMAGE, column, arch, self.runs)
        self.tags.append(tag)
        return tag

    def build(self, column, platform, containerfile, context_files=None):
        """podman build --no-cache of ``containerfile`` for ``platform``; return seconds."""
        arch = arch_of(platform)
        context = os.path.join(self.work, "%s-%s-%d" % (column, arch, self.runs))
        os.makedirs(context)
        for name, writer in (context_files or {}).items():
            writer(os.path.join(context, name))
        with open(os.path.join(context, "Containerfile"), "w", encoding="utf-8") as handle:
            handle.write(containerfile)
        seconds, out = run(["podman", "build", "--no-cache", "--pull=never", "--layers=false", "--platform", platform,
                            "-t", self.tag(column, arch), context], self.env)
        self.built(out)
        return seconds

    def ansible_builder(self, platform, adapter_script):
        arch = arch_of(platform)
        project = os.path.join(self.work, "ab-%s-%d" % (arch, self.runs))
        os.makedirs(os.path.join(project, "eeforge"))
        adapter = os.path.join(project, "eeforge", "apt-dnf-adapter")
        with open(adapter, "w", encoding="utf-8") as handle:
            handle.write(adapter_script)
        os.chmod(adapter, 0o755)
        definition = os.path.join(project, "execution-environment.yml")
        with open(definition, "w", encoding="utf-8") as handle:
            handle.write(DEFINITION.format(base=self.bases[arch], core=PACKAGES[0], runner=PACKAGES[1]))
        # -v 3: podman's output, which names the stage images ansible-builder leaves untagged.
        seconds, out = run([os.path.join(VENV_BIN, "ansible-builder"), "build", "-f", definition,
                            "-c", os.path.join(project, "context"), "-t", self.tag("ansible-builder", arch),
                            "--container-runtime", "podman", "--no-cache", "-v", "3",
                            "--extra-build-cli-args=--platform %s --pull=never" % platform], self.env)
        self.built(out)
        return seconds

    def pip_emulated(self, platform):
        base = self.bases[arch_of(platform)]
        return self.build("pip-emulated", platform, PIP_EMULATED.format(base=base, packages=" ".join(PACKAGES)))

    def wheels_native(self, platform):
        arch = arch_of(platform)

        def download(dest):
            argv = [os.path.join(VENV_BIN, "pip"), "download", "-q", "--only-binary=:all:", "--implementation", "cp",
                    "--python-version", PYTHON_VERSION, "-d", dest]
            for tag in WHEEL_PLATFORMS[arch]:
                argv += ["--platform", tag]
            self.download_seconds = run(argv + list(PACKAGES), self.env)[0]  # pylint: disable=attribute-defined-outside-init

        seconds = self.build("wheels-native", platform,
                             WHEELS_NATIVE.format(base=self.bases[arch], packages=" ".join(PACKAGES)),
                             {"wheels": download})
        return seconds + self.download_seconds, self.download_seconds

    def cross_install(self, platform):
        arch = arch_of(platform)
        native = native_platform()
        return self.build("cross-install", platform, CROSS_INSTALL.format(
            native=native, target=platform, native_base=self.bases[arch_of(native)], base=self.bases[arch],
            pyver=PYTHON_VERSION, pynodot=PYTHON_VERSION.replace(".", ""),
            platform_args=" ".join("--platform " + tag for tag in WHEEL_PLATFORMS[arch]),
            packages=" ".join(PACKAGES)))

    def ee_build(self, args):
        """``ansible -m eeforge.builder.ee_build``; return (seconds, result)."""
        env = dict(self.env, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".cache", "collections"))
        seconds, out = run([os.path.join(VENV_BIN, "ansible"), "localhost", "-c", "local", "-i", "localhost,",
                            "-e", "ansible_python_interpreter=%s" % sys.executable, "-m", "eeforge.builder.ee_build",
                            "-a", json.dumps(args)], env)
        doc = json.loads(out[out.index("{"):out.rindex("}") + 1])
        result = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
        if result.get("failed"):
            raise SystemExit("ee_build failed: %s" % result.get("msg"))
        for entry in (result.get("platforms") or {}).values():
            self.stage_images.append(entry["image_id"])
        if result.get("image_id"):
            self.stage_images.append(result["image_id"])
        self.stage_images += re.findall(r"--> ([0-9a-f]{11,64})", open(result["build_log"]).read()) \
            if result.get("build_log") else []
        return seconds, result

    def ee_build_args(self, tag, platforms, base):
        self.tags.append(tag)
        args = {"definition": {"version": 3, "images": {"base_image": {"name": base}},
                               "dependencies": {"ansible_core": {"package_pip": PACKAGES[0]},
                                                "ansible_runner": {"package_pip": PACKAGES[1]},
                                                "python": ["six==1.16.0"]}},
                "tags": [tag], "build_log_dir": self.work}
        if platforms:
            args["platforms"] = platforms
        return args

    def base_list(self):
        """A local manifest list of the two harness bases (ee_build's multi-platform base)."""
        name = "%s-base:list" % IMAGE
        podman(["manifest", "rm", name], env=self.env, check=False)
        podman(["manifest", "create", name], env=self.env)
        for arch in ("amd64", "arm64"):
            podman(["manifest", "add", name, "containers-storage:" + self.bases[arch]], env=self.env)
        self.lists.append(name)
        return name

    def cleanup(self):
        for name in self.lists:
            podman(["manifest", "rm", name], env=self.env, check=False)
        self.lists = []
        for tag in self.tags:
            podman(["manifest", "rm", tag], env=self.env, check=False)
            podman(["rmi", tag], env=self.env, check=False)
        # Only what these builds committed, each by ID, never forced.
        for image in reversed(self.stage_images):
            podman(["rmi", image], env=self.env, check=False)
        self.tags, self.stage_images = [], []


def log(msg):
    sys.stderr.write(msg + "\n")


COLUMNS = ("ansible-builder", "pip-emulated", "wheels-native", "cross-install", "ee-build")


def ee_build_column(bench, platforms, round_no, samples, noop_repeat):
    """ee_build cold per platform, then the no-ops of one platform, two platforms and no platforms."""
    base = bench.base_list()
    one = {}
    for platform in platforms:
        tag = "%s:ee-build-%s-%d" % (IMAGE, arch_of(platform), round_no)
        args = bench.ee_build_args(tag, [platform], base)
        seconds, result = bench.ee_build(dict(args, no_cache=True))
        samples.setdefault(("ee-build", platform), []).append(seconds)
        print("round %d  %-16s %-12s cold %6.1f s  (podman build %.1f s)" % (
            round_no, "ee-build", platform, seconds, result.get("build_duration") or 0), flush=True)
        one[platform] = args
    both = bench.ee_build_args("%s:ee-build-both-%d" % (IMAGE, round_no), platforms, base)
    bench.ee_build(both)  # from the layer cache of the builds above
    plain = bench.ee_build_args("%s:ee-build-plain-%d" % (IMAGE, round_no), None, bench.bases["amd64"])
    bench.ee_build(plain)
    native = native_platform()
    cases = (("no-op 1 platform", one[native]), ("no-op %d platforms" % len(platforms), both),
             ("no-op no platforms", plain))
    for _repeat in range(noop_repeat):
        for label, args in cases:
            seconds, result = bench.ee_build(args)
            assert result.get("changed") is False, result.get("actions")
            samples.setdefault(("ee-build", label), []).append(seconds)
    for label, _args in cases:
        values = samples[("ee-build", label)][-noop_repeat:]
        print("round %d  %-16s %-20s %6.2f s  (median of %d)" % (round_no, "ee-build", label,
                                                                 statistics.median(values), noop_repeat), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platforms", default="linux/amd64,linux/arm64")
    parser.add_argument("--only", default=",".join(COLUMNS), help="columns, comma-separated: " + ", ".join(COLUMNS))
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the figures are medians")
    parser.add_argument("--noop-repeat", type=int, default=5, help="ee_build no-op runs per case and round")
    parser.add_argument("--keep", action="store_true", help="keep the bench images")
    opts = parser.parse_args()
    platforms = opts.platforms.split(",")
    columns = [c for c in opts.only.split(",") if c]
    unknown = sorted(set(columns) - set(COLUMNS))
    if unknown:
        raise SystemExit("unknown column(s) %s: choose from %s" % (", ".join(unknown), ", ".join(COLUMNS)))
    for platform in platforms:
        if platform != native_platform():
            ensure_binfmt(ENTRIES[arch_of(platform)])

    work = tempfile.mkdtemp(prefix="eeforge-bench-multiarch-")
    env = dict(os.environ)
    env.update(write_podman_config(os.path.join(work, "conf")))
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    podman_env = {k: env[k] for k in ("CONTAINERS_CONF", "CONTAINERS_REGISTRIES_CONF")}
    bases = {"amd64": ensure_base_image(env=podman_env, log=log),
             "arm64": ensure_arm64_base_image(env=podman_env, log=log)}
    bench = Bench(work, env, bases)
    results = {}
    try:
        adapter_script = None
        if "ansible-builder" in columns or "ee-build" in columns:
            link = os.path.join(REPO, ".cache", "collections", "ansible_collections", "eeforge", "builder")
            if not os.path.exists(link):
                os.makedirs(os.path.dirname(link), exist_ok=True)
                os.symlink(REPO, link)
            sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))
            from ansible_collections.eeforge.builder.plugins.module_utils._build_context import (  # pylint: disable=import-outside-toplevel
                APT_ADAPTER_SCRIPT,
            )
            adapter_script = APT_ADAPTER_SCRIPT
        samples = {}
        for _round in range(opts.repeat):
            # Rounds interleave the columns and platforms, so that load from other jobs on the
            # machine weighs on both sides of each ratio alike.
            for column in columns:
                if column == "ee-build":
                    ee_build_column(bench, platforms, _round + 1, samples, opts.noop_repeat)
                    continue
                for platform in platforms:
                    if column == "ansible-builder":
                        seconds = bench.ansible_builder(platform, adapter_script)
                        note = ""
                    elif column == "wheels-native":
                        seconds, download = bench.wheels_native(platform)
                        note = "  (of which pip download on the host: %.1f s)" % download
                    else:
                        seconds = getattr(bench, column.replace("-", "_"))(platform)
                        note = ""
                    samples.setdefault((column, platform), []).append(seconds)
                    print("round %d  %-16s %-12s cold %6.1f s%s" % (_round + 1, column, platform, seconds, note),
                          flush=True)
            if not opts.keep:
                bench.cleanup()
        for (column, platform), values in samples.items():
            results[(column, platform)] = statistics.median(values)
            print("%-16s %-12s cold, median of %d: %6.1f s  (%s)" % (
                column, platform, len(values), results[(column, platform)], " ".join("%.1f" % v for v in values)))
        native = native_platform()
        for column in columns:
            for platform in platforms:
                if platform != native and (column, native) in results:
                    ratio = results[(column, platform)] / results[(column, native)]
                    print("%-16s %s / %s: %.2f x" % (column, platform, native, ratio))
        noop = dict((label, value) for (column, label), value in results.items()
                    if column == "ee-build" and label.startswith("no-op"))
        if noop:
            one = noop.get("no-op 1 platform")
            for label in sorted(noop):
                print("%-16s %-20s %6.2f s  %.2f x the 1-platform no-op" % ("ee-build", label, noop[label],
                                                                            noop[label] / one if one else 0))
        emulated = [p for p in platforms if p != native]
        for platform in emulated:
            if ("pip-emulated", platform) in results:
                for column in ("wheels-native", "cross-install"):
                    if (column, platform) in results:
                        print("%-16s %s vs pip-emulated: %.2f x" % (
                            column, platform, results[(column, platform)] / results[("pip-emulated", platform)]))
    finally:
        if not opts.keep:
            bench.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
