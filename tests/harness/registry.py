# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Debian's docker-registry (distribution v2) on 127.0.0.1, with or without htpasswd auth."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REGISTRY_BIN = "/usr/bin/docker-registry"

CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {host}:{port}
{auth}"""

AUTH = """\
auth:
  htpasswd:
    realm: eeforge-test
    path: {htpasswd}
"""


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Registry:
    """One registry process; ``start()`` it, ``stop()`` it (by PID), use ``location``.

    With ``username``/``password`` it requires htpasswd (bcrypt) basic auth.
    ``host`` may be 0.0.0.0 where containers in a slirp4netns network must reach it
    through 10.0.2.2 (the host's loopback with allow_host_loopback=true).
    """

    def __init__(self, username=None, password=None, host="127.0.0.1", workdir=None):
        self.username = username
        self.password = password
        self.host = host
        self.port = None
        self.proc = None
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="eeforge-registry-")
        self._log = None

    @property
    def location(self):
        return "127.0.0.1:%d" % self.port

    @property
    def auth(self):
        return bool(self.username)

    def start(self, timeout=30):
        """Start the registry; after ``stop(keep=True)`` on the same port and storage."""
        if self.port is None:
            self.port = free_port()
        auth = ""
        if self.username:
            htpasswd = os.path.join(self.workdir, "htpasswd")
            # -i: the password comes on stdin, never on argv.
            res = subprocess.run(
                ["htpasswd", "-niB", self.username],
                input=self.password + "\n",
                capture_output=True,
                text=True,
                check=True,
            )
            with open(htpasswd, "w", encoding="utf-8") as handle:
                handle.write(res.stdout.strip() + "\n")
            auth = AUTH.format(htpasswd=htpasswd)
        root = os.path.join(self.workdir, "data")
        os.makedirs(root, exist_ok=True)
        config = os.path.join(self.workdir, "config.yml")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(CONFIG.format(root=root, host=self.host, port=self.port, auth=auth))
        self._log = open(os.path.join(self.workdir, "registry.log"), "wb")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [REGISTRY_BIN, "serve", config], stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited: see %s/registry.log" % self.workdir)
            try:
                self._request("/v2/")
                return self
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and self.username:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("docker-registry did not answer on %s within %ss" % (self.location, timeout))

    def _request(self, path, method="GET", headers=None):
        req = urllib.request.Request("http://%s%s" % (self.location, path), method=method)
        if self.username:
            token = base64.b64encode(("%s:%s" % (self.username, self.password)).encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        with urllib.request.urlopen(req, timeout=10) as resp:  # nosec - loopback only
            return resp.status, dict(resp.headers), resp.read()

    def catalog(self):
        return json.loads(self._request("/v2/_catalog")[2]).get("repositories") or []

    def tags(self, repository):
        try:
            return json.loads(self._request("/v2/%s/tags/list" % repository)[2]).get("tags") or []
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise

    def manifest_digest(self, repository, tag):
        accept = ", ".join(
            [
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
            ]
        )
        try:
            headers = self._request(
                "/v2/%s/manifests/%s" % (repository, tag), method="HEAD", headers={"Accept": accept}
            )[1]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        return headers.get("Docker-Content-Digest")

    def stop(self, keep=False):
        """Stop the process (by PID). ``keep=True`` keeps port and storage for a later ``start()``."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._own_workdir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def storage_root(self):
        """Where the registry keeps repositories, blobs and upload sessions."""
        return os.path.join(self.workdir, "data", "docker", "registry", "v2")

    def uploads_in_progress(self):
        """Paths of the blob upload sessions the registry has open (a push is under way)."""
        repos = os.path.join(self.storage_root(), "repositories")
        found = []
        for dirpath, dirs, _files in os.walk(repos):
            if os.path.basename(dirpath) == "_uploads":
                found += [os.path.join(dirpath, name) for name in dirs]
                dirs[:] = []
        return found

    def manifest(self, repository, reference):
        """The manifest document (parsed JSON) and its digest, or (None, None) when absent."""
        accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
        try:
            _status, headers, body = self._request("/v2/%s/manifests/%s" % (repository, reference),
                                                   headers={"Accept": accept})
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None, None
            raise
        return json.loads(body), headers.get("Docker-Content-Digest")

    def missing_blobs(self, repository, manifest):
        """Digests of the config and layers ``manifest`` names that the registry cannot serve."""
        digests = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest.get("layers", [])]
        missing = []
        for digest in digests:
            try:
                self._request("/v2/%s/blobs/%s" % (repository, digest), method="HEAD")
            except urllib.error.HTTPError:
                missing.append(digest)
        return missing
