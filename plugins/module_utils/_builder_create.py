# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ansible-builder create``: the build context of one definition (``render_context``).

ansible-builder is run as the installation ``builder_bin`` names. When that is a Python console
script, its interpreter runs ansible-builder's entry point through ``BUILDER_SHIM``, which only
keeps rfc3987-syntax out: jsonschema >= 4.25 compiles that package's Lark grammars at import when it
is installed (cyclonedx-python-lib, for ee_info's SBOM, brings it), about a second per context,
for an 'iri' format checker ansible-builder never uses (it validates without a format checker).
The context is the same; anything else (a wrapper script, an unreadable file) runs ``builder_bin``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re

from ansible_collections.eeforge.builder.plugins.module_utils._build_context import (
    HELPERS_DEST,
    add_secret_mounts,
)
from ansible_collections.eeforge.builder.plugins.module_utils._definition import dump_definition
from ansible_collections.eeforge.builder.plugins.module_utils._engine_build import CONTAINERFILE
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError, path_error
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError

# The console script's own start, less two things: '' (the working directory, which ``-c`` puts first on
# sys.path) and rfc3987-syntax.
BUILDER_SHIM = ("import sys; sys.path[:] = [p for p in sys.path if p]; sys.modules['rfc3987_syntax'] = None; "
                "sys.argv[0] = 'ansible-builder'; from ansible_builder.cli import run; sys.exit(run())")


def builder_command(runner, builder_bin):
    """The argv that starts ``builder_bin``: ``[python, '-c', BUILDER_SHIM]`` for a console script whose
    ``#!`` line names a Python (a path, or ``/usr/bin/env python3``), else ``[builder_bin]``."""
    try:
        with open(builder_bin, "rb") as handle:
            first = handle.readline(512)
            body = handle.read(4096)
    except (IOError, OSError):
        return [builder_bin]
    words = first[2:].decode("utf-8", "replace").split() if first.startswith(b"#!") else []
    if words and os.path.basename(words[0]) == "env" and len(words) == 2:
        words = [runner.get_bin(words[1]) or ""]
    if len(words) != 1 or not re.match(r"python[0-9.]*$", os.path.basename(words[0])):
        return [builder_bin]
    if b"ansible_builder.cli" not in body or not os.access(words[0], os.X_OK):
        return [builder_bin]
    return [words[0], "-c", BUILDER_SHIM]


def _write_helpers(helper_dir, helpers, ca_files):
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


# ansible-builder's words for a context directory it cannot write (it prints the OSError).
_DISK_ERRORS = ((errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system"),
                (errno.EDQUOT, "Disk quota exceeded"))


def render_context(runner, builder_bin, derived, staging_dir, context_dir, helpers=None, ca_files=(),
                   use_secret=False, log_handle=None, timeout=None, builder_args=()):
    """Write ``derived`` and the helper files under ``staging_dir``, run ``ansible-builder create``
    (with ``builder_args``: its collection signature options) into ``context_dir`` and post-process the
    Containerfile. Returns the Containerfile text.

    Raises BuildError (one line) when ansible-builder fails or a file cannot be written.
    """
    helper_dir = os.path.join(staging_dir, HELPERS_DEST)
    definition_path = os.path.join(staging_dir, "execution-environment.yml")
    try:
        if helpers or ca_files:
            _write_helpers(helper_dir, helpers or {}, ca_files)
            # ansible-builder copies a directory's content into _build/<dest>
            derived.setdefault("additional_build_files", []).insert(0, {"src": helper_dir, "dest": HELPERS_DEST})
        if not os.path.isdir(staging_dir):
            os.makedirs(staging_dir)  # no helper files
        with open(definition_path, "w") as handle:
            handle.write(dump_definition(derived))
    except (IOError, OSError) as exc:
        raise path_error("write the build definition into", getattr(exc, "filename", None) or staging_dir, exc)
    args = ["create", "--file", definition_path, "--context", context_dir,
            "--output-filename", CONTAINERFILE, "-v", "2"] + list(builder_args)
    shown = " ".join([builder_bin] + args)  # the log names the command it runs, not the shim
    try:
        _rc, out, err = runner.run(builder_command(runner, builder_bin) + args, timeout=timeout, cwd=staging_dir)
    except CommandError as exc:
        if log_handle:
            log_handle.write("$ %s\n%s%s\n" % (shown, exc.stdout, exc.stderr))
        lines = [line for line in (exc.stderr + "\n" + exc.stdout).splitlines() if line.strip()]
        for code, words in _DISK_ERRORS:
            if any(words in line for line in lines):
                # The context directory's file system, not the definition: say which path and what to do.
                error = path_error("render the build context into", context_dir, OSError(code, words),
                                   option="context_dir")
                error.log_tail = lines[-30:]
                raise error
        cause = lines[-1].strip() if lines else exc.summary()
        raise BuildError("Failed to render build context with ansible-builder: %s" % cause,
                         "Fix the definition (see the ansible-builder message)", lines[-30:])
    if log_handle:
        log_handle.write("$ %s\n%s%s\n" % (shown, out, err))
    path = os.path.join(context_dir, CONTAINERFILE)
    try:
        with open(path) as handle:
            text = handle.read()
        if use_secret:
            text = add_secret_mounts(text)
            with open(path, "w") as handle:
                handle.write(text)
    except (IOError, OSError) as exc:
        raise path_error("write the Containerfile", path, exc, option="context_dir")
    return text
