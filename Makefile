# S&OP Pulse — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test setup setup-dev db demo screenshots bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

db: setup
	$(BIN)/python -m kpis db upgrade

demo: db
	$(BIN)/python -m kpis demo

## make run: set up, migrate, load demo data into an empty database, start the app
run: demo
	@echo "S&OP Pulse: open http://127.0.0.1:$(PORT)"
	$(BIN)/python app.py --server.port $(PORT)

## make test: set up and run the whole test suite
test: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

screenshots: setup-dev
	SOP_PULSE_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/pages/test_browser.py tests/pages/test_browser_maturity.py

bench: setup-dev
	$(BIN)/python bench/overview_bench.py

clean:
	rm -rf $(VENV) data/*.db data/*.db-wal data/*.db-shm
