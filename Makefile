# The template repository: make help lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := build/demo
export TF_CPP_MIN_LOG_LEVEL ?= 2

.DEFAULT_GOAL := help
.PHONY: help install demo test lint format clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet --group dev
	touch $@

install: $(BIN)/.installed ## Create .venv with the template's dev tools

demo: install ## Bake a project with default answers into build/demo and run its make train
	rm -rf $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	$(MAKE) -C $(DEMO_DIR)/my_tf_project train

test: install ## Bake every variant and run its lint and its own tests
	$(BIN)/python -m pytest

lint: install ## ruff and black on the template repository (the baked code is linted by the tests)
	$(BIN)/ruff check .
	$(BIN)/black --check .

format: install ## Format the template repository's own code
	$(BIN)/ruff check --fix .
	$(BIN)/black .

clean: ## Remove build/ and caches (keeps .venv)
	rm -rf build .pytest_cache .ruff_cache
