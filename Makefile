# Two commands on a fresh clone: `make demo` and `make test`. Everything installs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(TEST_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(STAMP)

demo: $(STAMP)
	$(BIN)/silo demo

test: $(TEST_STAMP)
	$(BIN)/ruff check siloos tests
	$(BIN)/python -m pytest -n 2 -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo 'pytest ran no test: failing' >&2; exit 1; fi; exit $$rc

lint: $(TEST_STAMP)
	$(BIN)/ruff check siloos tests
	$(BIN)/silo lint --strict agents procedures

# The benchmark installs Presidio too, so its figures stand beside ours from the same run.
bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/silo bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
