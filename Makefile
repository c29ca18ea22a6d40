# `make run` and `make test` work on a fresh machine: they create .venv and install from requirements.lock.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: run test install system-deps lint lock bench clean

$(INSTALLED): requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.lock
	@touch $@

install: $(INSTALLED)

## Debian packages the tests need (Chromium for the browser tests); installs only what is missing.
system-deps:
	@bash .ci/system-deps

## Serve the portal on http://127.0.0.1:8000/ with SQLite and in-process tasks, after loading demo data.
## The fraud check uses the demo GeoIP database load_demo builds, unless FRAUD_GEOIP_CITY_DB is set.
## Emails are written to var/mail/ (Django's file backend), unless EMAIL_URL is set.
run: install system-deps
	$(BIN)/python manage.py migrate --noinput
	export FRAUD_GEOIP_CITY_DB="$${FRAUD_GEOIP_CITY_DB:-$(CURDIR)/var/geoip-demo.mmdb}"; \
	$(BIN)/python manage.py load_demo && \
	echo "Emails (order confirmations, invoices, reminders, password resets) are written to $(CURDIR)/var/mail/" && \
	$(BIN)/python manage.py runserver 127.0.0.1:8000

## The whole suite, on every core (pytest-xdist; the longest tests start first, any worker takes what is left).
## Set DATABASE_URL / REDIS_URL (as .ci/run does) to include the integration tests.
test: install system-deps
	$(BIN)/pytest -n auto --dist worksteal

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python .ci/import_cycles.py
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

## Re-pin requirements.lock from pyproject.toml.
lock: install
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --no-emit-index-url --no-emit-find-links \
		-o requirements.lock pyproject.toml

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
