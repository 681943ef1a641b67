# Two commands: `make run` and `make test`. Everything else here serves them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
TEST_WORKERS ?= 2

.PHONY: run test lint format lock bench clean install

install: $(STAMP)

# Create the venv, bootstrap uv into it, install the locked dependencies, and put both source
# roots (the repo and platform/) on the venv's path so every entry point imports alike.
$(STAMP): requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements/dev.txt
	@$(BIN)/python -c 'import pathlib, sysconfig; root = pathlib.Path.cwd(); pathlib.Path(sysconfig.get_paths()["purelib"], "shouyin.pth").write_text("%s\n%s\n" % (root, root / "platform"))'
	@touch $@

run: $(STAMP)
	$(BIN)/python manage.py run

test: $(STAMP)
	SHOUYIN_ENV=test $(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Regenerate the lock files from pyproject.toml (hashes, no download addresses).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 -q -o requirements/base.txt
	$(BIN)/uv pip compile pyproject.toml --group dev --generate-hashes --universal --python-version 3.11 -q -c requirements/base.txt -o requirements/dev.txt

bench: $(STAMP)
	$(BIN)/python manage.py bench

clean:
	rm -rf $(VENV) var/static
