# swarmlab: every target does its own set-up, so `make lessons` and `make test`
# work on a fresh Debian/Ubuntu machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# System packages the live lab needs (Debian/Ubuntu names).
# uidmap (newuidmap/newgidmap: a plain user's subordinate ids in a user namespace), rootlesskit (its
# docker proxy, which dockerd in rootless mode needs) and tini: a lab in a plain user's own user namespaces.
# fonts-noto-cjk: the Chinese lessons' plots draw their labels with it (without it they stay English, with a note).
SYSTEM_PACKAGES := docker.io bridge-utils net-tools iproute2 busybox-static openssh-server util-linux iptables iputils-ping uidmap rootlesskit tini fonts-noto-cjk
# What the tests add: a browser for tests/live/test_browser.py (Playwright drives it; it never downloads one),
# and sudo for tests/live/test_lessons_inventory.py (a lab node's non-root login with passwordless sudo).
# mmdebstrap: the Docker 28 node root file system (tests/live/test_docker_versions.py), built
# once into NODE_ROOTFS by test-install, so the tests themselves download nothing.
# npm and python3-venv: the classroom's proxy (configurable-http-proxy from npm) and the students'
# Python environment (a venv on the system's python3), made once by test-install for tests/live/test_classroom.py.
# npm only where no npm answers: NodeSource's nodejs carries its own, and conflicts with Debian's npm.
# openssl: the classroom's self-signed certificate (--tls self-signed). python3.11: Debian's interpreter in the student image tests/live/test_student_image.py builds from this machine's packages.
TEST_SYSTEM_PACKAGES := chromium sudo mmdebstrap python3-venv python3.11 openssl $(if $(shell command -v npm),,npm)
NODE_ROOTFS ?= $(CURDIR)/.cache/rootfs
TEST_DOCKER_VERSIONS := 28
test-install test live: export SWARMLAB_ROOTFS = $(NODE_ROOTFS)
TEST_STAMP := $(VENV)/.installed-test
LAB ?= swarmlab

.PHONY: install system-packages test-install test-system-packages lessons record test unit live bench jupyter check clean

install: system-packages $(STAMP)

# Installs only what is missing, and only as root on a Debian-like system;
# elsewhere it says what is missing and goes on (replay needs none of it).
system-packages:
	$(call install-missing,$(SYSTEM_PACKAGES),the live lab needs these system packages,replay works without)

test-system-packages:
	$(call install-missing,$(TEST_SYSTEM_PACKAGES),the tests need these system packages,tests/live/test_browser.py and test_lessons_inventory.py and test_student_image.py fail without)

# $(call install-missing,PACKAGES,WHO NEEDS THEM,WHAT HAPPENS WITHOUT)
define install-missing
	@missing=""; \
	for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing system packages:$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing) >/tmp/swarmlab-apt.log 2>&1 \
			|| { tail -20 /tmp/swarmlab-apt.log; exit 1; }; \
	else \
		echo "note: $(2):$$missing (install them as root; $(3))"; \
	fi
endef

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (log: $(VENV)/pip.log)"
	@$(PY) -m pip install -q --upgrade pip >$(VENV)/pip.log 2>&1 || { tail -30 $(VENV)/pip.log; exit 1; }
	@$(PY) -m pip install -q -e '.[lessons,test]' >>$(VENV)/pip.log 2>&1 || { tail -30 $(VENV)/pip.log; exit 1; }
	@touch $(STAMP)

# The tests also need JupyterLab and Playwright (the browser test), chromium, and nbgrader (the grading test).
test-install: install test-system-packages $(TEST_STAMP)
	@for v in $(TEST_DOCKER_VERSIONS); do $(VENV)/bin/swarmlab lab rootfs --docker $$v >/dev/null || exit 1; done
	@$(PY) -c 'from swarmlab.classroom import install; install.prepare_cache()'

$(TEST_STAMP): pyproject.toml $(STAMP)
	@echo "installing JupyterLab, Playwright and nbgrader for the browser and grading tests (log: $(VENV)/pip.log)"
	@$(PY) -m pip install -q -e '.[lessons,test,jupyter,browser,grading,classroom]' >>$(VENV)/pip.log 2>&1 || { tail -30 $(VENV)/pip.log; exit 1; }
	@touch $(TEST_STAMP)

check: install
	$(VENV)/bin/swarmlab check

# The main job: every lesson headless (live where this machine can run the lab,
# else from the bundled recordings); notebooks and HTML handouts in build/lessons/.
lessons: install
	$(VENV)/bin/swarmlab lessons run

# Regenerate the bundled recordings from a live run of every lesson (root).
record: install
	$(VENV)/bin/swarmlab lessons record

# Two workers, one per core: at three, lessons 04 and 05 timed out waiting on the scheduler
# and the overlay (load average 8-10). tests/conftest.py keeps each module, and what touches the host's
# root namespace, on one worker.
TEST_WORKERS ?= 2

test: install test-install
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

unit: install
	$(PY) -m pytest -q tests/unit

live: install test-install
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup tests/live

bench: install
	$(PY) benchmarks/run.py

# `make jupyter SWARMLAB_LANG=zh`: JupyterLab in Chinese (its language pack, chosen in the venv's settings
# overrides), opened on the Chinese lessons, whose kernels speak Chinese too (notebooks/zh/swarmlab-lang).
JUPYTER_LOCALE = $(if $(filter zh,$(SWARMLAB_LANG)),zh_CN,en)
JUPYTER_OVERRIDES = $(VENV)/share/jupyter/lab/settings/overrides.json

jupyter: install
	@$(PY) -m pip install -q -e '.[lessons,test,jupyter]' >>$(VENV)/pip.log 2>&1 || { tail -30 $(VENV)/pip.log; exit 1; }
	@mkdir -p $(dir $(JUPYTER_OVERRIDES))
	@echo '{"@jupyterlab/translation-extension:plugin": {"locale": "$(JUPYTER_LOCALE)"}}' >$(JUPYTER_OVERRIDES)
	$(VENV)/bin/jupyter lab notebooks/$(if $(filter zh,$(SWARMLAB_LANG)),zh/) $$([ "$$(id -u)" = 0 ] && echo --allow-root)

clean:
	rm -rf $(VENV) build *.egg-info
