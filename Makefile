# The two commands a new user types: `make run` (every scenario, reports written) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
N      ?= 2

.PHONY: run test setup engine images lint bench clean audit grade bench-grading

run: setup engine images
	$(BIN)/hardlab run -n $(N)

test: setup engine images
	$(BIN)/python -m pytest tests -n $(N)

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

engine:
	bash scripts/ensure-engine

images: setup engine
	$(BIN)/hardlab images build

lint: setup
	$(BIN)/ruff check hardlab tests bench conftest.py fixtures

# Nightly host audit of the local engine (AUDIT_ARGS="--profile labs/audit/hardened.toml --strict", ...).
audit: setup engine
	$(BIN)/hardlab audit $(AUDIT_ARGS)

# Grade the sample course (or SUBMISSIONS=dir COURSE=file); reports in reports/grades/.
SUBMISSIONS ?= labs/course/submissions
COURSE      ?= labs/course/course.toml
grade: setup engine images
	$(BIN)/hardlab grade $(SUBMISSIONS) --course $(COURSE) -n $(N)

bench-grading: setup engine images
	$(BIN)/python bench/grading.py -n $(N)

bench: setup engine
	$(BIN)/python bench/overhead.py

clean:
	rm -rf $(VENV) reports/* .pytest_cache
