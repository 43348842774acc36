# The two commands of the README: `make demo` and `make test`. Both set up what they need on a
# fresh machine: a virtualenv with the package (the demo: its runtime only; the tests: the
# test extra too), the front-end bundle (npm), and for the tests Debian's chromium (browser
# tests drive it through Playwright) and redis-server. `make check-wheel` is the slow
# fresh-venv check of the built wheel (tools/check_wheel.py), not part of `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
BUNDLE := ccviz_kernel/static/widget.js
WIDGET_SOURCES := $(shell find widgets/src -type f 2>/dev/null) widgets/package.json widgets/build.mjs \
  widgets/tsconfig.json ccviz_kernel/engine/town.json

.PHONY: demo test lint jstest bench fuzz system clean check-wheel docs

# System packages the tests need (Debian/Ubuntu; each skipped when already there): chromium
# for the browser tests, redis-server for the Redis event store's tests (never started as a
# service: the tests run their own on a free loopback port).
system:
	@MISSING=; \
	command -v chromium >/dev/null 2>&1 || MISSING="$$MISSING chromium"; \
	command -v redis-server >/dev/null 2>&1 || MISSING="$$MISSING redis-server"; \
	if [ -n "$$MISSING" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$MISSING >/dev/null; \
	fi

widgets/node_modules/.package-lock.json: widgets/package-lock.json
	cd widgets && npm ci --no-audit --no-fund --loglevel=error

$(BUNDLE): widgets/node_modules/.package-lock.json $(WIDGET_SOURCES)
	cd widgets && npm run --silent build

# Two installs into one virtualenv: the demo needs only the runtime (`pip install -e .`), the
# gate needs the test extra (JupyterLab, Playwright, pandas, ...), a superset of it. The
# bundle is order-only here: a change in widgets/ rebuilds it (below) without reinstalling.
$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip

# Before 0.1.0 the distribution was named `ccviz` (another project's name on the package
# index): an editable install of this checkout under that name is removed first, so that one
# distribution owns the package and the `ccviz` command.
OLD_NAME = if $(PY) -m pip show ccviz 2>/dev/null | grep -qx "Editable project location: $(CURDIR)"; \
  then $(PY) -m pip uninstall -q -y ccviz; fi

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python $(BUNDLE)
	@$(OLD_NAME)
	$(PY) -m pip install -q -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python $(BUNDLE)
	@$(OLD_NAME)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP) $(RUN_STAMP)

demo: $(RUN_STAMP) $(BUNDLE)
	$(VENV)/bin/ccviz demo

# The gate checks what it claims: ruff lint and format, the TypeScript types, every node test
# under widgets/ (the JS mirror, deltas, layout, paths, town facts), then every pytest.
lint: $(STAMP) $(BUNDLE)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

jstest: widgets/node_modules/.package-lock.json
	cd widgets && npm run --silent typecheck && npm test --silent

test: system lint jstest
	$(VENV)/bin/pytest

# Every entry point of untrusted input under 10,000 seeded inputs each (make test runs the
# same tests with a short budget): HTTP ingest, socket.io events with both serializers, the
# spool, the transcript and hook-log readers, the settings merge.
fuzz: $(STAMP)
	CCVIZ_FUZZ_EXAMPLES=10000 $(VENV)/bin/pytest tests/fuzz

# Build the wheel, install it into a fresh virtualenv with no Node on the PATH, and check that
# `ccviz demo` serves, `jupyter lab` loads the extension and the widget renders in Chromium.
check-wheel: system $(STAMP)
	$(PY) tools/check_wheel.py

# The API reference: pdoc renders these modules' docstrings as HTML in build/api/ (open
# build/api/index.html), warnings as errors; tests/test_api_reference.py builds the same list.
API_MODULES := ccviz_kernel ccviz_kernel.notebook ccviz_kernel.notebook.handles ccviz_kernel.errors

docs: $(STAMP)
	rm -rf build/api
	$(PY) -W error -m pdoc -o build/api $(API_MODULES)

bench: $(STAMP)
	$(PY) bench/engine_bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache ccviz_kernel/static widgets/node_modules
