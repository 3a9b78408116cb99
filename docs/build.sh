#!/usr/bin/env bash
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Build the documentation site (`make docs`) into docs/_build/html:
#  - module, role and changelog pages generated from the collection by antsibull-docs
#    (options, examples and return values come from each module's DOCUMENTATION/EXAMPLES/RETURN,
#    so every module in plugins/modules/ gets a page without anything to edit here);
#  - the user guides from docs/*.md, read by Sphinx with MyST and listed in docs/docsite/extra-docs.yml.
# Any Sphinx warning fails the build; so does a module page without options, examples or return values.
# Needs no network: references into the Ansible docs resolve through an inventory written here.
set -euo pipefail

docs_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$docs_dir")
build=${EEFORGE_DOCS_BUILD:-$docs_dir/_build}
site=$build/sphinx
ansible_docs=https://docs.ansible.com/projects/ansible/devel/

for tool in antsibull-docs sphinx-build ansible-doc; do
  command -v "$tool" >/dev/null || { echo "docs/build.sh: $tool not found: run 'make setup' (test-requirements.txt)" >&2; exit 1; }
done
python -c 'import myst_parser, sphinx_ansible_theme' 2>/dev/null \
  || { echo "docs/build.sh: myst-parser and sphinx-ansible-theme are missing: run 'make setup'" >&2; exit 1; }

# antsibull-docs finds the collection as eeforge.builder in ANSIBLE_COLLECTIONS_PATH: link this
# checkout into a private collections root (removed at the end), ahead of any other copy.
colls=$(mktemp -d /tmp/eeforge-docs-XXXXXX)
trap 'rm -rf "$colls"' EXIT
mkdir -p "$colls/ansible_collections/eeforge"
ln -s "$repo" "$colls/ansible_collections/eeforge/builder"
export ANSIBLE_COLLECTIONS_PATH="$colls${ANSIBLE_COLLECTIONS_PATH:+:$ANSIBLE_COLLECTIONS_PATH}"
export ANSIBLE_NOCOLOR=1

rm -rf "$site" "$build/html" "$build/doctrees"
mkdir -p "$site"
chmod 700 "$site"  # antsibull-docs refuses a destination others may write to
antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --dest-dir "$site" \
  --project eeforge.builder --copyright "eeforge contributors" --title "eeforge.builder" \
  --html-short-title "eeforge.builder" eeforge.builder >/dev/null

cd "$site"
mkdir -p rst
chmod og-w rst
antsibull-docs --config-file antsibull-docs.cfg collection --cleanup everything --fail-on-error \
  --use-current --squash-hierarchy --dest-dir rst eeforge.builder

# The guides: every docs/*.md except index.md (the GitHub landing page; the site's index is the
# collection page, whose "Guides" section comes from extra-docs.yml). A page that extra-docs.yml does
# not list is still built (guides may link to it) but marked orphan, and said so here.
mkdir -p rst/docsite
listed=$(python - "$docs_dir/docsite/extra-docs.yml" <<'PYEOF'
import sys

import yaml

index = yaml.safe_load(open(sys.argv[1])) or {}
for section in index.get("sections") or []:
    for entry in section.get("toctree") or []:
        print(entry["ref"] if isinstance(entry, dict) else entry)
PYEOF
)
for guide in "$docs_dir"/*.md; do
  name=$(basename "$guide" .md)
  [ "$name" = index ] && continue
  if grep -qx "$name" <<<"$listed"; then
    cp "$guide" rst/docsite/
  else
    echo "docs/build.sh: docs/$name.md is not in docs/docsite/extra-docs.yml: built, but not listed under Guides"
    { printf -- '---\norphan: true\n---\n\n'; cat "$guide"; } > "rst/docsite/$name.md"
  fi
done

# Offline inventory for the labels the generated pages point to in the Ansible docs (common return
# values, configuration, plugins of ansible.builtin and of the collections this one works with).
python - "$site/ansible_devel.inv" "$ansible_docs" <<'PYEOF'
import json
import subprocess
import sys
import zlib

dest, base = sys.argv[1], sys.argv[2]
entries = [
    ("common_return_values", "reference_appendices/common_return_values.html#common-return-values", "Return Values"),
    ("ansible_configuration_settings", "reference_appendices/config.html#ansible-configuration-settings",
     "Ansible Configuration Settings"),
    ("playbooks_variables", "playbook_guide/playbooks_variables.html#playbooks-variables", "Using variables"),
    ("module_defaults", "playbook_guide/playbooks_module_defaults.html#module-defaults", "Module defaults"),
    ("check_mode_dry", "playbook_guide/playbooks_checkmode.html#check-mode-dry",
     "Validating tasks: check mode and diff mode"),
]
for collection in ("ansible.builtin", "containers.podman", "awx.awx"):
    for plugin_type in ("module", "lookup", "filter", "test"):
        res = subprocess.run(["ansible-doc", "-t", plugin_type, "--list", "--json", collection],
                             capture_output=True, text=True, check=False)
        if res.returncode != 0 or not res.stdout.strip():
            continue
        for fqcn in json.loads(res.stdout):
            namespace, name, plugin = fqcn.split(".", 2)
            label = "ansible_collections.%s_%s" % (fqcn, plugin_type)
            page = "collections/%s/%s/%s_%s.html" % (namespace, name, plugin, plugin_type)
            anchor = label.replace(".", "-").replace("_", "-")
            entries.append((label, "%s#%s" % (page, anchor), "%s %s" % (fqcn, plugin_type)))
body = "".join("%s std:label -1 %s %s\n" % entry for entry in entries)
with open(dest, "wb") as handle:
    handle.write(b"# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
                 b"# The remainder of this file is compressed using zlib.\n")
    handle.write(zlib.compress(body.encode("utf-8")))
PYEOF

cat >> conf.py <<EOF

# --- added by docs/build.sh ---
extensions.append('myst_parser')
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
myst_heading_anchors = 3
# Offline: the Ansible docs' labels come from the inventory written by docs/build.sh.
intersphinx_mapping = {'ansible_devel': ('$ansible_docs', '$site/ansible_devel.inv')}
EOF

sphinx-build -M html rst "$build" -c . -W --keep-going -q

# Every module page must show its options, examples and return values.
missing=0
for module in "$repo"/plugins/modules/*.py; do
  name=$(basename "$module" .py)
  [ "$name" = __init__ ] && continue
  page=$build/html/${name}_module.html
  for section in parameters examples return-values; do
    if ! grep -q "id=\"$section\"" "$page" 2>/dev/null; then
      echo "docs/build.sh: $page has no '$section' section" >&2
      missing=1
    fi
  done
done
[ "$missing" = 0 ]
echo "docs built: $build/html/index.html ($(find "$build/html" -maxdepth 1 -name "*_module.html" | wc -l) module pages)"
