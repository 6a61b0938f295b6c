# The two commands of this project: `make book` (the main job) and `make test`.
# Each creates or reuses .venv from requirements.lock by itself, so they work on a bare machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Records profile for the book: standard when the records in results/standard cover the whole
# standard grid (every run present with status ok), else quick (embedded data). Recursively
# expanded, so it is evaluated inside the recipes, after the virtual environment exists.
PROFILE ?= $(shell $(PY) -m mabprune default-profile 2>/dev/null || echo quick)
# The data root: MABPRUNE_DATA if set, else DATA=..., else the project's data/ cache.
DATA ?= $(or $(MABPRUNE_DATA),$(CURDIR)/data)
export MABPRUNE_DATA := $(abspath $(DATA))

.PHONY: test book env notebooks benchmark clean

env: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Execute every notebook with papermill into book/executed/, then build the HTML.
notebooks: $(STAMP)
	$(PY) -m mabprune book-notebooks --profile $(PROFILE)

book: notebooks
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going
	@echo "The book is in _build/html/index.html (profile $(PROFILE))"

benchmark: $(STAMP)
	$(PY) benchmarks/arm_throughput.py

clean:
	rm -rf _build book/executed
