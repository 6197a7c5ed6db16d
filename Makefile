PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,neural]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/farside demo -o demo-output

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

test: lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/convert.py
	$(BIN)/python benchmarks/demosaic.py
	$(BIN)/python benchmarks/release.py

clean:
	rm -rf $(VENV) demo-output build *.egg-info src/*.egg-info
