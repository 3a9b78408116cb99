#!/bin/sh
# Podman-in-Podman set-up of the eeforge builder EE; runs once, at image build time,
# from execution-environment.yaml (additional_build_steps.append_final).
set -eu
here=$(dirname "$0")

# newuidmap/newgidmap write the id maps of the user namespace nested podman runs in.
# Debian and Ubuntu ship them setuid root; give them only the capability each needs
# instead (Fedora and RHEL already do). Least privilege, same behaviour.
for pair in newuidmap:cap_setuid newgidmap:cap_setgid; do
    tool=${pair%%:*}
    cap=${pair#*:}
    path=$(command -v "$tool")
    chmod u-s "$path"
    setcap "$cap+ep" "$path"
done

# Subordinate ids for root: a nested build maps uid 0 to itself and 1-65535 from this
# range. Needed when the job container itself runs in a user namespace (rootless podman
# on the execution node, which maps 65536 ids); harmless when it does not.
for file in /etc/subuid /etc/subgid; do
    grep -qs '^root:' "$file" || echo 'root:1:65535' >> "$file"
done

# Image store: native overlay on the /var/lib/containers volume (see storage.conf).
install -D -m 0644 "$here/storage.conf" /etc/containers/storage.conf
