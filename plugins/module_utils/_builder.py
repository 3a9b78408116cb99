# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One ee_build run: check the inputs, observe local and registry state, plan, execute.

- inputs: ``_build_inputs`` (pure checks) and ``_definition`` (validate, resolve, digest);
- state: ``Engine.inspect`` of each tag, ``inspect_remote`` of each pushed tag (in check mode a
  registry that cannot be read is ``UNKNOWN``, with a warning);
- decision: ``_build_plan.plan_build`` (pure);
- execution: ``_build_execute.BuildExecution`` (render the context, build, push, prune) and the signers,
  under the per-tag lock (``_lock.tag_lock``, given by the module).

A no-op loads neither the execution half, nor the registry code (unless a tag is pushed or the base is
looked up in its registry), nor the signers, the base policy or the multi-platform code.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from contextlib import contextmanager

# Whole modules where many names are used: ansible's module_utils finder looks every imported name
# up as a possible module (a few file reads each), which a no-op run pays on the controller.
from ansible_collections.eeforge.builder.plugins.module_utils import _build_inputs as inputs
from ansible_collections.eeforge.builder.plugins.module_utils import _definition as defn
from ansible_collections.eeforge.builder.plugins.module_utils._build_base import recorded_base_digest, resolve_base
from ansible_collections.eeforge.builder.plugins.module_utils._build_plan import UNKNOWN, plan_build
from ansible_collections.eeforge.builder.plugins.module_utils._errors import (
    BuildError,
    BuildInputError,
    RegistryError,
)
from ansible_collections.eeforge.builder.plugins.module_utils._image_ref import ImageRefError, split_ref


def _registry():
    """``_registry``, loaded when a registry is asked (a pushed tag, a base looked up there)."""
    from ansible_collections.eeforge.builder.plugins.module_utils import _registry as module  # pylint: disable=import-outside-toplevel
    return module


def _execution(ee):
    """The execution half (``_build_execute``), loaded when the plan has work."""
    from ansible_collections.eeforge.builder.plugins.module_utils._build_execute import (  # pylint: disable=import-outside-toplevel
        BuildExecution,
    )
    return BuildExecution(ee)


def _base_policy():
    """``_base_policy``, loaded when a base is pulled or ``container_policy`` is set (a no-op never needs it)."""
    from ansible_collections.eeforge.builder.plugins.module_utils import _base_policy as module  # pylint: disable=import-outside-toplevel
    return module


def _multiarch():
    """``_multiarch``, loaded only by a run with ``platforms``."""
    from ansible_collections.eeforge.builder.plugins.module_utils import _multiarch as module  # pylint: disable=import-outside-toplevel
    return module


@contextmanager
def _no_lock(tags, timeout=None):  # pylint: disable=unused-argument
    yield


