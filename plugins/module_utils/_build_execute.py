# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution half of one ee_build run: what ``EEBuild.run`` does once the plan has work.

``BuildExecution(eebuild)`` makes sure the base is local (and verified under ``container_policy``),
renders the context (``_build_context``), runs ``podman build``, prunes the image the tag named
before, and pushes. ``EEBuild`` loads this file only when the plan has something to build or push
(a no-op never does), and ``_multiarch`` uses it for each platform's image.
Every temp dir, auth file and log handle is in try/finally, so an interrupted run leaves nothing behind.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import tempfile

from ansible_collections.eeforge.builder.plugins.module_utils import _base_policy as base_policy
from ansible_collections.eeforge.builder.plugins.module_utils import _build_context as context
from ansible_collections.eeforge.builder.plugins.module_utils import _builder_create as builder_create
from ansible_collections.eeforge.builder.plugins.module_utils import _definition as defn
from ansible_collections.eeforge.builder.plugins.module_utils._engine_build import BuildOptions
from ansible_collections.eeforge.builder.plugins.module_utils._errors import BuildError, path_error
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import split_ref
from ansible_collections.eeforge.builder.plugins.module_utils._provenance import provenance_labels
from ansible_collections.eeforge.builder.plugins.module_utils._registry import registry_auth
from ansible_collections.eeforge.builder.plugins.module_utils._runner import (
    CommandError,
    private_tempdir,
    write_private_file,
)


