# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat uv.lock pyproject.toml .python-version | sha1sum | cut -c1-12)
PORT ?= 8000
# Phase two of `make test`: PostgreSQL, Redis and a real Celery worker.
INTEGRATION_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/yueqiqian
INTEGRATION_REDIS_URL ?= redis://127.0.0.1:6379/15
# Phase three: phase one's tests again on PostgreSQL, what production runs (SQLite ignores row
# locks and accepts SQL that PostgreSQL refuses).
UNIT_PG_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/yueqiqian_unit

.PHONY: install run test test-unit test-integration test-unit-pg lint format compose-check clean bench

$(STAMP): uv.lock pyproject.toml .python-version scripts/bootstrap.sh
	@rm -f $(VENV)/.installed-*
	scripts/bootstrap.sh
	@touch $@

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python manage.py migrate --no-input -v0
	$(VENV)/bin/python manage.py seed_demo
	@echo "粤企签 serving on http://127.0.0.1:$(PORT)/"
	$(VENV)/bin/python manage.py runserver 127.0.0.1:$(PORT)

test: test-unit test-integration test-unit-pg

test-unit: $(STAMP)
	scripts/system-deps.sh
	$(VENV)/bin/pytest -m "not integration" $(PYTEST_ARGS)

test-integration: $(STAMP)
	scripts/services.sh
	DATABASE_URL=$(INTEGRATION_DATABASE_URL) REDIS_URL=$(INTEGRATION_REDIS_URL) \
	  $(VENV)/bin/pytest -m integration $(PYTEST_ARGS)

test-unit-pg: $(STAMP)
	scripts/services.sh
	DATABASE_URL=$(UNIT_PG_DATABASE_URL) $(VENV)/bin/pytest -m "not integration" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# `make bench`: load, issuance and growth benchmarks → BENCHMARKS.md (~6 min; BENCH_QUICK=1: ~3 min).
bench: $(STAMP)
	scripts/services.sh
	scripts/system-deps.sh
	$(VENV)/bin/python -m bench

compose-check:
	docker-compose --env-file $(if $(wildcard .env),.env,.env.example) config -q

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
