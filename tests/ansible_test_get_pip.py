# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for ansible-test's get-pip bootstrap script on machines that only reach PyPI.

ansible-test downloads get-pip from ci-files.testing.ansible.com, which these machines cannot
reach; `make setup` puts this file where ansible-test caches that script.  It does the same job:
give the fresh virtual environment pip (from the interpreter's own ensurepip), then install the
requested packages (the pinned pip, setuptools, wheel) from the configured index.
"""

from __future__ import annotations

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel", "--disable-pip-version-check"}


def main():
    packages = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
    if packages:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q"] + packages)


if __name__ == "__main__":
    main()
