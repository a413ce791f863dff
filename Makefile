# swarmlab: every target does its own set-up, so `make lessons` and `make test`
# work on a fresh Debian/Ubuntu machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# System packages the live lab needs (Debian/Ubuntu names).
SYSTEM_PACKAGES := docker.io bridge-utils net-tools iproute2 busybox-static openssh-server util-linux iptables
LAB ?= swarmlab

.PHONY: install system-packages lessons record test unit live bench jupyter check clean

install: system-packages $(STAMP)

# Installs only what is missing, and only as root on a Debian-like system;
# elsewhere it says what is missing and goes on (replay needs none of it).
system-packages:
	@missing=""; \
	for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing system packages:$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing) >/tmp/swarmlab-apt.log 2>&1 \
			|| { tail -20 /tmp/swarmlab-apt.log; exit 1; }; \
	else \
		echo "note: the live lab needs these system packages:$$missing (install them as root; replay works without)"; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (log: $(VENV)/pip.log)"
	@$(PY) -m pip install -q --upgrade pip >$(VENV)/pip.log 2>&1 || { tail -30 $(VENV)/pip.log; exit 1; }
	@$(PY) -m pip install -q -e '.[lessons,test]' >>$(VENV)/pip.log 2>&1 || { tail -30 $(VENV)/pip.log; exit 1; }
	@touch $(STAMP)

check: install
	$(VENV)/bin/swarmlab check

# The main job: every lesson headless (live where this machine can run the lab,
# else from the bundled recordings); notebooks and HTML handouts in build/lessons/.
lessons: install
	$(VENV)/bin/swarmlab lessons run

# Regenerate the bundled recordings from a live run of every lesson (root).
record: install
	$(VENV)/bin/swarmlab lessons record

test: install
	$(PY) -m pytest -q

unit: install
	$(PY) -m pytest -q tests/unit

live: install
	$(PY) -m pytest -q tests/live

bench: install
	$(PY) benchmarks/run.py

jupyter: install
	@$(PY) -m pip install -q -e '.[lessons,test,jupyter]' >>$(VENV)/pip.log 2>&1 || { tail -30 $(VENV)/pip.log; exit 1; }
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) build *.egg-info
