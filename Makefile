# opendcc: `make run` and `make test` set up everything they need on a fresh Debian machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INTEROP := tools/interop
INTEROP_STAMP := $(INTEROP)/node_modules/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export OPENDCC_REFERENCE ?= $(abspath ../shared/reference/duis)

.PHONY: help run run-scale test setup tools postgres browser rabbitmq lint typecheck pytest bench bench-front-door bench-idle bench-deliverer bench-migration bench-cohorts bench-prepayment bench-alerts bench-schedules bench-http bench-scale fuzz clean

help:
	@echo "make run    - set up and run the demo on the embedded default"
	@echo "make run-scale - the demo in scale mode: 2 gateways, 2 workers, PostgreSQL + RabbitMQ"
	@echo "make test   - set up and run lint, type checks and the whole test suite"
	@echo "make bench  - set up and run the DUIS core benchmark"
	@echo "make bench-front-door - set up and benchmark the running hub over HTTP"
	@echo "make bench-idle       - the CPU each process of an idle hub burns"
	@echo "make bench-deliverer - set up and benchmark the outbox's deliverer alone"
	@echo "make bench-migration - set up and benchmark migration and SRV 8.2 at scale"
	@echo "make bench-cohorts - set up and benchmark every cohort, WAN at zero and realistic"
	@echo "make bench-prepayment - set up and benchmark UTRN issuance and top-up latency"
	@echo "make bench-alerts - set up and benchmark alert throughput and latency, 1 million devices"
	@echo "make bench-schedules - set up and benchmark 1 million DCC schedules due in one minute"
	@echo "make bench-http - set up and benchmark the CPU of one outbound POST, beside its floor"
	@echo "make bench-scale - set up and benchmark scale mode: 1 vs 2 workers, publisher scan, front door"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(STAMP)

# Debian packages the interop tests need, installed only when missing.
tools: $(INTEROP_STAMP)

$(INTEROP_STAMP): $(INTEROP)/package.json $(INTEROP)/package-lock.json
	@command -v java >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq default-jre-headless; }
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq nodejs npm; }
	cd $(INTEROP) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# A real PostgreSQL server for the store tests (Debian package; started on loopback by the tests).
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq postgresql; }

# Debian's Chromium for the SSI's browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium; }
# RabbitMQ for scale mode (Debian package; the tests and run-scale start their own node on
# loopback with scripts/test-rabbitmq.sh, never the system service).
rabbitmq:
	@[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq rabbitmq-server; }

run: setup
	$(BIN)/opendcc demo --stay

run-scale: setup postgres rabbitmq
	url=$$(scripts/test-postgres.sh) && amqp=$$(scripts/test-rabbitmq.sh) && \
		DATABASE_URL=$$url BROKER_URL=$$amqp $(BIN)/opendcc demo --scale

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: setup
	$(BIN)/mypy

pytest: setup tools postgres browser rabbitmq
	url=$$(scripts/test-postgres.sh) && amqp=$$(scripts/test-rabbitmq.sh) && \
		OPENDCC_TEST_POSTGRES_URL=$$url OPENDCC_TEST_RABBITMQ_URL=$$amqp $(BIN)/pytest

test: lint typecheck pytest

bench: setup tools
	$(BIN)/python benchmarks/duis_core.py

bench-front-door: setup
	$(BIN)/python benchmarks/front_door.py

bench-idle: setup
	$(BIN)/python benchmarks/idle.py

bench-deliverer: setup
	$(BIN)/python benchmarks/deliverer.py

bench-migration: setup
	$(BIN)/python benchmarks/migration.py

bench-cohorts: setup
	$(BIN)/python benchmarks/cohorts.py

bench-prepayment: setup
	$(BIN)/python benchmarks/prepayment.py

bench-schedules: setup
	$(BIN)/python benchmarks/schedules.py

bench-alerts: setup
	$(BIN)/python benchmarks/alerts.py

bench-http: setup
	$(BIN)/python benchmarks/http_client.py

# Scale mode on PostgreSQL + RabbitMQ: one worker process against two, the publisher's scan
# before and after its indexes, and the front door in scale mode.
bench-scale: setup postgres rabbitmq
	url=$$(scripts/test-postgres.sh) && amqp=$$(scripts/test-rabbitmq.sh) && \
		export OPENDCC_TEST_POSTGRES_URL=$$url OPENDCC_TEST_RABBITMQ_URL=$$amqp && \
		$(BIN)/python benchmarks/scale_workers.py && \
		$(BIN)/python benchmarks/publisher_scan.py && \
		$(BIN)/python benchmarks/front_door.py --scale --modes burst,ordered

# A million hostile inputs over the DUIS parser and the JSON APIs (see scripts/fuzz.py);
# e.g. FUZZ_ARGS="--minutes 10" to stop early on a busy machine (it still prints its figures).
fuzz: setup tools
	$(BIN)/python scripts/fuzz.py $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) $(INTEROP)/node_modules .pytest_cache .mypy_cache .ruff_cache
