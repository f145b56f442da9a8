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

.PHONY: setup system-deps test test-fast demo bench lint typecheck clean

setup: $(STAMP)

$(STAMP): pyproject.toml training/pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel lies on disk; an unpinned torch pulls a CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]' -e ./training
	touch $(STAMP)

# PostgreSQL for the integration suites (Debian package; needs root).
system-deps: $(SYSSTAMP)

$(SYSSTAMP):
	mkdir -p var
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  fi; \
	else echo "system-deps: not root or no apt-get; postgres suites will report the missing server"; fi
	touch $(SYSSTAMP)

test: setup system-deps
	$(BIN)/python -m pytest -q tests

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not kafka and not postgres" tests

demo: setup
	$(BIN)/prosocial demo

bench: setup
	@for f in bench/*.py; do n=$$(basename $$f .py); [ "$$n" = common ] && continue; \
	  echo "== bench $$n"; $(BIN)/python $$f || exit 1; done

bench-%: setup
	$(BIN)/python bench/$*.py

lint: setup
	$(BIN)/ruff check bot streaming models redditdata devtools training/training tests bench
	$(BIN)/ruff format --check bot streaming models redditdata devtools training/training tests bench

typecheck: setup
	$(BIN)/mypy bot streaming models redditdata devtools training/training tests bench

clean:
	rm -rf $(VENV) var/.system-deps .pytest_cache
