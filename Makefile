# The README's commands. Everything runs inside .venv, which `make setup` creates.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: system-deps setup book book-assets live test test-book test-live publish figures bench clean

# System packages: gfortran (py3nj, an escnn dependency, is compiled with it), npm (the book's JavaScript
# comes from the npm packages pinned in package.json) and chromium (the real-browser test of the built book).
SYSTEM_TOOLS = gfortran:gfortran npm:npm chromium:chromium

system-deps:  ## gfortran, npm and chromium, with apt-get as root or through sudo; elsewhere it says what to install
	@missing=""; for pair in $(SYSTEM_TOOLS); do cmd=$${pair%%:*}; pkg=$${pair#*:}; \
	  if command -v $$cmd >/dev/null 2>&1; then echo "$$cmd found: $$(command -v $$cmd)"; else missing="$$missing $$pkg"; fi; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo apt-get install -y -qq $$missing; \
	else echo "equilib needs:$$missing (gfortran builds py3nj for escnn; npm fetches the book's JavaScript;" >&2; \
	     echo "chromium runs the browser test). Install them with your system's package manager, then 'make setup'." >&2; exit 1; fi

setup:  ## create .venv with the pinned stack and equilib itself (editable), and the book's pinned JavaScript
	@command -v gfortran >/dev/null 2>&1 || { echo "gfortran is missing: run 'make system-deps' first (py3nj, needed by escnn, is compiled with it)." >&2; exit 1; }
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: run 'make system-deps' first (the book's JavaScript is installed with it)." >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m equilib info

book: book-assets  ## build the book (executes the notebooks, which draw from the committed run store and train nothing)
	EQUILIB_RENDER_ONLY=1 $(BIN)/jupyter-book build . --all -W -n --keep-going  # --all: Sphinx would keep pages whose source is unchanged, even when the run store has changed
	@echo "Open _build/html/index.html"

VENDOR = _static/vendor
book-assets:  ## copy the pinned JavaScript bundles into _static/vendor (served by the book itself)
	@test -d node_modules/vega-embed || { echo "node_modules is missing: run 'make setup' first." >&2; exit 1; }
	mkdir -p $(VENDOR)/mathjax
	cp node_modules/vega/build/vega.min.js node_modules/vega-lite/build/vega-lite.min.js \
	   node_modules/vega-embed/build/vega-embed.min.js $(VENDOR)/
	cp node_modules/mathjax/es5/tex-svg-full.js $(VENDOR)/mathjax/

PORT ?= 8866
live: book-assets  ## the pages with working ipywidgets controls: Voila on 127.0.0.1:$(PORT), reading the run store, training nothing
	$(BIN)/python -m equilib live --port $(PORT)

test-live: book-assets  ## the live pages in a real browser against a real kernel: every ipywidgets control redraws its chart
	$(BIN)/python -m pytest -m live -p no:cacheprovider tests/test_live_pages.py

test-book:  ## the real-browser test of the built book (after 'make book'): headless chromium, no network
	$(BIN)/python -m pytest -m browser -p no:cacheprovider tests/test_book_browser.py

HTML ?= _build/html
publish:  ## put the built book (after 'make book') on the gh-pages branch with ghp-import; PUSH=1 pushes it too
	@test -f $(HTML)/index.html || { echo "no built book in $(HTML): run 'make book' first." >&2; exit 1; }
	$(BIN)/ghp-import --no-jekyll --force --branch gh-pages --message "The book, built from $$(git rev-parse --short HEAD)" $(if $(PUSH),--push) $(HTML)
	@echo "The book is on the gh-pages branch$(if $(PUSH), and pushed,; 'make publish PUSH=1' pushes it)."

figures:  ## export Figure 1 and Figure 2 as PNGs for the README, from the committed run store
	$(BIN)/python -m equilib figures --results results --out docs

test:  ## the test suite, one worker per core (pytest-xdist; plain `pytest` runs it in one process)
	$(BIN)/python -m pytest -n auto --dist loadgroup

bench:  ## the speed benchmarks (minutes; figures go to stdout and benchmarks/results/)
	$(BIN)/python benchmarks/simulate.py
	$(BIN)/python benchmarks/train_nbody.py
	$(BIN)/python benchmarks/train_stacked.py
	$(BIN)/python benchmarks/sweep_mnist.py
	$(BIN)/python benchmarks/train_mnist.py
	$(BIN)/python benchmarks/train_mnist_stacked.py
	$(BIN)/python benchmarks/cnn_cpu_options.py

clean:
	rm -rf _build _static .pytest_cache
