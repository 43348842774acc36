# The two commands of the README: `make demo` and `make test`. Both set up what they need on a
# fresh machine: a virtualenv with the package and its test tools, the front-end bundle
# (npm), and for the tests Debian's chromium (browser tests drive it through Playwright).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUNDLE := ccviz_kernel/static/widget.js
WIDGET_SOURCES := $(shell find widgets/src -type f 2>/dev/null) widgets/package.json widgets/build.mjs

.PHONY: demo test lint bench system clean

# System packages the browser tests need (Debian/Ubuntu; skipped when already there).
system:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

widgets/node_modules/.package-lock.json: widgets/package-lock.json
	cd widgets && npm ci --no-audit --no-fund --loglevel=error

$(BUNDLE): widgets/node_modules/.package-lock.json $(WIDGET_SOURCES)
	cd widgets && npm run --silent build

$(STAMP): pyproject.toml $(BUNDLE)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ccviz demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: system lint
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(PY) bench/engine_bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache ccviz_kernel/static widgets/node_modules
