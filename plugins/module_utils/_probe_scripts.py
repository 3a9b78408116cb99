# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ee_info's probe, run inside an EE image: a plain constant (never a %-template).

``EE_PROBE_PY`` looks inside an EE (collections, Python packages, user, /runner). It runs as
``python3 -c EE_PROBE_PY`` (``Engine.run_in_image``) with its input as one JSON document on
stdin and prints one line ``<marker><JSON>``. The other in-image scripts are plain constants
too, next to their users: ``_engine_build.CHROOT_SH`` and ``_build_context.BASE_PROBE_SH``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


# It must run on any Python 3 an EE may have, so: no f-strings, no walrus.
EE_PROBE_PY = r'''
import errno, json, os, subprocess, sys, tempfile

# The input, as JSON on stdin: {"marker", "runner_dir", "runner_uid", "image_user", "environ"} and,
# for an SBOM, "os_inventory": {"rpm_queryformat"} (read /etc/os-release and the OS package database).
# "environ" is the image's configured environment where podman does not set it (the chroot probe).
PROBE_INPUT = json.loads(sys.stdin.read() or "{}")
MARKER = PROBE_INPUT["marker"]
RUNNER_DIR = PROBE_INPUT.get("runner_dir") or "/runner"
RUNNER_UID = int(PROBE_INPUT.get("runner_uid", 1000))
os.environ.update(PROBE_INPUT.get("environ") or {})

LIST_PACKAGES = """
import json, sys
packages = {}
try:
    from importlib import metadata
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name not in packages:
            packages[name] = dist.version
except ImportError:
    import pkg_resources
    for dist in pkg_resources.working_set:
        packages.setdefault(dist.project_name, dist.version)
core = None
try:
    from ansible.release import __version__ as core
except Exception:
    pass
print(json.dumps({"packages": packages, "ansible_core": core, "executable": sys.executable,
                  "python_version": "%d.%d.%d" % tuple(sys.version_info[:3])}))
"""


def which(name):
    for folder in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def shebang_python(script):
    try:
        with open(script, "rb") as handle:
            first = handle.readline().decode("utf-8", "replace").strip()
    except (IOError, OSError):
        return None
    if not first.startswith("#!"):
        return None
    parts = first[2:].split()
    if not parts:
        return None
    if os.path.basename(parts[0]) == "env" and len(parts) > 1:
        return which(parts[-1])
    return parts[0]


def tail(text, lines=5):
    return "\n".join(text.strip().splitlines()[-lines:])


def resolve_user(spec):
    import grp
    import pwd
    result = {"image_user": spec, "uid": 0, "gid": 0, "name": "root", "home": "/root"}
    user, _, group = (spec or "").partition(":")
    entry = None
    if user:
        try:
            entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        except (KeyError, ValueError):
            entry = None
        if entry is None and not user.isdigit():
            result.update({"uid": None, "gid": None, "name": user, "home": None,
                           "error": "user %s is not in /etc/passwd" % user})
            return result
        result["uid"] = entry.pw_uid if entry else int(user)
        result["gid"] = entry.pw_gid if entry else 0
        result["name"] = entry.pw_name if entry else None
        result["home"] = entry.pw_dir if entry else None
    if group:
        try:
            result["gid"] = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            result["error"] = "group %s is not in /etc/group" % group
    return result


def mode_allows_write(path, uid, groups):
    """What the permission bits say (where the file system is read-only, no file can be created to try)."""
    if uid == 0:
        return True
    st = os.stat(path)
    if st.st_uid == uid:
        bits = 0o300
    elif st.st_gid in groups:
        bits = 0o030
    else:
        bits = 0o003
    return st.st_mode & bits == bits


def can_write(path, uid, gid, groups):
    """Fork, drop to uid/gid/groups, create and remove a file in path."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            handle, name = tempfile.mkstemp(prefix=".ee-info-", dir=path)
            os.close(handle)
            os.unlink(name)
            code = 0
        except OSError as exc:
            code = 2 if exc.errno == errno.EROFS else 1
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1
    if code == 2:
        return mode_allows_write(path, uid, groups)
    return code == 0


def groups_of(uid, gid, extra=()):
    import grp
    import pwd
    groups = set([gid])
    groups.update(extra)
    try:
        name = pwd.getpwuid(uid).pw_name
        groups.update(g.gr_gid for g in grp.getgrall() if name in g.gr_mem)
    except KeyError:
        pass
    return sorted(groups)


def read_text(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def os_inventory(request):
    """/etc/os-release and the OS package database as text (parsed by the module, not here)."""
    result = {"os_release": read_text("/etc/os-release") or read_text("/usr/lib/os-release") or "",
              "package_db": None, "packages": "", "error": None}
    status = read_text("/var/lib/dpkg/status")
    if status is not None:
        result.update({"package_db": "dpkg", "packages": status})
        return result
    rpm = which("rpm")
    if rpm:
        proc = subprocess.Popen([rpm, "-qa", "--queryformat", request.get("rpm_queryformat") or ""],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout, stderr = proc.communicate()
        result["package_db"] = "rpm"
        if proc.returncode == 0:
            result["packages"] = stdout.decode("utf-8", "replace")
        else:
            result["error"] = "rpm -qa failed (rc=%d): %s" % (proc.returncode, tail(stderr.decode("utf-8", "replace")))
    return result


def main():
    image_user = PROBE_INPUT.get("image_user") or ""
    out = {"probe_python": sys.executable, "warnings": []}

    galaxy = which("ansible-galaxy")
    out["ansible_galaxy"] = galaxy
    python = shebang_python(galaxy) if galaxy else None
    if not python or not os.path.exists(python):
        python = sys.executable
    out["python_path"] = python

    # ansible-galaxy (about a second) and the package listing run side by side.
    galaxy_proc = None
    if galaxy:
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        galaxy_proc = subprocess.Popen([galaxy, "collection", "list", "--format", "json"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    listing = subprocess.Popen([python, "-c", LIST_PACKAGES], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = listing.communicate()
    if listing.returncode == 0:
        out["python"] = json.loads(stdout.decode("utf-8"))
    else:
        out["python"] = None
        out["warnings"].append("listing the packages of %s failed: %s" % (python, tail(stderr.decode("utf-8", "replace"))))

    out["ansible_runner"] = which("ansible-runner")
    out["galaxy"] = None
    if galaxy_proc is not None:
        stdout, stderr = galaxy_proc.communicate()
        out["galaxy"] = {"rc": galaxy_proc.returncode, "stdout": stdout.decode("utf-8", "replace"),
                         "stderr": tail(stderr.decode("utf-8", "replace"), 10)}

    user = resolve_user(image_user)
    out["user"] = user
    runner = {"path": RUNNER_DIR, "exists": os.path.isdir(RUNNER_DIR)}
    if runner["exists"]:
        st = os.stat(RUNNER_DIR)
        runner.update({"uid": st.st_uid, "gid": st.st_gid, "mode": "%04o" % (st.st_mode & 0o7777)})
    out["runner_dir"] = runner
    writable = {"root": False, "uid_%d" % RUNNER_UID: False, "image_user": False}
    if runner["exists"]:
        writable["root"] = can_write(RUNNER_DIR, 0, 0, [0])
        gid = 0
        try:
            import pwd
            gid = pwd.getpwuid(RUNNER_UID).pw_gid
        except KeyError:
            pass
        writable["uid_%d" % RUNNER_UID] = can_write(RUNNER_DIR, RUNNER_UID, gid, groups_of(RUNNER_UID, gid, [0]))
        if user.get("uid") is not None:
            writable["image_user"] = can_write(RUNNER_DIR, user["uid"], user["gid"],
                                               groups_of(user["uid"], user["gid"]))
    out["runner_writable"] = writable
    if PROBE_INPUT.get("os_inventory") is not None:
        out["os_inventory"] = os_inventory(PROBE_INPUT["os_inventory"])
    sys.stdout.write("\n" + MARKER + json.dumps(out) + "\n")


main()
'''
