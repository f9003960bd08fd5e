# The two commands: `make run` (the whole pipeline at http://localhost:8888) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements-dev.txt $(wildcard */requirements.txt)

.PHONY: run test lint format tiny-model benchmark clean

# Re-installs only when a requirements file changes.
$(STAMP): $(REQUIREMENTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(STAMP)
	$(PY) -m scripts.run_local

test: $(STAMP) lint
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# A tiny random model for trying `make run` offline: MODEL_ID=$(CURDIR)/.cache/tiny-model make run
tiny-model: $(STAMP)
	$(PY) -m scripts.make_tiny_model .cache/tiny-model

benchmark: $(STAMP) ## The pipeline against its limits, with ratios: results in .cache/benchmark/
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
