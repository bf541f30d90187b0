# Two commands for a newcomer:  make demo  and  make test  (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-api lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/alx demo

# The whole suite, on SQLite and on real MariaDB and PostgreSQL servers started by the tests
# (installed from Debian packages first when missing). ALX_TEST_DATABASES=sqlite narrows it.
test: $(STAMP)
	bash .ci/install-db-servers.sh
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench.run

# REST v1 over HTTP on the same 1M database: uncached/cached pages, Datasette, 8 concurrent clients.
bench-api: $(VENV)/.bench-installed
	$(BIN)/python -m bench.api

$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
