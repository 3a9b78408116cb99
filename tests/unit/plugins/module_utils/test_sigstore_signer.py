# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sigstore signing and verification without a registry: the attachment as skopeo would bring it.

A fake runner plays skopeo: ``copy docker://...sig oci:DIR`` writes the layout the test holds (or
fails as a registry does when there is none), ``copy oci:DIR docker://...`` keeps what was pushed.
The keys are real (cosign's format, made with cryptography + PyNaCl in tests/harness/signing.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

import pytest

from ansible_collections.eeforge.builder.plugins.module_utils import _sigstore as sigstore
from ansible_collections.eeforge.builder.plugins.module_utils._build_module import BuildModule
from ansible_collections.eeforge.builder.plugins.module_utils._image_verify import verify
from ansible_collections.eeforge.builder.plugins.module_utils._runner import CommandError
from ansible_collections.eeforge.builder.plugins.module_utils._signing import SigningError
from ansible_collections.eeforge.builder.plugins.module_utils._sigstore_signer import (
    SigstoreSigner,
    attachment_ref,
    read_attachment,
)


def _harness_signing():
    """tests/harness/signing.py, loaded from its file (as test_signing.py does)."""
    import importlib.util  # pylint: disable=import-outside-toplevel
    harness = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "harness", "signing.py")
    spec = importlib.util.spec_from_file_location("eeforge_test_harness_signing", harness)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


IMAGE = "registry.example.com/ee/aws:1.2"
DIGEST = "sha256:" + "d" * 64
PASSPHRASE = "unit-pp-7c1e"


class Registry(object):
    """The attachments a registry holds, as skopeo copies them."""

    def __init__(self):
        self.attachments = {}
        self.argv = []

    def get_bin(self, name):
        return "/usr/bin/" + name

    def run(self, argv, timeout=None, **kwargs):  # pylint: disable=unused-argument
        self.argv.append(list(argv))
        src, dest = argv[-2], argv[-1]
        if src.startswith("docker://"):
            name = src[len("docker://"):]
            if name not in self.attachments:
                raise CommandError(argv, 1, "", 'time="..." level=fatal msg="initializing source docker://%s: '
                                                'reading manifest %s: manifest unknown"' % (name, name.rsplit(":", 1)[1]))
            shutil.copytree(self.attachments[name], dest[len("oci:"):])
        else:
            name = dest[len("docker://"):]
            keep = os.path.join(self.workdir, name.replace("/", "_"))
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(src[len("oci:"):], keep)
            self.attachments[name] = keep
        return 0, "", ""


class Module(object):
    push_auth = BuildModule.push_auth  # the module's own: the registry's credentials in a private auth file

    def __init__(self, runner):
        self.runner = runner
        self.params = {"registry_username": None, "registry_password": None, "auth_file": None}


@pytest.fixture
def keys(tmp_path):
    pytest.importorskip("nacl", reason="PyNaCl is not installed (test-requirements)")
    make = _harness_signing().make_cosign_key_pair
    return make(str(tmp_path), PASSPHRASE, name="release"), make(str(tmp_path), "other-pp", name="other")


@pytest.fixture
def registry(tmp_path):
    reg = Registry()
    reg.workdir = str(tmp_path / "registry")
    os.makedirs(reg.workdir)
    return reg


def test_sign_find_and_keep_other_signatures(registry, keys):
    (key, pub), (other_key, other_pub) = keys
    signer = SigstoreSigner(Module(registry), key, PASSPHRASE, tls_verify=False)
    with open(pub, "rb") as handle:
        assert signer.check() == sigstore.public_key_id(handle.read())
    assert signer.find(IMAGE, DIGEST) is None  # no attachment yet
    target = signer.sign(IMAGE, DIGEST)
    assert target == attachment_ref(IMAGE, DIGEST) == "registry.example.com/ee/aws:sha256-%s.sig" % ("d" * 64)
    assert signer.find(IMAGE, DIGEST) == target
    assert signer.find("registry.example.com/ee/aws:other", DIGEST) is None  # names another tag
    # Another key adds its signature; the first one stays.
    other = SigstoreSigner(Module(registry), other_key, "other-pp", tls_verify=False)
    other.check()
    other.sign(IMAGE, DIGEST)
    manifest, blobs = read_attachment(registry, IMAGE, DIGEST)
    assert len(sigstore.parse_sigstore_attachment(manifest)) == 2 and signer.find(IMAGE, DIGEST) == target
    # Neither passphrase nor key material reached a command line.
    flat = " ".join(" ".join(argv) for argv in registry.argv)
    with open(key) as handle:
        assert PASSPHRASE not in flat and handle.read()[40:80] not in flat
    assert all("--insecure-policy" in argv and "--preserve-digests" in argv for argv in registry.argv)
    assert any("--dest-tls-verify=false" in argv for argv in registry.argv)

    # ee_info verify_signature: the right key passes, another key and an unsigned digest fail in one line.
    result = verify(registry, IMAGE, DIGEST, pub, store=None, auth_file=None, tls_verify=False)
    assert result["signed_by"] == [signer.fingerprint] and len(result["signatures"]) == 2
    with pytest.raises(SigningError) as err:
        verify(registry, "registry.example.com/ee/aws:other", DIGEST, pub, store=None)
    assert "it names another image (registry.example.com/ee/aws:1.2)" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SigningError) as err:
        verify(registry, IMAGE, "sha256:" + "e" * 64, pub, store=None)
    assert "it has no sigstore signature for sha256:eee" in str(err.value)


def test_a_wrong_passphrase_fails_before_anything_is_read(registry, keys):
    (key, _pub), _other = keys
    signer = SigstoreSigner(Module(registry), key, "not-" + PASSPHRASE)
    with pytest.raises(SigningError) as err:
        signer.check()
    assert "the passphrase does not open it" in str(err.value) and PASSPHRASE not in str(err.value)
    assert registry.argv == []


def test_a_registry_error_that_is_not_a_missing_attachment_fails_in_one_line(keys):
    class Down(Registry):
        def run(self, argv, timeout=None, **kwargs):
            raise CommandError(argv, 1, "", "pinging container registry registry.example.com: connection refused")
    (key, _pub), _other = keys
    signer = SigstoreSigner(Module(Down()), key, PASSPHRASE)
    signer.check()
    with pytest.raises(SigningError) as err:
        signer.find(IMAGE, DIGEST)
    assert str(err.value).startswith("Failed to read the sigstore signatures of '%s' (" % IMAGE)
    assert "connection refused" in str(err.value) and "\n" not in str(err.value)
