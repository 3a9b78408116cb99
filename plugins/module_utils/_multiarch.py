# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_build with ``platforms``: one image per platform, a manifest list under each tag.

- state: the primary tag's local manifest list (``podman manifest exists`` / ``inspect``) and the
  images it lists (one ``image inspect``, by digest); each pushed tag's list in its registry
  (``skopeo inspect --raw``, then the labels of each platform's image);
- base: which image of the base's manifest list each platform builds on (``refresh_base``: asked
  of its registry, or of the local list; ``false``: what each platform's last build recorded);
- decision: ``_platforms.plan_platforms`` (pure): only the platforms whose definition digest (it
  covers the platform and its base image) changed are built;
- execution: the context is rendered once (ansible-builder), then ``podman build --platform P``
  per platform, each FROM exactly its base image; a new local list per tag; ``podman manifest push
  --all`` per pushed tag.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.eeforge.builder.plugins.module_utils import _definition as defn
from ansible_collections.eeforge.builder.plugins.module_utils._build_base import BASE_DIGEST_LABEL, BaseImage
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError, RegistryError
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import split_ref
from ansible_collections.eeforge.builder.plugins.module_utils._platforms import (
    UNKNOWN,
    emulation_error,
    emulation_problem,
    host_arch,
    list_instances,
    missing_platforms_error,
    parse_platforms,
    pick,
    plan_platforms,
    platform_name,
)
from ansible_collections.eeforge.builder.plugins.module_utils._registry import inspect_raw, inspect_remote
from ansible_collections.eeforge.builder.plugins.module_utils._runner import private_tempdir

__all__ = ["MultiPlatformBuild", "parse_platforms"]


def _without_tag(ref):
    parsed = split_ref(ref, require_tag=False)
    return parsed.name


def _chosen_bases(base_ref, ref, platforms, instances, source):
    """``{platform text: BaseImage}`` of each platform's image in the base's list ``instances``;
    raises the one-line error naming the platforms it lacks."""
    chosen = pick(platforms, instances)
    missing = [p for p in platforms if p.text not in chosen]
    if missing:
        raise missing_platforms_error(base_ref, missing, [platform_name(e) for e, _d in instances])
    return dict((p.text, BaseImage(base_ref, chosen[p.text], "%s@%s" % (ref.name, chosen[p.text]), source))
                for p in platforms)


class MultiPlatformBuild(object):
    """One ee_build run with ``platforms``, driven by an ``EEBuild`` (its inputs, engine, context and
    per-image build). ``run(given, result)`` fills ``result`` and returns ``changed``."""

    def __init__(self, build):
        self.ee = build
        self.module = build.module
        self.params = build.params
        self.engine = build.engine
        self.runner = build.runner
        self.check_mode = build.module.check_mode

    # -- state --------------------------------------------------------------------------------
    def local_list(self, tag, platforms):
        """``{platform text: digest}`` of the local manifest list ``tag`` (only when it lists exactly
        these platforms), ``{}`` for another list, or None when ``tag`` is no local list."""
        if not self.engine.manifest_exists(tag):
            return None
        instances = list_instances(self.engine.manifest_inspect(tag)) or []
        chosen = pick(platforms, instances)
        return chosen if len(chosen) == len(instances) == len(platforms) else {}

    def local_images(self, primary, listed):
        """``{platform text: facts or None}`` of the images the primary tag's list names."""
        name = _without_tag(primary)
        refs = dict((p, "%s@%s" % (name, digest)) for p, digest in (listed or {}).items())
        facts = self.engine.inspect_many(list(refs.values())) if refs else {}
        return dict((p, facts.get(ref)) for p, ref in refs.items())

    def labelled_images(self, digests):
        """``{platform text: facts}`` of local images labelled with a platform's definition digest
        (one ``podman images``): a list that was replaced (a ``podman pull`` of the tag, say) or
        never made does not mean its images are gone."""
        rc, out, _err = self.engine.run(["images", "--all", "--format", "json", "--filter",
                                         "label=%s" % defn.DIGEST_LABEL], check=False)
        try:
            listed = json.loads(out) if rc == 0 and out.strip() else []
        except ValueError:
            listed = []
        found = {}
        wanted = dict((digest, text) for text, digest in digests.items())
        for entry in listed if isinstance(listed, list) else []:
            labels = (entry or {}).get("Labels") or {}
            text = wanted.get(labels.get(defn.DIGEST_LABEL))
            if text and text not in found and entry.get("Id"):
                found[text] = {"id": entry["Id"].replace("sha256:", ""), "labels": dict(labels)}
        return found

    def remote_lists(self, push_refs, platforms):
        """``{ref: {platform text: facts}, {} (another list), None (absent) or UNKNOWN}``, and each
        ref's ``(list digest, {platform text: digest})``."""
        params = self.params
        state, digests = {}, {}
        for ref in push_refs:
            creds = dict(username=params["registry_username"], password=params["registry_password"],
                         auth_file=params["auth_file"], tls_verify=params["tls_verify"], runner=self.runner)
            try:
                raw = inspect_raw(self.module, ref, **creds)
                if raw is None:
                    state[ref] = None
                    continue
                instances = list_instances(raw[0]) or []
                chosen = pick(platforms, instances)
                digests[ref] = (raw[1], chosen)
                if len(chosen) != len(instances) or len(chosen) != len(platforms):
                    state[ref] = {}
                    continue
                state[ref] = dict((p.text, inspect_remote(self.module, ref, platform=(p.os, p.arch, p.variant),
                                                          **creds)) for p in platforms)
            except RegistryError as exc:
                if not self.check_mode:
                    raise
                state[ref] = UNKNOWN
                self.ee.warnings.append("Check mode could not read '%s' from its registry (%s)" % (ref, exc.cause))
        return state, digests

    def bases(self, base_ref, platforms, local):
        """``{platform text: BaseImage}``; None for each when check mode could not find out."""
        params = self.params
        ref = split_ref(base_ref, require_tag=False)
        recorded = dict((p.text, ((local.get(p.text) or {}).get("labels") or {}).get(BASE_DIGEST_LABEL))
                        for p in platforms)
        if not params["refresh_base"] and all(recorded.values()):
            return dict((p.text, BaseImage(base_ref, recorded[p.text], "%s@%s" % (ref.name, recorded[p.text]),
                                           "recorded")) for p in platforms)
        if ref.registry == "localhost" or not ref.explicit_registry:
            return self._local_bases(base_ref, platforms, ref)
        try:
            raw = inspect_raw(self.module, base_ref, username=params["base_registry_username"],
                              password=params["base_registry_password"], tls_verify=params["tls_verify"],
                              runner=self.runner)
        except RegistryError as exc:
            if self.check_mode:
                self.ee.warnings.append("Base image '%s' could not be looked up (%s): counted as a build"
                                        % (base_ref, exc.cause))
                return dict((p.text, None) for p in platforms)
            raise BuildError(exc.cause.replace("Failed to inspect image", "Failed to pull base image"),
                             exc.fix + " (base_registry_username/base_registry_password)")
        if raw is None:
            raise BuildError("Failed to pull base image '%s': it does not exist in its registry" % base_ref,
                             "Check images.base_image.name (repository and tag)")
        manifest, digest = raw
        instances = list_instances(manifest)
        if instances is None:  # one image, not a list: it has one platform
            info = inspect_remote(self.module, base_ref, username=params["base_registry_username"],
                                  password=params["base_registry_password"], tls_verify=params["tls_verify"],
                                  runner=self.runner) or {}
            entry = {"os": info.get("os"), "architecture": info.get("architecture"), "variant": info.get("variant")}
            instances = [(entry, ref.digest or digest)]
        return _chosen_bases(base_ref, ref, platforms, instances, "registry")

    def _local_bases(self, base_ref, platforms, ref):
        if self.engine.manifest_exists(base_ref):
            instances = list_instances(self.engine.manifest_inspect(base_ref)) or []
            return _chosen_bases(base_ref, ref, platforms, instances, "local")
        info = self.engine.inspect(base_ref)
        if not info:
            if self.check_mode:
                self.ee.warnings.append("Base image '%s' is not in local storage: counted as a build" % base_ref)
                return dict((p.text, None) for p in platforms)
            raise BuildError("Failed to pull base image '%s': it is not in local storage, and a multi-platform build "
                             "needs its manifest list" % base_ref,
                             "Name the base image with its registry, or create the list (podman manifest create)")
        entry = {"os": info.get("os"), "architecture": info.get("architecture")}
        missing = [p for p in platforms if not pick([p], [(entry, info["id"])])]
        if missing:
            raise missing_platforms_error(base_ref, missing, [platform_name(entry)])
        return dict((p.text, BaseImage(base_ref, "sha256:" + info["id"], info["id"], "local")) for p in platforms)

    # -- the run ------------------------------------------------------------------------------
    def check_emulation(self, platforms):
        foreign = [p for p in platforms if p.arch != host_arch()]
        if not foreign:
            return
        with private_tempdir(prefix="ee-build-probe-") as workdir:
            for platform in foreign:
                reason = emulation_problem(self.runner, platform.arch, workdir)
                if reason:
                    raise emulation_error(platform, reason)

    def run(self, given, result):
        ee, params = self.ee, self.params
        platforms = given["platforms"]
        tags = [str(r) for r in given["refs"]]
        push_refs = [str(r) for r in given["push_refs"]]
        self.check_emulation(platforms)
        lists = dict((tag, self.local_list(tag, platforms)) for tag in tags)
        local = self.local_images(tags[0], lists[tags[0]])
        bases = self.bases(given["resolved"].base_image, platforms, local)
        digests = {}
        for p in platforms:
            base = bases[p.text]
            extra = dict(given["digest_extra"], base_image_digest=base.digest if base else None, platform=p.text)
            digests[p.text] = defn.definition_digest(given["resolved"], given["build_args"], ee.builder_version, extra)
        stale = [p.text for p in platforms if ((local.get(p.text) or {}).get("labels") or {}).get(
            defn.DIGEST_LABEL) != digests[p.text]]
        if stale and not params["force"]:
            local.update(self.labelled_images(dict((text, digests[text]) for text in stale)))
        remote, remote_digests = self.remote_lists(push_refs, platforms) if push_refs else ({}, {})
        plan = plan_platforms(digests, tags, push_refs, local, lists, remote, force=params["force"])
        ee.warnings += plan.warnings
        if plan.build:
            ee.check_schema(given["definition"], given["def_name"])
        combined = "sha256:" + hashlib.sha256("\n".join("%s %s" % (p.text, digests[p.text])
                                                        for p in platforms).encode("utf-8")).hexdigest()
        moved = [p.text for p in platforms if bases[p.text] and local.get(p.text) and
                 (local[p.text].get("labels") or {}).get(BASE_DIGEST_LABEL) not in (None, bases[p.text].digest)]
        result.update(definition_digest=combined, base_image_moved=bool(moved), actions=plan.actions,
                      up_to_date=not plan.changed, manifest_digest=None,
                      diff={"before": dict((p.text, ((local.get(p.text) or {}).get("labels") or {}).get(
                          defn.DIGEST_LABEL)) for p in platforms), "after": dict(digests)})
        built = {}
        keep = bool(params["context_dir"] or params["keep_context"])
        if plan.build or (self.check_mode and keep):
            probe = next((p for p in platforms if p.arch == host_arch()), platforms[0])
            given["base"] = bases[probe.text] or BaseImage(given["resolved"].base_image, None,
                                                           given["resolved"].base_image, "registry", pull=True)
            if given["base"].build_ref != given["base"].ref and given["base"].source != "local":
                given["base"].pull = not self.engine.exists(given["base"].build_ref)

            def images(context_dir, staging, secret_text, base_auth, log_path):
                for text in plan.build:
                    # Pulled here, as the single-platform build's base is: with tls_verify and the base's auth.
                    bases[text].pull = not self.engine.exists(bases[text].build_ref)
                    ee.execution.ensure_base(bases[text], base_auth)
                    built[text] = ee.execution.build_image(
                        result, given, given["refs"], context_dir, staging, secret_text, base_auth, log_path,
                        platform=text, base=bases[text], digest=digests[text])

            ee.execution.build(result, given, given["refs"], None, images=images)
        ids = dict((p.text, built.get(p.text) or (local.get(p.text) or {}).get("id")) for p in platforms)
        if not self.check_mode:
            for tag in plan.relist:
                self.make_list(tag, platforms, ids)
            self.push(result, plan.push)
            if params["prune_images"]:
                for old_id in dict.fromkeys((local.get(t) or {}).get("id") for t in built):
                    if old_id:
                        ee.execution.prune(old_id, result)
        pushed = push_refs[0] if push_refs else None
        if pushed and plan.push:
            # What the registry serves now: the list and each platform's image, as pushed.
            remote_digests[pushed] = None
            if not self.check_mode:
                raw = inspect_raw(self.module, pushed, username=params["registry_username"],
                                  password=params["registry_password"], auth_file=params["auth_file"],
                                  tls_verify=params["tls_verify"], runner=self.runner)
                remote_digests[pushed] = (raw[1], pick(platforms, list_instances(raw[0]) or [])) if raw else None
        listed = remote_digests.get(pushed) if pushed else None
        if listed:
            result["manifest_digest"] = result["digest"] = listed[0]
        registry = listed[1] if listed else {}
        result["platforms"] = dict((p.text, {
            "image_id": ids[p.text], "definition_digest": digests[p.text],
            "base_image_digest": bases[p.text].digest if bases[p.text] else None,
            "built": p.text in built, "digest": registry.get(p.text)}) for p in platforms)
        return plan.changed

    # -- execution ------------------------------------------------------------------------------
    def make_list(self, tag, platforms, ids):
        """Replace whatever ``tag`` names locally by a manifest list of the platforms' images."""
        if self.engine.manifest_exists(tag):
            self.engine.manifest_rm(tag)
        elif self.engine.exists(tag):
            self.engine.untag(tag, tag)  # a single-platform image of an earlier run keeps its id
        self.engine.manifest_create(tag)
        for p in platforms:
            self.engine.manifest_add(tag, "containers-storage:" + ids[p.text])

    def push(self, result, refs):
        params = self.params
        for ref in refs:
            with self.module.push_auth(ref) as auth_path:
                digest = self.engine.manifest_push(ref, ref, auth_file=auth_path, tls_verify=params["tls_verify"],
                                                   timeout=params["timeout"])
            result["pushed"].append("%s@%s" % (ref, digest) if digest else ref)
