# Two commands matter: `make demo` and `make test`. Each sets itself up (Debian packages,
# .venv with the project installed editable) and is safe to run again.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_APT := $(VENV)/.stamp-apt
STAMP_VENV := $(VENV)/.stamp-venv
HYPOTHESIS_PROFILE ?= ci

.PHONY: demo test setup lint unit fuzz bench clean

demo: setup
	$(VENV)/bin/kiosk-sim demo

test: setup lint
	HYPOTHESIS_PROFILE=$(HYPOTHESIS_PROFILE) $(PY) -m pytest -q

setup: $(STAMP_VENV)

$(STAMP_APT): scripts/install-debian-packages.sh
	scripts/install-debian-packages.sh
	mkdir -p $(VENV) && touch $@

$(STAMP_VENV): $(STAMP_APT) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Long property-based run: at least 100,000 examples for every parser.
fuzz: setup
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -m fuzz -p no:timeout tests

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
