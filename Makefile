# The house's habits as make targets (CONTRIBUTING.md). Every target runs from the repository
# root with the project venv; OMP_NUM_THREADS=1 keeps torch polite on shared machines.
#
#   make install     venv + polc (editable, dev extra, pinned by constraints.txt) + buf
#   make lint        ruff check, ruff format --check, mypy, import layers, buf lint + breaking
#   make format      ruff format + ruff check --fix
#   make typecheck   mypy (tools/typecheck.py; scope: [tool.mypy] in pyproject.toml)
#   make test        the whole suite (what CI runs after the install)
#   make test-fast   the suite without the tests marked slow
#   make bench       every benchmark README lists, JSON into runs/bench/
#   make clean       build products, caches, runs/bench

PYTHON ?= python3
VENV ?= .venv
PY := OMP_NUM_THREADS=1 $(VENV)/bin/python
BUF := tools/node_modules/.bin/buf
RELEASED_PROTOS := proto/releases/polc-v1-0.1.0.binpb
BENCH_OUT := runs/bench
BENCHES := codec determinism tasks data edge cloud-ingest scaleout

.PHONY: install lint ruff format typecheck lint-imports buf test test-fast bench clean

install:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[dev]'
	npm ci --prefix tools --no-audit --no-fund --loglevel=error

lint: ruff typecheck lint-imports buf

ruff:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck:
	$(PY) tools/typecheck.py

lint-imports:
	$(PY) tools/lint_imports.py

buf:
	$(BUF) lint
	$(BUF) breaking --against $(RELEASED_PROTOS)

test:
	$(PY) -m pytest -q

test-fast:
	$(PY) -m pytest -q -m "not slow"

bench:
	mkdir -p $(BENCH_OUT)
	for name in $(BENCHES); do \
		OMP_NUM_THREADS=1 $(VENV)/bin/polc bench $$name --json $(BENCH_OUT)/$$name.json || exit 1; \
	done

clean:
	rm -rf build/typecheck build/mypy_cache build/import_linter_cache .mypy_cache \
		.pytest_cache .ruff_cache $(BENCH_OUT)
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
