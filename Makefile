# The README's two commands: `make demo` and `make test`.
# A venv is created in .venv unless one is already active; the pinned anvil goes to .tools/.

SHELL := /bin/bash
.DEFAULT_GOAL := help

ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else
VENV := $(CURDIR)/.venv
endif
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.oracle-installed
ANVIL := .tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
PYTEST_ARGS ?=

.PHONY: help install tools browser demo test lint typecheck imports unit system bench clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,lint]'
	@# libp2p pulls in trio-typing, whose outdated trio-stubs shadow trio's own inline types
	@# (mypy then rejects trio.TaskStatus and newer APIs); the stubs are never used at runtime.
	rm -rf $(VENV)/lib/python3*/site-packages/trio-stubs
	@touch $(STAMP)

install: $(STAMP)  ## install the package with test and lint extras into the venv

$(ANVIL): .tools/package.json
	cd .tools && npm install --no-audit --no-fund --loglevel=error
	@test -x $(ANVIL) || { echo "anvil binary missing after npm install" >&2; exit 1; }
	@touch $(ANVIL)

tools: $(ANVIL)  ## install the pinned anvil (npm @foundry-rs/anvil) into .tools/

browser:  ## Debian's chromium for the status-page browser test (installed with apt-get when root)
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium (status-page test)"; \
	  apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium not found: install Debian's chromium to run the browser test" >&2; fi

demo: install tools  ## install everything and run a local testnet that finishes on its own
	$(BIN)/oracle-testnet up

lint: install  ## ruff
	$(BIN)/ruff check .

typecheck: install  ## mypy --strict
	$(BIN)/mypy

imports: install  ## import-linter layering contracts
	$(BIN)/lint-imports

test: install tools browser lint typecheck imports  ## lint, type checks and the whole test suite
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is broken" >&2; fi; exit $$rc

unit: install  ## the fast layer only (no real chains or libp2p processes)
	$(BIN)/pytest -m "not system" $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

system: install tools  ## only the system tests
	$(BIN)/pytest -m system $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

bench: install tools  ## run every benchmark suite into .cache/bench/
	@for s in crypto rollup prover gas chain node ceremony e2e; do \
	  $(BIN)/oracle-testnet bench $$s --out .cache/bench/$$s.json || exit 1; done

clean:  ## remove caches (keeps the venv and tools)
	rm -rf .cache/prover .pytest_cache .mypy_cache .ruff_cache .hypothesis
