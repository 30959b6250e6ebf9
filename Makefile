# Two commands matter: `make demo` and `make test`. Each sets itself up (Debian packages,
# .venv with the project installed editable) and is safe to run again.
# The virtual environment is made with the operating system's own python3 (Debian's or Raspberry
# Pi OS's: the interpreter a kiosk or gateway runs, built with PGO and LTO on amd64 and arm64), or
# with the first python3 on the PATH where there is none. An environment made with another
# interpreter is made again.
PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP_APT := $(VENV)/.stamp-apt
STAMP_VENV := $(VENV)/.stamp-venv
HYPOTHESIS_PROFILE ?= ci

.PHONY: demo test setup lint unit fuzz bench clean FORCE

demo: setup
	$(VENV)/bin/kiosk-sim demo

test: setup lint
	HYPOTHESIS_PROFILE=$(HYPOTHESIS_PROFILE) $(PY) -m pytest -q

# The kiosk's spoken prompts, made from fixed texts with Debian's espeak-ng (the agent makes any
# that are missing on its first start; the tests use this folder).
VOICE := build/voice/prompts.json

setup: $(STAMP_VENV) $(VOICE)

$(VOICE): $(STAMP_VENV) edge_agent/ui/texts.py edge_agent/ui/voice.py protocol/outcomes.py
	$(PY) -m edge_agent.ui.voice build/voice
	@touch $@

$(STAMP_APT): scripts/install-debian-packages.sh
	scripts/install-debian-packages.sh
	mkdir -p $(VENV) && touch $@

$(STAMP_VENV): $(STAMP_APT) pyproject.toml $(VENV)/.base-python
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Which interpreter the environment is made with; when that changes, it is made again.
REAL_PYTHON := -c 'import os, sys; print(os.path.realpath(sys.executable))'
$(VENV)/.base-python: FORCE | $(STAMP_APT)
	@want=$$($(PYTHON) $(REAL_PYTHON)); \
	if [ -x $(PY) ] && [ "$$($(PY) $(REAL_PYTHON))" != "$$want" ]; then \
		echo "$(VENV) was made with another interpreter: making it again with $$want"; \
		$(PYTHON) -m venv --clear $(VENV) && touch $(STAMP_APT); \
	fi; \
	[ "$$(cat $@ 2>/dev/null)" = "$$want" ] || echo "$$want" > $@

# The MCU firmware is type-checked against the published MicroPython RP2040 stubs, kept in
# their own folder (they shadow parts of the standard library).
MPY_TYPINGS := $(VENV)/mpy-typings
$(MPY_TYPINGS): $(STAMP_VENV)
	$(PY) -m pip install -q --no-deps --upgrade --target $@ \
		'micropython-rp2-stubs>=1.22,<1.30' 'micropython-stdlib-stubs>=1.22,<1.30'

# Every firmware module is cross-compiled for the RP2040 (mpy-cross -march=armv6m), so a syntax
# or feature MicroPython lacks fails the build; build/mcu is the image to flash
# (docs/supervisor-mcu.md).
lint: setup $(MPY_TYPINGS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --config-file firmware/mypy.ini firmware
	$(PY) -m simulators.mcu.image build/mcu
	$(VENV)/bin/mypy firmware/stubs/machine.py firmware/stubs/utime.py firmware/stubs/micropython.py

# Long property-based run: at least 100,000 examples for every parser.
fuzz: setup
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -m fuzz -p no:timeout tests

bench: setup
	$(PY) -m bench $(BENCH)

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
