# Two commands do all set-up on a machine with only python3 and pip:
#   make demo   generate the Kota Semarang sample into $GUDANG_HOME/inbox and run the whole pipeline
#   make test   run the test suite
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export GUDANG_HOME ?= $(CURDIR)/data

.PHONY: demo test bench lint setup browser clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# --compile-bytecode: uv writes no .pyc files by default, and where PYTHONDONTWRITEBYTECODE is set (as on
# the machines this project is built and tested on) every process compiled Airflow, GX and dbt from source
# again: ~5 s of each pipeline run and of each test that starts one.
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --extra dev --python $(PYTHON)
	touch $@

setup: $(VENV)/.synced

demo: setup
	$(VENV)/bin/gudang sample --out "$(GUDANG_HOME)/inbox"
	$(VENV)/bin/gudang run

# Debian's Chromium renders the planning brief in the browser tests (no browser download needed).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "warning: could not install chromium; browser tests will be skipped"

test: setup browser
	$(VENV)/bin/pytest -q

bench: setup
	$(VENV)/bin/python -m bench.run

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf data .pytest_cache dbt_project/target dbt_project/logs
