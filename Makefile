# keybridge: `make run` and `make test` install what is missing, then act.
# Works as root on a fresh Debian machine (apt for python3-venv, mosquitto,
# nodejs/npm when absent) and as a normal user where those are present.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CACHE := .cache
# The MicroPython interpreter for the portability check, pinned.
MICROPYTHON_NPM := @micropython/micropython-webassembly-pyscript@1.27.0
MICROPYTHON_DIR := $(CACHE)/npm
MICROPYTHON_STAMP := $(MICROPYTHON_DIR)/.installed-1.27.0
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -y -q

.PHONY: run test lint typecheck pytest micropython bench fleet chaos deb clean system-deps demo-secrets

run: $(VENV)/.installed demo-secrets
	$(PY) -m simulators.demo

test: $(VENV)/.installed $(MICROPYTHON_STAMP) system-deps lint typecheck pytest micropython

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

pytest: $(VENV)/.installed system-deps demo-secrets
	$(PY) -b -m pytest --cov --cov-report=term

micropython: $(VENV)/.installed $(MICROPYTHON_STAMP)
	node tests/micropython/run.mjs $(MICROPYTHON_DIR)/node_modules \
	  $$($(PY) tests/micropython/count.py tests/protocol/portable)

bench: $(VENV)/.installed system-deps
	$(PY) -m bench

# 200 sites on a 3-node NATS JetStream cluster, a node killed and restarted mid-day.
fleet: $(VENV)/.installed system-deps
	$(PY) -m bench.fleet

# A 2,000-booking day under 200 kill -9s, broker, KS, Space and disk faults and clock steps;
# exits 1 on any loss, duplicate effect or divergence. SEED=n repeats a run.
chaos: $(VENV)/.installed system-deps
	$(PY) -m bench.chaos $(if $(SEED),--seed $(SEED))

# keybridge_<version>_<arch>.deb in dist/: this machine's architecture, or ARCH=arm64.
deb: $(VENV)/.installed
	$(PY) packaging/build_deb.py $(if $(ARCH),--arch $(ARCH))

# config/demo.toml's KS secret files are the simulator's published demo account, but keybridge
# refuses any secret file others can read; git checks them out 0644.
demo-secrets:
	chmod 600 config/demo-ks-client-secret config/demo-ks-password

# Debian packages the tests need (Mosquitto and NATS for the MQTT tests, Node.js
# for MicroPython, debootstrap and lintian for the package, a C compiler for the shim
# that steps a process's wall clock, bench/clockshift.c), installed only when absent and root.
system-deps:
	@missing=""; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || missing="$$missing nats-server"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing="$$missing debootstrap"; \
	command -v lintian >/dev/null || missing="$$missing lintian"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v cc >/dev/null || command -v gcc >/dev/null || missing="$$missing gcc"; \
	[ -e /usr/include/stdio.h ] || missing="$$missing libc6-dev"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then $(APT_GET) update && $(APT_GET) install $$missing; \
	  else echo "missing:$$missing (install them, or run make as root)"; exit 1; fi; \
	fi

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "keybridge needs Python >= 3.11 ($(PYTHON) is older)"; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || \
	  { [ "$$(id -u)" = 0 ] && $(APT_GET) update && $(APT_GET) install python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

$(MICROPYTHON_STAMP): | system-deps
	mkdir -p $(MICROPYTHON_DIR)
	npm install --silent --no-audit --no-fund --prefix $(MICROPYTHON_DIR) $(MICROPYTHON_NPM)
	touch $@

clean:
	rm -rf $(VENV) $(CACHE) dist .coverage .mypy_cache .pytest_cache .ruff_cache .hypothesis
