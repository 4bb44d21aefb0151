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

.PHONY: setup run test export readme screenshot clean-venv chromium lab docs notebooks

setup: $(STAMP)

# Re-installs only when the pins (settings.ini) or setup.py change.
$(STAMP): settings.ini setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]" 2>&1 | { grep -v "^WARNING: Location .* is ignored" || true; }
	@touch $@

run: setup
	$(BIN)/atomvision run

test: setup chromium
	$(BIN)/python tools/check_sync.py
	NBDEV_FLAGS="$(FLAGS)" $(BIN)/python -m pytest tests/

# Debian's chromium for the web page's browser test, where it can be installed (Playwright comes with the dev pins);
# without it the test summary says the page test was skipped.
chromium:
	@command -v chromium >/dev/null || timeout 300 apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  (timeout 120 apt-get update -qq >/dev/null 2>&1 && timeout 300 apt-get install -y -qq chromium >/dev/null 2>&1) || \
	  echo "chromium could not be installed: the web page test will be skipped (the summary says so)"

# Before every commit: export the package, clean the notebooks, rebuild README.md.
export: setup
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	$(BIN)/python tools/build_readme.py

readme: setup
	$(BIN)/python tools/build_readme.py

# The data explorer in JupyterLab under headless Chromium -> data/screenshots/explorer.png,
# and the service's web page with the quick CPU run -> docs/screenshots/serve_page.png (shown in the README)
screenshot: setup
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	@$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/python -m pip install --quiet playwright 2>&1 | { grep -v "is ignored" || true; }
	@test -f data/unified/atomvision_unified.parquet || $(BIN)/atomvision build
	$(BIN)/python tools/screenshot_explorer.py
	$(BIN)/python tools/screenshot_serve.py --out docs/screenshots/serve_page.png

# Re-execute every notebook in place, in data-flow order, on the mirror, keeping its outputs (tables, figures at
# 72 dpi); the slow cells read the runs of `make run`. NB_FLAGS names the flagged cells to run.
NB_FLAGS ?= slow mirror
notebooks: setup
	$(BIN)/python tools/run_notebooks.py --flags "$(NB_FLAGS)"

# The documentation site from the notebooks (nbconvert, no Quarto) -> _docs/index.html
docs: setup
	$(BIN)/python tools/build_docs.py --out _docs

# The workbench: JupyterLab on the notebooks, with the package installed and the project's Jupyter configuration
# (.jupyter: no news popup). Listens on 127.0.0.1 only.
lab: setup
	JUPYTER_CONFIG_DIR=$(CURDIR)/.jupyter $(BIN)/jupyter lab --ip=127.0.0.1 --notebook-dir=nbs

clean-venv:
	rm -rf $(VENV)
