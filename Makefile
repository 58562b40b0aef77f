# The README's two commands: `make demo` and `make test`. Both create or reuse .venv.
#
# Installation trap on these machines (ARCHITECTURE.md): pip is configured with a find-links
# folder holding a CPU-only torch wheel, while torchvision (needed by
# segmentation-models-pytorch through timm) only exists on the registry, built against the
# registry's torch. We therefore install with that configuration switched off, so torch and
# torchvision come from the registry as a matched pair. They belong to the `train` extra
# (hazardcore[train]); .venv gets every extra: train, dev and dashboard.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(PY) -m pip
TORCH_PAIR := torch==2.14.1 torchvision==0.29.2
STAMP := $(VENV)/.installed
DEMO ?= out/demo
SEED ?= 42
SIZE_KM ?= 32
PYTEST_ARGS ?=
# Test processes (pytest-xdist): each test file runs whole in one of them, so its module fixtures
# are built once. Two halve the default tier on 2 cores (one process: about 16 min on CI);
# WORKERS=0 runs the tests in pytest's own process (the browser tier, whose pages are timed).
WORKERS ?= 2

.PHONY: install demo test test-all lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q $(TORCH_PAIR)
	$(PIP) install -q -e ".[train,dev,dashboard]" $(TORCH_PAIR)
	$(PY) -c "import segmentation_models_pytorch, torchvision, hazardcore"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/hazard demo --out $(DEMO) --seed $(SEED) --size-km $(SIZE_KM)
	@echo
	@echo "Open the report (maps, confusion, residuals, ROC, reliability, metrics) in a browser:"
	@ls -t $(DEMO)/work/runs/*/report.html | head -1
	@echo "GIS products (COG GeoTIFFs, CF NetCDF, manifest.json) are in the products/ folder beside it."
	@echo
	@echo "Explore it in the dashboard (then open http://localhost:5006/dashboard):"
	@echo "    $(VENV)/bin/python -m dashboard --root $(DEMO)"

test: install
	$(PY) -m pytest -q -n $(WORKERS) --dist loadfile $(PYTEST_ARGS)

test-all: install
	$(PY) -m pytest -q -m "not gpu and not browser" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check hazardcore dashboard tests benchmarks
	$(VENV)/bin/mypy

bench: install
	$(PY) benchmarks/prepare.py

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
