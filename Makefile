# One entry point for a newcomer: `make run` (actor against the built-in simulator) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup model run sim test bench clean

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

run: setup model  ## an actor trading the built-in simulator: health, events and metrics on http://127.0.0.1:8000
	$(BIN)/kalshi-actor run --sim --port 8000

sim: setup $(KEYS)/key_id  ## the simulator alone, on port 8001, with a generated key in .keys/
	$(BIN)/kalshi-actor sim --markets 8 --clock real --port 8001 --key "$$(cat $(KEYS)/key_id)=$(KEYS)/public.pem"

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache $(KEYS)
