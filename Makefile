# `make demo` and `make test` each do all set-up on a fresh Debian/Ubuntu machine and are
# idempotent: steps already done are skipped.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The CPU build of torch; any other spec may download a multi-GB CUDA build.
TORCH_SPEC := torch==2.13.0
# R and mice are the reference for the pooling tests (mitml for mice's D1).
APT_PACKAGES := r-base-core r-cran-mice r-cran-mitml r-cran-testthat r-cran-nnet r-cran-lattice

.PHONY: demo test setup setup-dev apt clean

demo: setup
	$(PY) -m diffputer.demo

test: apt setup-dev
	$(PY) -m pytest -q

setup: $(VENV)/.core-installed
setup-dev: $(VENV)/.dev-installed

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip && \
	  $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.core-installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.core-installed pyproject.toml
	$(PY) -m pip install -q -e ".[dev,r]"
	touch $@

# System packages for the R-facing tests, installed only when missing (before rpy2 builds).
apt:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); }

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
