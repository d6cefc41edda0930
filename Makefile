# The two commands a newcomer needs (see README):
#   make run   - create the environment and run the vault on embedded defaults
#   make test  - create the environment and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= ./data
LISTEN ?= 127.0.0.1:50051

.PHONY: run test env lint proto bench clean

$(BIN)/biovault: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

env: $(BIN)/biovault

run: env
	$(BIN)/biovault serve --data-dir $(DATA) --listen $(LISTEN)

test: env
	$(BIN)/python -m pytest -q

lint: env
	$(BIN)/ruff check vault tests benchmarks
	$(BIN)/mypy vault

proto: env
	$(BIN)/python -m vault.api.regenerate

bench: env
	$(BIN)/python -m pytest benchmarks -q --benchmark-only

clean:
	rm -rf $(VENV) build *.egg-info
