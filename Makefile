# `make run` and `make test` do all the set-up on a fresh machine.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

# The web client: npm ci when the lock file changes, vite build into the package's static folder.
WEB_STAMP := web/node_modules/.installed-$(shell sha1sum web/package-lock.json | cut -c1-12)
WEB_STATIC := src/racereplay/server/static/index.html
WEB_SOURCES := $(shell find web/src -type f) web/index.html web/vite.config.ts web/tsconfig.json

.PHONY: install run test test-fast lint bench clean web chromium nginx redis ffmpeg

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,fastf1]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

$(WEB_STAMP): web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	rm -f web/node_modules/.installed-* && touch $(WEB_STAMP)

$(WEB_STATIC): $(WEB_STAMP) $(WEB_SOURCES)
	cd web && npm run build

web: $(WEB_STATIC)

# Debian's chromium for the end-to-end tests (CI runs as root); they skip with a message without it.
chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium) \
		|| echo "warning: could not install chromium: the end-to-end tests will be skipped"

# Debian's nginx for the sub-path test (tests/test_e2e_subpath.py); it skips with a message without it.
nginx:
	@test -x /usr/sbin/nginx || (apt-get update && apt-get install -y nginx) \
		|| echo "warning: could not install nginx: the sub-path test will be skipped"

# Debian's redis-server for the replica tests (serve --redis); they skip with a message without it.
redis:
	@test -x /usr/bin/redis-server || (apt-get update && apt-get install -y redis-server) \
		|| echo "warning: could not install redis-server: the Redis tests will be skipped"

# Debian's ffmpeg makes the test video of the broadcast-sync test; it skips with a message without it.
ffmpeg:
	@test -x /usr/bin/ffmpeg || (apt-get update && apt-get install -y --no-install-recommends ffmpeg) \
		|| echo "warning: could not install ffmpeg: the broadcast-sync test will be skipped"

run: install web
	$(BIN)/racereplay serve

lint: install $(WEB_STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src
	$(BIN)/hadolint Dockerfile
	cd web && npm run format:check

test: install lint web chromium nginx redis ffmpeg
	$(BIN)/pytest

# The quick loop (~1 min): no lint, no real data, no browser, nothing marked slow.
test-fast: install
	$(BIN)/pytest -m "not realdata and not e2e and not slow"

bench: install
	$(BIN)/racereplay bench

clean:
	rm -rf $(VENV) cache artifacts
