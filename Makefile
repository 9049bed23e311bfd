# The two commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test lint bench menus-check clean chromium

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

## run: install, migrate, seed the demo, start web + worker on 127.0.0.1:$${PORT:-5000}
run: $(VENV)/.installed
	$(VENV)/bin/smsgateway dev

## test: install with dev extras and run the whole suite
test: $(VENV)/.installed-dev chromium
	$(PY) -m pytest $(PYTEST_ARGS)

# The simulator's browser test drives Debian's chromium; as root (CI), install it when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check smsgateway handlers menus tests bench

## bench: the speed measurements recorded in docs/benchmarks.md
bench: $(VENV)/.installed-dev
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) instance .pytest_cache
