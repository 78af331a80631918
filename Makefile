# Two entry points: `make demo` and `make test`. Each builds .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test,interactive]"
	$(BIN)/python .ci/package_tree.py build/package-tree >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/labctl demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	cd "$$($(BIN)/python .ci/package_tree.py build/package-tree)/.." && $(CURDIR)/$(BIN)/lint-imports $(CURDIR)/pyproject.toml

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info build
