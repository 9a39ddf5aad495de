# `make run` and `make test` do all the set-up on a fresh machine.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,fastf1]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/racereplay build demo

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

test: install lint
	$(BIN)/pytest

bench: install
	$(BIN)/racereplay bench

clean:
	rm -rf $(VENV) cache artifacts
