# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provenance labels of a build (OCI image annotations, as labels): when, and from which source.

- ``org.opencontainers.image.created``: the build's start, RFC 3339 in UTC;
- ``org.opencontainers.image.source`` and ``org.opencontainers.image.revision``: when the definition
  sits in a git checkout, the URL of its ``origin`` remote (any user name or token in it left out)
  and the commit checked out (``HEAD``), with ``-dirty`` when the definition's directory has
  uncommitted changes.

They are not part of the definition digest: a commit that changes nothing the image is made of does
not rebuild it, and the labels keep saying what the image was built from. Labels the user gives win.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible.module_utils.common.text.converters import to_text

CREATED_LABEL = "org.opencontainers.image.created"
SOURCE_LABEL = "org.opencontainers.image.source"
REVISION_LABEL = "org.opencontainers.image.revision"


def public_url(url):
    """``url`` without credentials: ``https://user:token@host/x`` -> ``https://host/x``; a scp-like
    ``git@host:org/repo.git`` keeps its user (it is no secret) and becomes ``ssh://git@host/org/repo.git``."""
    url = (url or "").strip()
    if not url:
        return None
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@]*@)?(.*)$", url)
    if match:
        scheme, userinfo, rest = match.groups()
        if userinfo and scheme.lower().startswith("ssh") and ":" not in userinfo:
            return scheme + userinfo + rest
        return scheme + rest
    match = re.match(r"^([A-Za-z0-9._-]+@)?([^/:]+):(.+)$", url)
    if match and not url.startswith("/"):
        user, host, path = match.groups()
        return "ssh://%s%s/%s" % (user or "", host, path.lstrip("/"))
    return None  # a local path: nothing a consumer of the image could open


def provenance_labels(runner, directory, now=None):
    """The provenance labels for a build of a definition in ``directory`` (see the module docstring);
    ``now``: a ``time.struct_time`` in UTC (default: now)."""
    labels = {CREATED_LABEL: time.strftime("%Y-%m-%dT%H:%M:%SZ", (now or time.gmtime()))}
    git = runner.get_bin("git") if directory else None
    if not git:
        return labels
    rc, out, _err = runner.run([git, "-C", directory, "rev-parse", "--verify", "--quiet", "HEAD"], check=False,
                               timeout=30)
    revision = to_text(out).strip()
    if rc != 0 or not re.match(r"^[0-9a-f]{40,64}$", revision):
        return labels  # not a checkout, or one without a commit
    rc, out, _err = runner.run([git, "-C", directory, "status", "--porcelain", "--", "."], check=False, timeout=30)
    if rc == 0 and to_text(out).strip():
        revision += "-dirty"
    labels[REVISION_LABEL] = revision
    rc, out, _err = runner.run([git, "-C", directory, "config", "--get", "remote.origin.url"], check=False, timeout=30)
    source = public_url(to_text(out)) if rc == 0 else None
    if source:
        labels[SOURCE_LABEL] = source
    return labels
