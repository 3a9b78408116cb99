# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How ``ansible-builder create`` is started: its console script's Python runs the entry point through the
shim that keeps rfc3987-syntax's grammars out, and the context it writes is the one the script writes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import filecmp
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils._builder_create import (
    BUILDER_SHIM,
    builder_command,
    render_context,
)
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError


class Runner(object):
    """``get_bin`` from a table; ``run`` runs the command for real and records it."""

    def __init__(self, bins=None):
        self.bins = bins or {}
        self.calls = []

    def get_bin(self, name):
        return self.bins.get(name)

    def run(self, argv, timeout=None, cwd=None):
        self.calls.append(argv)
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False)
        if proc.returncode:
            from ansible_collections.eeforge.builder.plugins.module_utils._runner import (  # pylint: disable=import-outside-toplevel
                CommandError,
            )
            raise CommandError(argv, proc.returncode, proc.stdout, proc.stderr)
        return proc.returncode, proc.stdout, proc.stderr


def _script(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


CONSOLE = "# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom ansible_builder.cli import run\nsys.exit(run())\n"


def test_a_console_script_runs_through_its_own_python(tmp_path):
    script = _script(tmp_path, "ansible-builder", "#!%s\n%s" % (sys.executable, CONSOLE))
    assert builder_command(Runner(), script) == [sys.executable, "-c", BUILDER_SHIM]
    env_form = _script(tmp_path, "ab-env", "#!/usr/bin/env python3\n" + CONSOLE)
    assert builder_command(Runner({"python3": sys.executable}), env_form) == [sys.executable, "-c", BUILDER_SHIM]


@pytest.mark.parametrize("text", [
    "#!/bin/sh\nexec /opt/ab/bin/ansible-builder \"$@\"\n",      # a wrapper
    "#!/usr/bin/python3 -I\n" + CONSOLE,                          # interpreter options: run it as it is
    "#!/nonexistent/python3\n" + CONSOLE,                         # no such interpreter
    "#!%s\nprint('not ansible-builder')\n" % sys.executable,      # some other Python program
    "",
])
def test_anything_else_runs_as_it_is(tmp_path, text):
    script = _script(tmp_path, "ansible-builder", text)
    assert builder_command(Runner(), script) == [script]
    assert builder_command(Runner(), str(tmp_path / "missing")) == [str(tmp_path / "missing")]
    assert builder_command(Runner(), "/usr/bin/env") == ["/usr/bin/env"]  # a binary


def test_the_shim_does_not_import_from_the_working_directory(tmp_path):
    (tmp_path / "ansible_builder").mkdir()
    (tmp_path / "ansible_builder" / "__init__.py").write_text("raise SystemExit('imported from the cwd')\n")
    pytest.importorskip("ansible_builder")
    proc = subprocess.run([sys.executable, "-c", BUILDER_SHIM, "--version"], cwd=str(tmp_path), capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0 and "imported from the cwd" not in proc.stdout + proc.stderr, proc.stderr
    assert proc.stdout.strip()[:1].isdigit(), proc.stdout


def _render(runner, builder_bin, tmp_path, name, log=None):
    derived = {"version": 3, "images": {"base_image": {"name": "registry.example.com/ee/base:1"}},
               "dependencies": {"python": ["six==1.16.0"]}}
    context = str(tmp_path / name)
    text = render_context(runner, builder_bin, derived, str(tmp_path / (name + "-staging")), context,
                          log_handle=log)
    return context, text


def test_the_shim_writes_the_context_the_script_writes(tmp_path):
    pytest.importorskip("ansible_builder")
    script = os.path.join(os.path.dirname(sys.executable), "ansible-builder")
    if not os.path.exists(script):
        pytest.skip("no ansible-builder console script next to %s" % sys.executable)
    wrapper = _script(tmp_path, "wrapper", "#!/bin/sh\nexec %s \"$@\"\n" % script)
    plain_runner, shim_runner = Runner(), Runner()
    plain, plain_text = _render(plain_runner, wrapper, tmp_path, "plain")
    with open(str(tmp_path / "log"), "w") as log:
        shimmed, shim_text = _render(shim_runner, script, tmp_path, "shim", log=log)
    assert plain_runner.calls[0][0] == wrapper and shim_runner.calls[0][:3] == builder_command(Runner(), script)
    assert shim_text == plain_text and "six==1.16.0" in open(os.path.join(shimmed, "_build", "requirements.txt")).read()
    compared = filecmp.dircmp(plain, shimmed)
    assert not compared.diff_files and not compared.left_only and not compared.right_only
    # The log names ansible-builder, not the shim.
    logged = open(str(tmp_path / "log")).read()
    assert logged.startswith("$ %s create --file " % script) and BUILDER_SHIM not in logged
    shutil.rmtree(plain)


def test_a_failing_create_is_one_line(tmp_path):
    failing = _script(tmp_path, "ansible-builder", "#!/bin/sh\necho 'Error: bad definition key' >&2\nexit 2\n")
    with pytest.raises(BuildError) as err:
        _render(Runner(), failing, tmp_path, "bad")
    assert "bad definition key" in str(err.value) and "\n" not in str(err.value)
