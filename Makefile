# Two commands for a newcomer:  make demo  and  make test  (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check bench bench-analytics bench-api bench-cache bench-reports bench-exports bench-tui venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/alx demo

# The static checks, then the whole suite, on SQLite and on real MariaDB and PostgreSQL servers started by
# the tests (installed from Debian packages first when missing). ALX_TEST_DATABASES=sqlite narrows it.
# MariaDB runs on mysqlclient (built against libmariadb: .ci/install-mysqlclient.sh), and on PyMySQL too
# in the connection-handling tests. TEST_WORKERS pytest-xdist processes, each with its own MariaDB and
# PostgreSQL servers; worksteal hands the last tests to idle workers. Temporary files live in /dev/shm
# when it is there (tests/conftest.py).
TEST_WORKERS ?= 4

test: $(STAMP) check
	bash .ci/install-db-servers.sh
	sh .ci/install-mysqlclient.sh $(BIN)/python
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

# Lint, formatting, the import contract (pyproject.toml [tool.importlinter]) and the type check of the
# models and the core packages ([tool.mypy]).
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Backends for the benchmarks, e.g. make bench BENCH_DATABASES=sqlite,mariadb,postgresql BENCH_SIZE=large
# (MariaDB and PostgreSQL run as private servers started by the benchmark, as in the tests).
BENCH_DATABASES ?= sqlite
BENCH_SIZE ?= 1m

bench: $(STAMP)
	$(BIN)/python -m bench.run --size $(BENCH_SIZE) --databases $(BENCH_DATABASES)

# REST v1 over HTTP on the same 1M database: uncached/cached pages, Datasette, 8 concurrent clients.
# BENCH_WORKERS: alx serve --workers (the minimal app is then measured with as many processes too).
BENCH_WORKERS ?= 1
bench-api: $(VENV)/.bench-installed
	$(BIN)/python -m bench.api --size $(BENCH_SIZE) --databases $(BENCH_DATABASES) --workers $(BENCH_WORKERS)

# Time spent from Moodle's log vs a bare LAG() insert; incremental after +1 % (ANALYTICS_EVENTS, default 1M).
ANALYTICS_EVENTS ?= 1000000

bench-analytics: $(STAMP)
	$(BIN)/python -m bench.analytics --events $(ANALYTICS_EVENTS)

# The engagement report of a 10,000-row company in process (≤ 200 ms) and as an API page (≤ 2× that).
bench-reports: $(STAMP)
	$(BIN)/python -m bench.reports

# Report exports (100k-row CSV vs bare csv.writer, XLSX, 10k-row PDF: time and peak RSS) and a saved
# SQL report over 1M reporting rows against the same SQL run directly; the validator's time.
bench-exports: $(STAMP)
	$(BIN)/python -m bench.exports

# Resident memory of one `alx serve` under 50 clients paging 1000-row pages: byte-bounded cache vs entries only.
bench-cache: $(STAMP)
	$(BIN)/python -m bench.cache_memory

# The console's refreshes (alxapi.ops.monitor) on 1M request-log rows and 100k reporting rows: ≤ 100 ms each.
bench-tui: $(STAMP)
	$(BIN)/python -m bench.tui

$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	sh .ci/install-mysqlclient.sh $(BIN)/python
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
