# The two commands: `make run` and `make test` (see README.md). Both are safe to run again.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps
SYSTEM_PACKAGES := chromium fonts-liberation coturn iproute2 nftables nginx-light
# The resolver `make lock` uses; pinned so the same pyproject.toml gives the same lock.
UV_VERSION := 0.13.9

.PHONY: run test install lock lint types imports pytest system-deps bench bench-db migration clean

run: install
	$(PY) -m telehealth db upgrade
	$(PY) -m telehealth demo
	$(PY) -m telehealth serve --port $${TELEHEALTH_PORT:-8080}

test: install system-deps lint types imports pytest

install: $(STAMPS)/python $(STAMPS)/web

# Exactly the versions (and files, by hash) in requirements.lock, then the package itself.
$(STAMPS)/python: pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11 or newer is needed (found: $$($(PYTHON) --version))."; exit 1; }
	$(PYTHON) scripts/lock.py check
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@mkdir -p $(STAMPS) && touch $@

# Regenerate requirements.lock from pyproject.toml (newest versions it allows); see README.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(PY) scripts/lock.py write

$(STAMPS)/web: web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node 20) is needed to install the browser client."; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMPS) && touch $@

# Chromium (browser tests), coturn (TURN relay tests), iproute2 and nftables (network
# namespaces: patients behind NATs and firewalls) and nginx (the deploy/ topology test)
# come from Debian's packages.
system-deps:
	@bash scripts/system-deps.sh $(SYSTEM_PACKAGES)

lint: install
	$(VENV)/bin/ruff check telehealth tests bench
	$(VENV)/bin/ruff format --check telehealth tests bench
	$(PY) scripts/check_sizes.py

types: install
	$(VENV)/bin/mypy telehealth

imports: install
	$(VENV)/bin/lint-imports

pytest: install
	$(PY) scripts/check_services.py
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The issue-12 scenarios against bare baselines in the same run (docs/performance.md):
# wrk from Debian's packages, the Node Socket.IO server and load generator from bench/.
bench: install $(STAMPS)/bench
	@bash scripts/system-deps.sh wrk
	$(PY) bench/ratios.py $(BENCH_ARGS)
	$(PY) bench/run.py
	$(PY) bench/sign_in.py

$(STAMPS)/bench: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMPS) && touch $@

# Without the baselines: booking and contention on both databases, and sign-in under attack.
bench-db: install
	$(PY) bench/run.py
	$(PY) bench/sign_in.py

# Write the next migration from the models: make migration MESSAGE="what changed".
migration: install
	$(PY) scripts/new_migration.py

clean:
	rm -rf $(VENV) $(STAMPS) web/node_modules bench/node_modules
