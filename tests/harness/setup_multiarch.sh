#!/usr/bin/env bash
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Emulation for foreign-platform builds on a Debian 12 test machine (issue 15), as root:
# installs qemu-user-static (+ binfmt-support for update-binfmts), mounts binfmt_misc when it
# is not mounted, registers and enables qemu-aarch64 (flags PF), then checks it.
# Without systemd as PID 1 (these VMs, containers) the packages' own services do not run, so
# nothing is registered by the install alone.
# Optional: --base-image also builds (or re-imports) the cached arm64 harness base image.
set -eu
repo="$(cd "$(dirname "$0")/../.." && pwd)"
python="$repo/.venv/bin/python"
[ -x "$python" ] || python=python3

if ! [ -x /usr/bin/qemu-aarch64-static ] || ! command -v update-binfmts >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support
fi
if ! grep -qs ' /proc/sys/fs/binfmt_misc binfmt_misc ' /proc/self/mounts; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
cd "$repo"
"$python" -m tests.harness.binfmt ensure qemu-aarch64
if [ "${1:-}" = "--base-image" ]; then
    "$python" -c 'import sys; from tests.harness.multiarch import ensure_arm64_base_image; print(ensure_arm64_base_image(log=lambda m: sys.stderr.write(m + "\n")))'
fi
