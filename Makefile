# eeforge.builder: make setup | make test | make demo | make docs
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

REPO := $(abspath .)
VENV ?= $(REPO)/.venv
PYTHON ?= python3
export PATH := $(VENV)/bin:$(PATH)
export EEFORGE_CACHE ?= /var/cache/eeforge-tests
COLL_ROOT := $(REPO)/.cache/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLL_ROOT)
export ANSIBLE_NOCOLOR := 1
# Everything the tests leave in a temp dir goes below this one, removed at the end.
WORK := $(REPO)/.cache/work

APT_PACKAGES := podman buildah fuse-overlayfs skopeo runc uidmap slirp4netns debootstrap docker-registry apache2-utils git shellcheck \
	qemu-user-static binfmt-support gnupg
MODULES = $(basename $(notdir $(wildcard plugins/modules/*.py)))

.PHONY: setup collection-link sanity units integration compat-216 lint galaxy docs changelog-lint test demo check-clean clean

setup:
	missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done
	if [ -n "$$missing" ]; then
	  echo "installing Debian packages:$$missing"
	  apt-get update -qq
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing
	fi
	# arm64 emulation for multi-arch builds: binfmt_misc mounted, qemu-aarch64 registered with the F flag
	# (qemu-user-static registers nothing without systemd).
	grep -qs ' /proc/sys/fs/binfmt_misc binfmt_misc ' /proc/self/mounts || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
	[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	stamp=$(VENV)/.requirements-$$(cat test-requirements.txt requirements.txt | sha256sum | cut -c1-16)
	if [ ! -e $$stamp ]; then
	  $(VENV)/bin/pip install -q -r test-requirements.txt -r requirements.txt
	  touch $$stamp
	fi
	$(MAKE) --no-print-directory collection-link
	$(VENV)/bin/python -m tests.harness.binfmt ensure qemu-aarch64
	# ansible-test fetches its get-pip bootstrap from a host these machines cannot reach.
	pipver=$$(python -c "import re,glob;print(re.search(r\"pip='([0-9.]+)'\",open(glob.glob('$(VENV)/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py')[0]).read()).group(1).replace('.','_'))")
	mkdir -p ~/.ansible/test/cache
	cp tests/ansible_test_get_pip.py ~/.ansible/test/cache/get_pip_$$pipver.py

collection-link:
	mkdir -p $(COLL_ROOT)/ansible_collections/eeforge
	ln -sfn $(REPO) $(COLL_ROOT)/ansible_collections/eeforge/builder

# ansible-test needs the collection at ansible_collections/eeforge/builder; it gets a copy of
# the tracked and new (not ignored) files there.
define collection_copy
	mkdir -p $(WORK)
	ct=$$(mktemp -d /tmp/eeforge-ansible-test-XXXXXX); trap 'rm -rf "$$ct"' EXIT
	mkdir -p $$ct/ansible_collections/eeforge/builder
	git ls-files -z -co --exclude-standard | xargs -0 cp --parents -t $$ct/ansible_collections/eeforge/builder/
	cd $$ct/ansible_collections/eeforge/builder
endef

sanity:
	$(collection_copy)
	ansible-test sanity --python 3.11 --requirements --color no
	for f in tests/sanity/ignore-*.txt; do [ ! -s "$$f" ] || { echo "$$f must stay empty"; exit 1; }; done

units:
	$(collection_copy)
	ansible-test units --python 3.11 --requirements --color no

integration:
	mkdir -p $(WORK)
	bt=$$(mktemp -d $(WORK)/pytest-XXXXXX); trap 'rm -rf "$$bt"' EXIT
	python -m tests.harness snapshot $(WORK)/before-tests.json
	EEFORGE_REMOVE_TEST_IMAGES=1 python -m pytest -p no:cacheprovider --durations=25 --basetemp=$$bt/tmp tests/integration

# The oldest ansible-core galaxy.yml's requires_ansible claims (2.16), in a second venv: the unit
# tests, then the integration tests marked `compat` (ee_build no-op, one AWX module, the role's check mode).
VENV_216 ?= $(REPO)/.cache/venv-216
compat-216:
	stamp=$(VENV_216)/.requirements-$$(cat test-requirements-216.txt | sha256sum | cut -c1-16)
	if [ ! -e $$stamp ]; then
	  rm -rf $(VENV_216) && $(PYTHON) -m venv $(VENV_216)
	  $(VENV_216)/bin/pip install -q -r test-requirements-216.txt
	  touch $$stamp
	fi
	$(MAKE) --no-print-directory collection-link
	$(VENV_216)/bin/ansible --version | head -1
	mkdir -p $(WORK)
	bt=$$(mktemp -d $(WORK)/pytest-216-XXXXXX); trap 'rm -rf "$$bt"' EXIT
	start=$$(date +%s)
	PATH=$(VENV_216)/bin:$$PATH PYTHONPATH=$(COLL_ROOT) $(VENV_216)/bin/python -m pytest -p no:cacheprovider -q \
	  -o addopts="-ra --strict-markers" --rootdir=$(REPO) --basetemp=$$bt/units tests/unit
	EEFORGE_REMOVE_TEST_IMAGES=1 PATH=$(VENV_216)/bin:$$PATH $(VENV_216)/bin/python -m pytest -p no:cacheprovider -q \
	  --basetemp=$$bt/tmp -m compat tests/integration
	echo "compat-216: $$(( $$(date +%s) - start ))s"

# ansible-lint installs the collection (its build: no tests/) into ./collections, where pytest-ansible
# keeps its link farm of the working tree; tests run afterwards would import that stale copy. It goes.
lint:
	trap 'rm -rf $(REPO)/collections' EXIT
	ansible-lint --profile production --offline

galaxy:
	rm -rf $(WORK)/galaxy && mkdir -p $(WORK)/galaxy
	ansible-galaxy collection build --force --output-path $(WORK)/galaxy .
	# galaxy-importer writes importer_result.json into the current directory.
	cd $(WORK)/galaxy && GALAXY_IMPORTER_CONFIG=$(REPO)/tests/galaxy-importer.cfg python -m galaxy_importer.main $(WORK)/galaxy/eeforge-builder-*.tar.gz | tee $(WORK)/galaxy/importer.log
	cd $(REPO)
	! grep -E '^(ERROR|[A-Z ]*ERROR)' $(WORK)/galaxy/importer.log
	ANSIBLE_COLLECTIONS_PATH=$(WORK)/galaxy/install ansible-galaxy collection install --force --no-deps -p $(WORK)/galaxy/install $(WORK)/galaxy/eeforge-builder-*.tar.gz
	for m in $(MODULES); do
	  ANSIBLE_COLLECTIONS_PATH=$(WORK)/galaxy/install ansible-doc eeforge.builder.$$m > $(WORK)/galaxy/doc-$$m.txt
	  echo "ansible-doc eeforge.builder.$$m: $$(wc -l < $(WORK)/galaxy/doc-$$m.txt) lines"
	done
	rm -rf $(WORK)/galaxy

docs:
	bash docs/build.sh

changelog-lint:
	antsibull-changelog lint
	antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

check-clean:
	python -m tests.harness check-clean $(WORK)/before-tests.json

test: setup sanity units lint galaxy docs changelog-lint integration compat-216 check-clean

demo: setup
	python -m tests.demo

clean:
	rm -rf .cache $(VENV)
