# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev$$(pkg-config --exists libvirt 2>/dev/null && echo ,libvirt)]"
	touch $(STAMP)

## The whole cloud on the embedded profile (SQLite, no external service).
run: $(STAMP)
	$(BIN)/strata up

## Lint, types and the whole test suite.
test: $(STAMP) lint typecheck
	$(BIN)/pytest -q

## Measure (never assert) speed and memory; writes bench-results.json.
bench: $(STAMP)
	@command -v wrk >/dev/null || echo "wrk not found: HTTP load comes from Python threads (apt-get install wrk)"
	$(BIN)/python -m tests.bench.run

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .strata-data .mypy_cache .ruff_cache .pytest_cache
