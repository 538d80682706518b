# Set-up, the main example, and the tests. `make demo` and `make test` are the README's quickstart.
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup demo test

setup: $(VENV)/.installed

# torch 2.13.0 first: it is the CPU build on machines that have it locally, and the
# project's own range then installs nothing heavier.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/trainwise train examples/auto_mpg.yaml

# The default set, in two processes (pytest-xdist), naming its 15 slowest tests (about 2½
# minutes on 2 cores); CI also runs -m slow, faults and examples.
test: setup
	$(BIN)/python -m pytest -n 2 --durations=15
