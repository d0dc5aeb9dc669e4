# One-command set-up for a newcomer: `make run` serves the bot, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench install clean-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,semantic]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/centerbot run

test: $(STAMP)
	$(BIN)/python -m pyflakes bot handlers knowledge bench tests
	$(BIN)/python -m pytest -q

clean-data:
	rm -rf var

bench: $(STAMP)
	$(BIN)/python -m bench
