# `make demo` and `make test` each do all set-up on a fresh Debian/Ubuntu machine and are
# idempotent: steps already done are skipped.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The CPU build of torch; any other spec may download a multi-GB CUDA build.
TORCH_SPEC := torch==2.13.0
# R and mice are the reference for the pooling tests (mitml for mice's D1) and the base of
# the R package in r-bridge/ (processx starts Python from R); chromium runs the explorer's
# browser test (driven by playwright, which cannot download its own browser here).
APT_PACKAGES := r-base-core r-cran-mice r-cran-mitml r-cran-testthat r-cran-nnet r-cran-lattice \
	r-cran-processx chromium
R_CHECK := build/r-check

.PHONY: demo test setup setup-dev apt r-check r-tutorial benchmarks-setup clean

demo: setup
	$(PY) -m diffputer.demo

test: apt setup-dev
	$(PY) -m pytest -q
	$(MAKE) r-check r-tutorial

# The R package: R CMD check (its testthat tests run the Python engine of this checkout);
# a WARNING fails the target like an ERROR does.
r-check: apt setup-dev
	rm -rf $(R_CHECK) && mkdir -p $(R_CHECK)
	cd $(R_CHECK) && R CMD build ../../r-bridge >/dev/null && \
	  DIFFPUTER_PYTHON=$(abspath $(PY)) R CMD check --no-manual diffputer_*.tar.gz
	@! grep -n "WARNING\|ERROR" $(R_CHECK)/diffputer.Rcheck/00check.log

r-tutorial: r-check
	DIFFPUTER_PYTHON=$(abspath $(PY)) R_LIBS=$(abspath $(R_CHECK))/diffputer.Rcheck \
	  Rscript tutorials/04_r_package.R > $(R_CHECK)/tutorial.log 2>&1 || \
	  { tail -40 $(R_CHECK)/tutorial.log; exit 1; }

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
	$(PY) -m pip install -q -e ".[dev,r,widgets]"
	touch $@

# The peers of the accuracy benchmark: miceforest in the project's environment, HyperImpute in
# its own (its pins conflict with the project's pandas).
HI_VENV := .venv-hyperimpute
benchmarks-setup: setup-dev $(HI_VENV)/.installed
	$(PY) -m pip install -q -r benchmarks/requirements.txt

$(HI_VENV)/.installed: benchmarks/requirements-hyperimpute.txt
	$(PYTHON) -m venv $(HI_VENV)
	$(HI_VENV)/bin/pip install -q -r benchmarks/requirements-hyperimpute.txt
	$(HI_VENV)/bin/pip install -q --no-deps hyperimpute==0.1.17
	touch $@

# System packages for the R-facing tests, installed only when missing (before rpy2 builds).
apt:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); }

clean:
	rm -rf $(VENV) $(HI_VENV) out build .pytest_cache .hypothesis
