# The README's two commands: `make run` and `make test`. Both set up .venv first (idempotent).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Extra nbdev test flags to run (e.g. FLAGS="slow cuda"); default runs neither.
FLAGS ?=

# The mirror of the agencies' files: the sibling ../shared/data when present, unless set.
ATOMVISION_MIRROR ?= $(abspath $(wildcard ../shared/data))
export ATOMVISION_MIRROR

.PHONY: setup run test export readme screenshot clean-venv

setup: $(STAMP)

# Re-installs only when the pins (settings.ini) or setup.py change.
$(STAMP): settings.ini setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]" 2>&1 | { grep -v "^WARNING: Location .* is ignored" || true; }
	@touch $@

run: setup
	$(BIN)/atomvision run

test: setup
	$(BIN)/python tools/check_sync.py
	NBDEV_FLAGS="$(FLAGS)" $(BIN)/python -m pytest tests/

# Before every commit: export the package, clean the notebooks, rebuild README.md.
export: setup
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	$(BIN)/python tools/build_readme.py

readme: setup
	$(BIN)/python tools/build_readme.py

# The data explorer in JupyterLab under headless Chromium -> data/screenshots/explorer.png
screenshot: setup
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	@$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/python -m pip install --quiet playwright 2>&1 | { grep -v "is ignored" || true; }
	@test -f data/unified/atomvision_unified.parquet || $(BIN)/atomvision build
	$(BIN)/python tools/screenshot_explorer.py

clean-venv:
	rm -rf $(VENV)