class EEBuild(object):
    """One ee_build run. ``module`` is a BuildModule; ``builder_schema`` ansible-builder's v3 schema
    or a function returning it (called only when the definition has to be validated against it).
    ``run()`` returns ``(changed, result)`` or raises one of the collection's exceptions."""

    def __init__(self, module, builder_version, builder_schema, builder_bin, engine=None, lock=None, execution=None):
        self.module = module
        self.params = module.params
        self.runner = module.runner
        self.builder_version = builder_version
        self.builder_schema = builder_schema
        self.schema_checked = False
        self.builder_bin = builder_bin
        self._engine = engine
        self._execution = execution
        self.lock = lock or _no_lock
        self.warnings = []
        self.pushed_digests = {}
        self.base_policy, self.verified_bases = None, []

    @property
    def engine(self):
        if self._engine is None:
            self._engine = self.module.engine()
        return self._engine

    @property
    def execution(self):
        """The ``_build_execute.BuildExecution`` of this run (loaded on first use)."""
        if self._execution is None:
            self._execution = _execution(self)
        return self._execution

    def check_schema(self, definition, def_name):
        """Validate ``definition`` against ansible-builder's schema (and our rules), once."""
        if self.schema_checked:
            return
        schema = self.builder_schema() if callable(self.builder_schema) else self.builder_schema
        defn.validate_definition(definition, def_name, schema=schema)
        self.schema_checked = True

    # -- inputs -------------------------------------------------------------------------------
    def inputs(self):
        """Everything the plan needs from the parameters; raises one-line errors."""
        params = self.params
        refs = inputs.parse_tags(params["tags"])
        build_args = inputs.check_build_args(params["build_args"])
        extra_args = inputs.check_extra_args(params["extra_build_cli_args"])
        labels = inputs.check_labels(params["labels"])
        ca_files = inputs.check_ca_files(params["ca_certificates"])
        galaxy_signatures = inputs.galaxy_signature_args(params)
        platforms = []
        if params.get("platforms"):
            platforms = _multiarch().parse_platforms(params["platforms"])
            for name in ("sign_by", "sigstore_private_key"):
                if params.get(name):
                    raise BuildInputError("Failed to build image: %s cannot sign a multi-platform image (platforms) "
                                          "yet" % name, "Leave %s out for this task and sign the pushed list with "
                                          "'skopeo copy --all', or build one platform per task" % name)
        definition, base_dir, def_name = inputs.load_definition(params)
        # ansible-builder's schema is checked only when something will be done with the definition:
        # an image labelled with this definition's digest was built from it after it passed the same
        # check (the digest covers the ansible-builder version). Any earlier error waits for it, so a
        # definition that breaks the schema still fails with the schema's message first.
        try:
            defn.validate_definition(definition, def_name)
            resolved = defn.resolve_definition(definition, base_dir, def_name)
            try:
                split_ref(resolved.base_image, require_tag=False)
            except ImageRefError as exc:
                raise defn.DefinitionError("Failed to validate execution environment definition '%s': "
                                           "images.base_image.name: %s" % (def_name, exc))
        except Exception:
            self.check_schema(definition, def_name)
            raise
        if not ((definition.get("images") or {}).get("base_image") or {}).get("name"):
            self.warnings.append("The definition names no images.base_image: ansible-builder builds FROM its default "
                                 "base image '%s'. Name a base image to choose it" % resolved.base_image)
        extra = {
            "labels": labels,
            "squash": params["squash"],
            "extra_build_cli_args": extra_args,
            "ca_certificates": [defn.sha256_file(p) for p in ca_files],
            "galaxy_server_url": params["galaxy_server_url"] or "",
            "pip_index_url": params["pip_index_url"] or "",
            "pip_extra_index_url": params["pip_extra_index_url"] or "",
            "runtime": "podman",
        }
        if galaxy_signatures:
            # What the collections are checked against is part of what the image is.
            extra["galaxy_signatures"] = galaxy_signatures[2:] + [defn.sha256_file(params["galaxy_keyring"])]
        if (params.get("container_policy") or "system") != "system" or params.get("container_keyring"):
            self.base_policy = _base_policy().check_base_policy(params)
            self.base_policy.check_base(resolved.base_image)
            if self.base_policy.fingerprint:  # an image whose base was verified differs from one whose base was not
                extra["container_policy"] = self.base_policy.fingerprint
        push_refs = [r for r in refs if r.registry != "localhost"] if params["push"] else []
        if params["push"] and not push_refs:
            raise BuildInputError("Failed to push image '%s': every tag is local ('localhost/...')" % refs[0],
                                  "Add a tag with a registry, e.g. 'registry.example.com/ee/name:1.0'")
        if params["push"] and len(push_refs) < len(refs):
            self.warnings.append("Not pushed (local-only names): %s" % ", ".join(
                str(r) for r in refs if r.registry == "localhost"))
        return dict(refs=refs, push_refs=push_refs, build_args=build_args, extra_args=extra_args, labels=labels,
                    ca_files=ca_files, definition=definition, def_name=def_name, resolved=resolved, digest_extra=extra,
                    base_dir=base_dir, platforms=platforms,
                    galaxy_signatures=galaxy_signatures,
                    signature_store=inputs.check_signing_inputs(params), sigstore_key=inputs.check_sigstore_inputs(params))

    def digest(self, given, base):
        """The definition digest: the inputs, and what the base image is (``refresh_base``)."""
        extra = dict(given["digest_extra"], base_image_digest=base.digest)
        return defn.definition_digest(given["resolved"], given["build_args"], self.builder_version, extra)

    # -- state --------------------------------------------------------------------------------
    def remote_state(self, refs):
        """``{str(ref): facts, None or UNKNOWN}`` for the tags that are pushed."""
        state = {}
        for ref in refs:
            try:
                state[str(ref)] = _registry().inspect_remote(
                    self.module, str(ref), username=self.params["registry_username"],
                    password=self.params["registry_password"], auth_file=self.params["auth_file"],
                    tls_verify=self.params["tls_verify"], runner=self.runner, timeout=120)
            except RegistryError as exc:
                if not self.module.check_mode:
                    raise
                state[str(ref)] = UNKNOWN
                self.warnings.append("Check mode could not read '%s' from its registry (%s)" % (ref, exc.cause))
        return state

    def base_state(self, given, local_base, recorded):
        """The base image's identity for this run (see ``_build_base``); its warnings are kept."""
        params = self.params

        def lookup(ref):
            return _registry().resolve_digest(self.module, ref, username=params["base_registry_username"],
                                              password=params["base_registry_password"],
                                              tls_verify=params["tls_verify"], runner=self.runner, timeout=120)

        def exists(image_id):
            return self.engine.exists(image_id)

        base_ref = given["resolved"].base_image
        base, warnings = resolve_base(base_ref, local_base, recorded, params["refresh_base"],
                                      lookup, check_mode=self.module.check_mode, exists=exists)
        if base.source == "unqualified" and not self.module.check_mode:
            with _registry().registry_auth(self.module, split_ref(base_ref).registry, params["base_registry_username"],
                                           params["base_registry_password"], None) as base_auth:
                self.execution.ensure_base(base, base_auth)
            base, warnings = resolve_base(base_ref, self.engine.inspect(base_ref), recorded, params["refresh_base"],
                                          lookup, check_mode=False, exists=exists)
        self.warnings += warnings
        return base

    # -- the run ------------------------------------------------------------------------------
    def run(self):
        started = time.time()
        given = self.inputs()
        refs = given["refs"]
        tags = [str(r) for r in refs]
        result = {
            "definition_digest": None, "base_image_digest": None, "base_image_moved": False,
            "base_image_verified": False, "tags": tags,
            "image_id": None, "digest": None, "pushed": [], "signatures": [],
            "containerfile": None, "build_log": None, "built": False, "builder_invoked": False, "adaptations": [],
            "actions": [], "ansible_builder_version": self.builder_version, "context_dir": None,
            "referenced_files": [f.path for f in given["resolved"].files],
        }
        if not self.runner.get_bin("podman"):
            self.check_schema(given["definition"], given["def_name"])  # its message before "podman is missing"
        lock = _no_lock if self.module.check_mode else self.lock
        with lock(tags, timeout=self.params["timeout"]):
            if given["platforms"]:
                changed = _multiarch().MultiPlatformBuild(self).run(given, result)
                result["duration"] = round(time.time() - started, 3)
                return changed, result
            base_ref = given["resolved"].base_image
            observed = self.engine.inspect_many(tags + [base_ref])  # one podman call for the tags and the base
            local = dict((tag, observed[tag]) for tag in tags)
            primary_local = local[tags[0]]
            if self.params["force"] or self.module.check_mode or not primary_local:
                self.check_schema(given["definition"], given["def_name"])  # before anything asks a registry
            push_refs = [str(r) for r in given["push_refs"]]
            remote = self.remote_state(push_refs) if push_refs else {}
            signers = self.signers(given)
            states = [signer.signed_state(push_refs, remote) for signer in signers]
            signed = dict((r, all(state[r] for state in states)) for r in push_refs) if signers else None
            recorded = recorded_base_digest(primary_local, *[remote.get(r) for r in push_refs])
            try:
                base = given["base"] = self.base_state(given, observed[base_ref], recorded)
            except BuildError:
                self.check_schema(given["definition"], given["def_name"])  # the schema's message comes first
                raise
            digest = given["digest"] = self.digest(given, base)
            result.update(definition_digest=digest, base_image_digest=base.digest,
                          base_image_moved=bool(recorded and base.digest and recorded != base.digest))
            if primary_local and primary_local["labels"].get(defn.DIGEST_LABEL) != digest:
                self.check_schema(given["definition"], given["def_name"])
            plan = plan_build(digest, tags, push_refs, local, remote, force=self.params["force"],
                              definition=given["resolved"].normalized, signed=signed)
            self.warnings += plan.warnings
            result.update(actions=plan.actions, up_to_date=plan.up_to_date, diff=plan.diff, image_id=plan.image_id,
                          digest=plan.digest)
            keep = bool(self.params["context_dir"] or self.params["keep_context"])
            if plan.build or (self.module.check_mode and keep):
                self.execution.build(result, given, refs, (primary_local or {}).get("id"))
            if not self.module.check_mode:
                for tag in plan.retag:
                    self.engine.tag(primary_local["id"], tag)
                if plan.push:
                    self.execution.push(result, plan.push, tags[0])
            if signers:
                self.sign(result, signers, push_refs, plan.sign, remote, states)
        result["duration"] = round(time.time() - started, 3)
        return plan.changed, result

    # -- sign ---------------------------------------------------------------------------------
    def signers(self, given):
        """The signers of the pushed tags (``sign_by``: GPG, ``sigstore_private_key``: sigstore), each with its
        key and passphrase proven to work before anything is pushed; [] when nothing is signed."""
        if not (given["signature_store"] or given["sigstore_key"]):
            return []
        from ansible_collections.eeforge.builder.plugins.module_utils._image_signer import (  # pylint: disable=import-outside-toplevel
            make_signers,
        )
        return make_signers(self, given)

    def sign(self, result, signers, push_refs, to_sign, remote, states):
        """Sign what the plan says (``to_sign``), with each signer; see ``_image_signer.sign_pushed``."""
        from ansible_collections.eeforge.builder.plugins.module_utils._image_signer import (  # pylint: disable=import-outside-toplevel
            sign_pushed,
        )
        for signer, signed in zip(signers, states):
            sign_pushed(self, result, signer, push_refs, to_sign, remote, signed)
