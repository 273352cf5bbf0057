# Tollgate: `make run` serves the site with the sandbox gateways; `make test` runs everything.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
PYTHON ?= python3
PORT ?= 5000

.PHONY: run test test-on-postgres fuzz lint bench bench-web system-deps venv migrate seed clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

migrate: venv
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) catalog load data/catalogue.json

run: seed
	PORT=$(PORT) $(PY) -m checkout.devserver

# PostgreSQL and Chromium come from Debian's packages when they are missing.
system-deps:
	bash scripts/system-deps.sh

test: venv system-deps
	$(PY) -m ruff check .
	$(PY) -m pytest

# The whole suite with every app on the throwaway PostgreSQL instead of SQLite (slower than
# `make test` may be, so not part of it).
test-on-postgres: venv system-deps
	TOLLGATE_TESTS_ON_POSTGRES=1 $(PY) -m pytest

# The fuzz tests of `make test` (tests/fuzz) with many more examples, not derandomized.
fuzz: venv system-deps
	TOLLGATE_FUZZ_PROFILE=long $(PY) -m pytest tests/fuzz

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: venv bench-web
	$(PY) bench/sweep.py

# the shopper's pages and the IPN door under gunicorn against a bare Flask app (wrk, Debian's)
bench-web: venv system-deps
	command -v wrk >/dev/null || apt-get install -y -qq wrk || sudo apt-get install -y -qq wrk
	$(PY) bench/web.py

clean:
	rm -rf $(VENV) instance/tollgate.sqlite3*
