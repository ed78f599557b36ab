# Two entry points: `make up` (install into .venv/ and run the service) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test install lint system-deps services

$(BIN)/nasboard: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/nasboard

install: $(BIN)/nasboard

up: install
	$(BIN)/nasboard up $(ARGS)

lint: install
	$(BIN)/ruff check .

system-deps:
	bash scripts/ensure-system-deps.sh

services:
	bash scripts/ensure-services.sh

test: install system-deps services lint
	$(BIN)/pytest $(PYTEST_ARGS)
