# The two commands a new user types: `make run` (every scenario, reports written) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
N      ?= 2

.PHONY: run test setup engine images lint bench clean report audit grade bench-grading vm-up vm-run vm-down test-vm test-vm-trixie test-engines

run: setup engine images
	$(BIN)/hardlab run -n $(N)
	$(if $(filter 1,$(VM)),$(VM_CLI) run $(VM_ARGS))

# One self-contained HTML page per run (reports/report.html from reports/summary.json; RESULTS=... for others).
RESULTS ?=
report: setup
	$(BIN)/hardlab report $(RESULTS)

# The VM tests boot qemu (TCG on 2 cores): they run on their own in test-vm, not beside the rest.
test: setup engine images
	$(BIN)/python -m pytest tests -n $(N) --ignore=tests/e2e/test_vm.py

# The AppArmor and --privileged packs in a disposable Debian VM (make run VM=1 adds this to the main job).
# VM_SUITE=trixie picks the Debian 13 guest (Docker 26.1, crun registered); default bookworm.
VM_ARGS ?= scenarios/apparmor scenarios/privileged
VM_SUITE ?=
VM_CLI = $(BIN)/hardlab vm $(if $(VM_SUITE),--suite $(VM_SUITE))
vm-up: setup
	$(VM_CLI) up

vm-run: setup
	$(VM_CLI) run $(VM_ARGS)

vm-down: setup
	$(VM_CLI) down

# The bookworm guest (CI runs it). The trixie guest's test is its own target until it is green in CI's time.
test-vm: setup
	$(BIN)/python -m pytest tests/e2e/test_vm.py -p no:cacheprovider -rs -k "not trixie"

test-vm-trixie: setup
	$(BIN)/python -m pytest tests/e2e/test_vm.py -p no:cacheprovider -rs -k trixie

# The pack on every engine of the matrix (Debian 12's 20.10 and Debian 13's 26.1, each with runc and crun),
# started here as ephemeral engines: one table case x engine -> verdict. ENGINES=26.1-runc,20.10-crun picks some.
ENGINES ?=
test-engines: setup engine
	$(BIN)/python scripts/test-engines -n $(N) $(if $(ENGINES),--engines $(ENGINES)) $(ENGINES_ARGS)

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
	$(BIN)/ruff check hardlab tests bench conftest.py scenarios scripts/test-engines
	$(BIN)/mypy
	$(BIN)/lint-imports

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
