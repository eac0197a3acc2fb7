# Two commands on a fresh machine: `make demo` (main job) and `make test` (test suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# the package and what it runs on (`make demo`); the dev tools on top (`make test`)
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint docs bench clean

$(RUN_STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/pip install -q -e ".[dev,hiphive]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(RUN_STAMP)
	OMP_NUM_THREADS=1 $(BIN)/thermognn reproduce --out runs/demo

test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

docs: $(STAMP)
	$(BIN)/mkdocs build --strict -q

bench: $(RUN_STAMP)
	for f in benchmarks/bench_*.py; do OMP_NUM_THREADS=1 $(BIN)/python $$f; done

clean:
	rm -rf $(VENV) build *.egg-info
