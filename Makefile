# The README's two commands: `make run` (install, migrate, load the demo city, serve) and `make test` (every test).
PYTHON_BIN ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 2
# BASE_URL (the links in notifications, the login address printed) follows HOST and PORT unless it is set in the
# environment or in .env; it is passed on only when it is ours, so a .env value is never overridden
BASE_URL ?= $(if $(shell grep -s '^BASE_URL=' .env),,http://$(HOST):$(PORT))
RUN_ENV := $(if $(BASE_URL),BASE_URL=$(BASE_URL))

.PHONY: run test setup test-setup lint bench-quick clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed
	$(PY) -m server vendor

run: setup
	$(PY) -m server migrate
	$(RUN_ENV) $(PY) -m server seed-demo
	@echo "civic311 on http://$(HOST):$(PORT)/ (staff log in at /login with the logins above); Ctrl-C stops it"
	$(RUN_ENV) $(PY) -m server worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(RUN_ENV) $(PY) -m server serve --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests (Playwright cannot download its own browser here).
test-setup: setup
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi

test: test-setup
	$(VENV)/bin/ruff check server tests bench
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check server tests bench
	$(VENV)/bin/ruff format --check server tests bench

bench-quick: setup
	@command -v wrk >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk)
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b --quick | tail -1; done

clean:
	rm -rf $(VENV) node_modules web/static/vendor field/static/vendor tests/e2e/vendor