class BuildExecution(object):
    """Builds and pushes for ``ee`` (an ``EEBuild``), whose inputs, plan state and warnings it shares."""

    def __init__(self, ee):
        self.ee = ee
        self.module = ee.module
        self.params = ee.params
        self.runner = ee.runner

    def ensure_base(self, base, base_auth):
        """Make sure ``base.build_ref`` is local (``_base_policy.ensure_base``). Returns True if local."""
        policy = self.ee.base_policy or base_policy.BasePolicy(base_policy.SYSTEM)
        local, verified = base_policy.ensure_base(self.ee.engine, policy, base, base_auth, self.params["tls_verify"],
                                                  self.module.check_mode, self.ee.warnings)
        self.ee.verified_bases += verified
        return local

    def context_dir(self, staging):
        if self.params["context_dir"]:
            return context.prepare_context_dir(os.path.abspath(self.params["context_dir"]))
        if self.params["keep_context"]:
            try:
                return tempfile.mkdtemp(prefix="ee-build-context-")
            except (IOError, OSError) as exc:
                raise path_error("create a build context in", tempfile.gettempdir(), exc, option="keep_context")
        return os.path.join(staging, "context")

    def build(self, result, given, refs, old_id, images=None):
        """Render the context and build. ``images`` (multi-platform runs) is called instead of one
        ``_build_image`` as ``images(context_dir, staging, secret_text, base_auth, log_path)``."""
        params = self.params
        check_mode = self.module.check_mode
        resolved = given["resolved"]
        base = given["base"]
        base_ref = base.build_ref
        with private_tempdir(prefix="ee-build-") as staging:
            with registry_auth(self.module, split_ref(base.ref).registry, params["base_registry_username"],
                               params["base_registry_password"], None) as base_auth:
                probe = None
                if self.ensure_base(base, base_auth):
                    python_path = (((resolved.derived.get("dependencies") or {}).get("python_interpreter") or {})
                                   .get("python_path") or "/usr/bin/python3")
                    try:
                        probe = context.probe_base_image(self.ee.engine, base_ref, python_path)
                    except CommandError as exc:
                        raise BuildError("Failed to inspect base image '%s': %s" % (base.ref, exc.summary()),
                                         "Check that it is a Linux image with /bin/sh", exc.tail())
                derived = resolved.derived
                helpers, result["adaptations"] = context.plan_adaptations(derived, probe, given["ca_files"])
                secret_text = context.secret_env_text(params["galaxy_server_url"], params["galaxy_token"],
                                                      params["pip_index_url"], params["pip_extra_index_url"],
                                                      ca=bool(given["ca_files"]))
                context_dir = self.context_dir(staging)
                keep = bool(params["context_dir"] or params["keep_context"])
                log_path = None if check_mode else context.new_log_path(params["build_log_dir"], refs[0])
                log_handle = open(log_path, "a") if log_path else None  # pylint: disable=consider-using-with
                try:
                    result["builder_invoked"] = True
                    result["containerfile"] = builder_create.render_context(
                        self.runner, self.ee.builder_bin, derived, os.path.join(staging, "defn"), context_dir,
                        helpers=helpers, ca_files=given["ca_files"], use_secret=bool(secret_text),
                        log_handle=log_handle, timeout=params["timeout"], builder_args=given["galaxy_signatures"])
                finally:
                    if log_handle:
                        log_handle.close()
                if keep:
                    result["context_dir"] = context_dir
                    self.write_kept_definition(context_dir, staging)
                if check_mode:
                    return
                result["build_log"] = log_path
                if images:
                    images(context_dir, staging, secret_text, base_auth, log_path)
                else:
                    self.build_image(result, given, refs, context_dir, staging, secret_text, base_auth, log_path)
        result["base_image_verified"] = bool(self.ee.verified_bases)
        if params["prune_images"] and old_id and old_id != result["image_id"]:
            self.prune(old_id, result)

    @staticmethod
    def write_kept_definition(context_dir, staging):
        """A kept context also holds the definition ansible-builder rendered it from (generate-only use)."""
        src = os.path.join(staging, "defn", "execution-environment.yml")
        try:
            shutil.copyfile(src, os.path.join(context_dir, "execution-environment.yml"))
        except (IOError, OSError) as exc:
            raise path_error("write the definition into", context_dir, exc, option="context_dir")

    def build_image(self, result, given, refs, context_dir, staging, secret_text, base_auth, log_path,
                    platform=None, base=None, digest=None):
        """One ``podman build``; returns the image id. With ``platform`` (a multi-platform run) the
        image is built for it on ``base`` with ``digest``, untagged (the manifest lists name it)."""
        params = self.params
        base = base or given["base"]
        digest = digest or given["digest"]
        secret = None
        if secret_text:
            secrets_dir = os.path.join(staging, "secrets")
            if not os.path.isdir(secrets_dir):
                os.makedirs(secrets_dir, 0o700)
            secret = (context.SECRET_ID, write_private_file(secrets_dir, "eeforge_env", secret_text))
        labels = provenance_labels(self.runner, given["base_dir"])
        labels.update(given["labels"])  # the user's own win
        labels.update(base.labels())
        labels[defn.DIGEST_LABEL] = digest
        normalized = defn.definition_label(given["resolved"].normalized)
        if normalized:
            labels[defn.DEFINITION_LABEL] = normalized
        iid_file = os.path.join(staging, "iid-" + (platform or "").replace("/", "-"))
        build_args = dict(given["build_args"])
        build_args.setdefault("EE_BASE_IMAGE", base.build_ref)  # exactly the base the digest covers
        options = BuildOptions(context_dir, [] if platform else [str(r) for r in refs], build_args=build_args,
                               labels=labels, squash=params["squash"], no_cache=params["no_cache"],
                               extra_args=given["extra_args"], secret=secret, auth_file=base_auth, log_path=log_path,
                               iid_file=iid_file, platform=platform)
        argv = self.ee.engine.build_argv(options)
        with open(log_path, "a") as handle:
            handle.write("$ %s\n" % " ".join(argv))
        took = context.run_build(self.ee.engine, options, params["timeout"])
        result["build_duration"] = round(result.get("build_duration", 0) + took, 3)
        result["built"] = True
        with open(iid_file) as handle:
            image_id = handle.read().strip().replace("sha256:", "")
        if not platform:
            result["image_id"] = image_id
        return image_id

    def prune(self, old_id, result):
        """Remove the image the primary tag pointed to before, if nothing else uses it."""
        info = self.ee.engine.inspect(old_id)
        if not info or info["tags"]:
            return  # gone, or still tagged by something else
        if self.ee.engine.rmi(old_id):
            result["actions"].append("prune %s" % old_id[:12])
            result.setdefault("pruned", []).append(old_id)

    # -- push -----------------------------------------------------------------------------
    def push(self, result, push_refs, primary):
        """Push each tag in ``push_refs`` (its registry's credentials in a private auth file); the
        result's ``digest`` is the primary tag's."""
        params = self.params
        for tag in push_refs:
            with self.module.push_auth(tag) as auth_path:
                pushed_digest = self.ee.engine.push(tag, tag, auth_file=auth_path, tls_verify=params["tls_verify"],
                                                    retries=params["push_retries"], timeout=params["timeout"])
            result["pushed"].append(tag if not pushed_digest else "%s@%s" % (tag, pushed_digest))
            self.ee.pushed_digests[tag] = pushed_digest
            if result["digest"] is None or tag == primary:
                result["digest"] = pushed_digest
