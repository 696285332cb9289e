# exostab: `make help` lists every target.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed
DOCS_PORT ?= 8000
STORE := sqlite:///$(CURDIR)/mlruns/mlflow.db
PORT ?= 5001
UI_PORT ?= 5000
MODEL ?= models:/exostab@challenger

.PHONY: help install train test check lint typecheck ui score serve monitor bench docs docs-serve docs-screenshots clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) \
		| sed -e 's/\$$(PORT)/$(PORT)/g' -e 's/\$$(UI_PORT)/$(UI_PORT)/g' -e 's/\$$(DOCS_PORT)/$(DOCS_PORT)/g' \
		| awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "exostab: creating $(VENV) and installing exostab with its dev tools (pip, a few minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --progress-bar on -e '.[dev]'
	@touch $(STAMP)
	@echo "exostab: installed into $(VENV) ($$($(BIN)/exostab --version))"

$(DOCS_STAMP): $(STAMP)
	@echo "exostab: installing the docs tools (MkDocs, Material, mkdocstrings) into $(VENV)"
	$(BIN)/pip install --progress-bar on -e '.[dev,docs]'
	@touch $(DOCS_STAMP)

install: $(STAMP) ## create .venv and install exostab with the dev tools (a second call does nothing)

train: install ## train on the built-in simulated lots, log to mlflow, register models:/exostab
	$(BIN)/exostab train

test: install ## run the whole test suite
	$(BIN)/pytest -q

lint: install ## ruff lint and format check, and the layout contracts (import-linter)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: install ## mypy on src/
	$(BIN)/mypy

check: lint typecheck test ## ruff, mypy and pytest

ui: install ## the mlflow UI on http://127.0.0.1:$(UI_PORT) over the project's store
	@$(BIN)/exostab --tracking-uri $(STORE) runs-page --port $(UI_PORT)
	$(BIN)/mlflow ui --backend-store-uri $(STORE) --host 127.0.0.1 --port $(UI_PORT)

score: install ## score the simulated hold-out lots (new donors) with the latest model (MODEL=...)
	@test -f data/simulated/test/proteins.csv || { echo "no built-in data yet: run make train first"; exit 2; }
	$(BIN)/exostab score --proteins data/simulated/test/proteins.csv --lots data/simulated/test/lots.csv \
		--out out/holdout_scores.csv --report out/holdout_report.html --model $(MODEL)

serve: install ## serve the latest model (MODEL=...) over HTTP on 127.0.0.1:$(PORT)
	$(BIN)/exostab serve --model $(MODEL) --port $(PORT)

monitor: install ## simulate post-release streams (stable, drifted) and monitor the latest model (MODEL=...)
	@test -f data/simulated/train/proteins.csv || { echo "no built-in data yet: run make train first"; exit 2; }
	@for drift in stable ms_batch; do \
		$(BIN)/exostab simulate --stream $$drift --out data/simulated/release_$$drift \
			--world data/simulated/train --lots 120 --donors 12 && \
		$(BIN)/exostab monitor --proteins data/simulated/release_$$drift/proteins.csv \
			--lots data/simulated/release_$$drift/lots.csv --out out/monitor_$$drift --model $(MODEL) \
			|| exit $$?; \
	done

bench: install ## run the benchmarks, write bench/results.md and bench/results.csv
	$(BIN)/python bench/run.py

docs: $(DOCS_STAMP) ## build the manual (MkDocs) into site/, failing on any warning
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs build --strict

docs-screenshots: install ## refresh docs/images/ from the browser test (needs chromium)
	EXOSTAB_DOC_SCREENSHOTS=1 $(BIN)/pytest -q tests/test_report_browser.py tests/test_mlflow_ui_browser.py

docs-serve: $(DOCS_STAMP) ## preview the manual on http://127.0.0.1:$(DOCS_PORT) (DOCS_PORT=...)
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

clean: ## remove the venv, caches, generated data and outputs (keeps mlruns/)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis data out site bench/_work
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
