# The two commands of this project: `make book` (the main job) and `make test`.
# Each creates or reuses .venv from requirements.lock by itself, so they work on a bare machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Records profile for the book. auto (the default): each family at its own book profile, standard
# when results/standard/<family>.jsonl covers that family's standard grid (every planned run
# present with status ok), else quick (embedded data); `make book PROFILE=quick` (or standard,
# full, smoke) renders every family at that one profile.
PROFILE ?= auto
# What was rendered, for the closing message. Recursively expanded, so it is evaluated inside the
# recipe, after the virtual environment exists and the notebooks ran.
RENDERED = $(if $(filter auto,$(PROFILE)),$(shell $(PY) -m mabprune default-profile --per-family),$(PROFILE) for every family)
# The data root: MABPRUNE_DATA if set, else DATA=..., else the project's data/ cache.
DATA ?= $(or $(MABPRUNE_DATA),$(CURDIR)/data)
export MABPRUNE_DATA := $(abspath $(DATA))
# The repository the book's launch, source and repository links name: empty means the
# `repository:` of _config.yml (the one default); `make book REPO_URL=https://github.com/o/r`
# (the deploy workflow passes the repository it runs in) publishes a fork under its own name.
REPO_URL ?=
REPO_BRANCH ?=
export MABPRUNE_REPO_URL := $(REPO_URL)
export MABPRUNE_REPO_BRANCH := $(REPO_BRANCH)

.PHONY: test book env notebooks benchmark release clean

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
	@echo "The book is in _build/html/index.html (profiles: $(RENDERED))"

benchmark: $(STAMP)
	$(PY) benchmarks/arm_throughput.py

# The sdist and the wheel into dist/, checked by twine (upload is a separate, manual step).
release: $(STAMP)
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(PY) -m twine check --strict dist/*

clean:
	rm -rf _build book/executed dist
