PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint bench fuzz clean

# The package and what it needs to run.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $(STAMP)

# Test tools and every optional extra. torch is pinned so pip takes the CPU build rather than a
# multi-gigabyte CUDA one.
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,neural,dask,bench]'
	touch $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/farside demo -o demo-output

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

# The compiled kernels are rebuilt when a kernel's source has changed since the install built them.
test: lint
	$(BIN)/python -m farside._build_kernels --if-stale
	$(BIN)/python -m pytest -q

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/convert.py
	$(BIN)/python benchmarks/demosaic.py
	$(BIN)/python benchmarks/release.py
	$(BIN)/python benchmarks/panorama.py
	$(BIN)/python benchmarks/panorama_site.py
	$(BIN)/python benchmarks/movie.py
	$(BIN)/python benchmarks/gallery.py
	$(BIN)/python benchmarks/summary.py

# The long mutation-fuzzing run of the readers (about 20 minutes on 2 cores); the suite runs a few thousand.
fuzz: $(TEST_STAMP)
	$(BIN)/python benchmarks/fuzz.py --count 200000 --seed 0

clean:
	rm -rf $(VENV) demo-output build *.egg-info src/*.egg-info
