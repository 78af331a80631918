# Two entry points: `make demo` and `make test`. Each builds .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean servers install-server

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test,interactive]"
	$(BIN)/python .ci/package_tree.py build/package-tree --hook >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/labctl demo

test: $(STAMP) servers
	$(BIN)/python -m pytest -q

# The service tests start their own Redis and PostgreSQL servers from the installed programs. Missing ones
# are installed from Debian's packages when this is a root shell with apt-get; elsewhere their tests are
# skipped with the command to run (in CI, with $$CI set, they fail instead).
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get
servers:
	@command -v redis-server >/dev/null 2>&1 || $(MAKE) --no-print-directory install-server PACKAGE=redis-server
	@command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 \
		|| $(MAKE) --no-print-directory install-server PACKAGE=postgresql

install-server:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing $(PACKAGE) (Debian) for the service tests"; \
		$(APT_GET) update -q >/dev/null && $(APT_GET) install -y -q --no-install-recommends $(PACKAGE) >/dev/null; \
	else \
		echo "note: $(PACKAGE) is not installed; its tests are skipped (sudo apt-get install $(PACKAGE))"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info build
