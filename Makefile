# The two commands: `make run` (the whole pipeline at http://localhost:8888) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements-dev.txt $(wildcard */*requirements*.txt)

.PHONY: help run test test-fast lint format tiny-model benchmark clean
.DEFAULT_GOAL := help

# Targets with a `## ` comment are listed by `make help`.
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "} {printf "  make %-14s %s\n", $$1, $$2}'

# Re-installs only when a requirements file changes. The first install shows pip's progress.
$(STAMP): $(REQUIREMENTS)
	@test -x $(PY) || { \
		command -v $(PYTHON) >/dev/null \
			|| { echo "error: $(PYTHON) not found: install Python 3.11 or newer, or set PYTHON" >&2; exit 1; }; \
		$(PYTHON) scripts/check_python.py && $(PYTHON) -m venv $(VENV); }
	@if [ -f $@ ]; then \
		$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt; \
	else \
		echo "Installing the pinned dependencies into $(VENV): a few minutes, the first time only;"; \
		echo "most of it is torch, a large download (with its CUDA libraries on Linux x86_64)."; \
		$(PY) -m pip install --disable-pip-version-check -r requirements-dev.txt; \
	fi
	@touch $@

run: $(STAMP) ## The whole pipeline at http://localhost:8888 (LAYOUT=split|inline|single, PORT, MODEL_ID, ...)
	$(PY) -m scripts.run_local

test: $(STAMP) lint ## The whole offline suite: ruff, then pytest
	$(PY) -m pytest

# tests/unit: in process, no stack of workers; tests/stack starts processes, tests/repo checks files.
test-fast: $(STAMP) ## The unit tests alone (tests/unit), the inner loop
	$(PY) -m pytest tests/unit -q

lint: $(STAMP) ## ruff check and ruff format --check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP) ## Fix what ruff can and format the code
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# A tiny random model for trying `make run` offline: MODEL_ID=$(CURDIR)/.cache/tiny-model make run
tiny-model: $(STAMP) ## A tiny random model in .cache/tiny-model, for offline trials
	$(PY) -m scripts.make_tiny_model .cache/tiny-model

benchmark: $(STAMP) ## The pipeline and the layouts against their limits, with ratios: .cache/benchmark/
	$(PY) -m benchmarks

# The layouts part of `make benchmark` alone, with its own baselines before and after.
.PHONY: benchmark-layouts
benchmark-layouts: $(STAMP) ## make benchmark's layouts side by side alone: p50, texts/s, CPU per request
	$(PY) -m benchmarks.layouts

clean: ## Remove .venv and the caches
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache

# The cost model of Runpod serverless. Options (python -m cost_model --help) go in COST_ARGS:
# make cost COST_ARGS="--idle-timeout inference=30 --price inference=0.00044"
.PHONY: cost
cost: $(STAMP) ## which layout costs least at your traffic (split, inline, single, smart), table and plot
	$(PY) -m cost_model $(COST_ARGS)

# Runpod deployment from deploy.toml (RUNPOD_API_KEY in the environment): `make deploy-plan`,
# then deploy-apply, deploy-smoke; deploy-destroy removes what apply made.
.PHONY: deploy-plan deploy-apply deploy-smoke deploy-destroy
deploy-plan deploy-apply deploy-smoke deploy-destroy: $(STAMP) ## Runpod deployment from deploy.toml: plan, apply, smoke, destroy
	$(PY) -m deploy $(@:deploy-%=%)

# The documentation site (mkdocs.yml, docs/): built offline, in strict mode, so a broken link or
# a page missing from the navigation fails the build.
DOCS_PORT ?= 8000
export NO_MKDOCS_2_WARNING := 1
.PHONY: docs docs-serve docs-check pictures
docs: $(STAMP) ## The documentation site, built in strict mode into .cache/docs-site
	$(PY) -m mkdocs build --strict

docs-serve: $(STAMP) ## The documentation site at http://127.0.0.1:8000 (DOCS_PORT), rebuilt on each edit
	$(PY) -m mkdocs serve --strict --dev-addr 127.0.0.1:$(DOCS_PORT)

docs-check: $(STAMP) ## The site and the orchestrator's /docs in headless Chromium; screenshots in .cache/screenshots
	$(PY) -m pytest tests/stack/test_docs_in_browser.py

pictures: $(STAMP) ## Redraw the documentation's pictures from their data (throughput: after make benchmark)
	$(PY) -m scripts.draw_architecture
	@mkdir -p .cache
	$(PY) -m cost_model --quiet --plot docs/cost.png > .cache/cost-output.txt
	@echo "wrote docs/cost.png; make cost's table, for docs/cost.md: .cache/cost-output.txt"
	@if [ -f .cache/benchmark/results.json ]; then $(PY) -m benchmarks.throughput_figure; \
		else echo "docs/throughput.png: no .cache/benchmark/results.json; run make benchmark first"; fi

# The images, built and run with the local Docker engine (not part of `make test`): offline,
# from a local model (the tiny test model unless IMAGES_ARGS="--model DIR"). See README "Images".
.PHONY: images images-smoke
images: $(STAMP) ## Build every image in docker/ offline from a local model; report their sizes
	$(PY) -m scripts.build_images $(IMAGES_ARGS)

images-smoke: $(STAMP) ## Start the built CPU images as compose wires them; try every route and job
	$(PY) -m scripts.images_smoke
