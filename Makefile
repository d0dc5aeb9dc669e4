# One-command set-up for a newcomer: `make run` serves the bot, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench bench-load install clean-data browser wrk

# Debian's chromium for the staff console's browser tests (Playwright drives it; its own download is not used).
CHROMIUM := /usr/bin/chromium
# Debian's wrk drives the webhook under load in `make bench`.
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

wrk:
	@if [ ! -x $(WRK) ]; then \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk; \
	fi

run: $(STAMP)
	$(BIN)/centerbot run

test: $(STAMP) browser
	$(BIN)/python -m pyflakes bot handlers knowledge bench tests
	$(BIN)/python -m pytest -q

clean-data:
	rm -rf var

bench: $(STAMP) wrk
	$(BIN)/python -m bench

# only the webhook under load and memory sections of BENCHMARKS.md (a few minutes)
bench-load: $(STAMP) wrk
	$(BIN)/python -m bench load
