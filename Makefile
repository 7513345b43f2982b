# One entry point for a newcomer: `make run` (actor against the built-in simulator) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup model run test bench clean

setup: $(STAMP)

$(STAMP): actor/pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e actor -r requirements-dev.txt
	touch $(STAMP)

KEYS := .keys

$(KEYS)/key_id: | $(STAMP)
	$(BIN)/kalshi-actor keygen --out $(KEYS) >/dev/null

model: setup  ## the default model: trained on simulator sessions (about a minute) when the registry has none
	$(BIN)/kalshi-actor train --quick --if-missing

run: setup $(KEYS)/key_id model  ## the simulator serving live-moving markets (the actor joins it in a later release)
	$(BIN)/kalshi-actor sim --markets 8 --clock real --port 8000 --key "$$(cat $(KEYS)/key_id)=$(KEYS)/public.pem"

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache $(KEYS)
