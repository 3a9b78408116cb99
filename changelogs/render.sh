#!/usr/bin/env bash
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Render changelogs/changelog.yaml and CHANGELOG.rst for the version in galaxy.yml from the
# fragments in changelogs/fragments/ (antsibull-changelog release), without deleting the fragments:
# the release runs in a scratch copy of the committed tree and only the two generated files come back.
# Until that version is tagged, run it again whenever a fragment is added or changed: the entry of
# the version being prepared is rebuilt from scratch each time, older releases are kept as they are.
#
#   changelogs/render.sh            # render, then commit changelogs/changelog.yaml and CHANGELOG.rst
#   changelogs/render.sh --check    # exit 1 when the committed files differ from a fresh render
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
version=$(python -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')
scratch=$(mktemp -d /tmp/eeforge-changelog-XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# The committed tree (work in progress elsewhere in the tree cannot break the render), plus the
# fragments as they are in the work tree, new ones included.
git archive HEAD | tar -x -C "$scratch"
rm -rf "$scratch/changelogs/fragments"
mkdir -p "$scratch/changelogs/fragments"
cp changelogs/fragments/*.y*ml "$scratch/changelogs/fragments/" 2>/dev/null || true

# Drop the entry of the version being prepared, so that it is rebuilt from all current fragments.
python - "$scratch/changelogs/changelog.yaml" "$version" <<'PYEOF'
import sys

import yaml

path, version = sys.argv[1], sys.argv[2]
with open(path) as handle:
    data = yaml.safe_load(handle) or {}
data.setdefault("ancestor", None)
releases = data.get("releases") or {}
releases.pop(version, None)
data["releases"] = releases
with open(path, "w") as handle:
    yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=True)
PYEOF

date_arg=()
if committed_date=$(python - "$repo/changelogs/changelog.yaml" "$version" <<'PYEOF'
import sys

import yaml

data = yaml.safe_load(open(sys.argv[1])) or {}
print((data.get("releases") or {}).get(sys.argv[2], {}).get("release_date", ""))
PYEOF
) && [ -n "$committed_date" ]; then
  date_arg=(--date "$committed_date")  # a re-render keeps the date, so --check compares content only
fi
(cd "$scratch" && antsibull-changelog release --version "$version" "${date_arg[@]}" >/dev/null)

if [ "${1:-}" = --check ]; then
  status=0
  for file in changelogs/changelog.yaml CHANGELOG.rst; do
    if ! cmp -s "$scratch/$file" "$repo/$file"; then
      echo "$file is not up to date with changelogs/fragments: run changelogs/render.sh" >&2
      status=1
    fi
  done
  exit "$status"
fi
cp "$scratch/changelogs/changelog.yaml" "$repo/changelogs/changelog.yaml"
cp "$scratch/CHANGELOG.rst" "$repo/CHANGELOG.rst"
echo "rendered changelogs/changelog.yaml and CHANGELOG.rst for $version"
