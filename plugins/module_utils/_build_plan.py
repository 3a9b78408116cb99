# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_build's decision, as a pure function: inputs + observed local/registry state -> a ``Plan``.

``plan_build()`` runs no command. The state it gets is what the engine and the registry said:
``local`` maps each tag to the local image's facts (``Engine.inspect``) or None, ``remote`` maps
each tag that is pushed to the registry's facts (``inspect_remote``), None when the tag is not
there, or ``UNKNOWN`` when the registry could not be asked (check mode without the registry).
The plan says what to do (``actions``), whether that is a change, and the diff.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.eeforge.builder.plugins.module_utils._definition import DEFINITION_LABEL, DIGEST_LABEL

UNKNOWN = "unknown"
NEW_IMAGE = "(new image)"


class Plan(object):
    """What ee_build will do. ``actions`` are the strings ee_build returns: ``build``, ``tag <ref>``,
    ``push <ref>``, ``sign <ref>``; ``diff`` is the ``before``/``after`` of the primary tag."""

    def __init__(self, build=False, retag=(), push=(), image_id=None, digest=None, diff=None, warnings=(), sign=()):
        self.build = build
        self.retag = list(retag)
        self.push = list(push)
        self.sign = list(sign)
        self.image_id = image_id
        self.digest = digest
        self.diff = diff or {}
        self.warnings = list(warnings)

    @property
    def actions(self):
        return (["build"] if self.build else []) + ["tag %s" % r for r in self.retag] + \
            ["push %s" % r for r in self.push] + ["sign %s" % r for r in self.sign]

    @property
    def changed(self):
        return bool(self.build or self.retag or self.push or self.sign)

    @property
    def up_to_date(self):
        return not self.changed


def _labels(info):
    if not info or info == UNKNOWN:
        return {}
    return info.get("labels") or {}


def built_definition(info):
    """The normalized definition an image was built from (its DEFINITION_LABEL), or None."""
    text = _labels(info).get(DEFINITION_LABEL)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _to_sign(push_refs, pushed, signed):
    """The pushed tags that need a signature: every one pushed now, and those whose image in the
    registry has none by the key (``signed``: None when nothing is signed)."""
    if signed is None:
        return []
    return [r for r in push_refs if r in pushed or not signed.get(r)]


def plan_build(digest, refs, push_refs, local, remote, force=False, definition=None, signed=None):
    """Decide what ee_build does.

    ``refs``: the tags (strings), primary first; ``push_refs``: those pushed (empty without push);
    ``local``: ``{tag: facts or None}``; ``remote``: ``{tag: facts, None or UNKNOWN}`` for push_refs;
    ``definition``: the normalized definition to build (for the diff); ``signed``: None when the
    pushed images are not signed, else ``{push ref: True}`` for each whose image in the registry
    (at its digest there) already has a signature by the key.
    """
    primary = refs[0]
    primary_local = local.get(primary)
    local_ok = bool(primary_local) and _labels(primary_local).get(DIGEST_LABEL) == digest
    unknown = [r for r in push_refs if remote.get(r) == UNKNOWN]
    remote_ok = not unknown and all(_labels(remote.get(r)).get(DIGEST_LABEL) == digest for r in push_refs)
    warnings = ["The digest of '%s' in its registry is unknown (the registry could not be read in check mode); "
                "counted as a push" % r for r in unknown]

    source = primary_local or next((remote[r] for r in push_refs if remote.get(r) not in (None, UNKNOWN)), None)
    before = {"definition_digest": _labels(source).get(DIGEST_LABEL),
              "image_id": (primary_local or {}).get("id"),
              "definition": built_definition(source)}
    if not force and not local_ok and push_refs and remote_ok:
        # Up to date in the registry; nothing to build for a push-only workflow.
        info = remote.get(primary) or remote[push_refs[0]]
        return Plan(digest=info.get("digest"), diff={"before": before, "after": dict(before)}, warnings=warnings,
                    sign=_to_sign(push_refs, (), signed))

    build = force or not local_ok
    retag = []
    if not build:
        retag = [r for r in refs[1:] if not local.get(r) or local[r].get("id") != primary_local["id"]]
    push = [r for r in push_refs if build or not remote_ok or remote.get(r) in (None, UNKNOWN)
            or _labels(remote[r]).get(DIGEST_LABEL) != digest]
    after = {"definition_digest": digest, "image_id": NEW_IMAGE if build else before["image_id"],
             "definition": definition if build else before["definition"]}
    if not build and before["definition"] is None:
        after["definition"] = None
    image_id = None if build else primary_local["id"]
    registry_digest = None
    if push_refs and not push and remote.get(push_refs[0]) not in (None, UNKNOWN):
        registry_digest = remote[push_refs[0]].get("digest")
    return Plan(build=build, retag=retag, push=push, image_id=image_id, digest=registry_digest,
                diff={"before": before, "after": after}, warnings=warnings, sign=_to_sign(push_refs, push, signed))
