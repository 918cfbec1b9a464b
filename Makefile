# The README's commands. Everything runs inside .venv, which `make setup` creates.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: system-deps setup book test bench clean

system-deps:  ## the one system prerequisite: a Fortran compiler for py3nj (a dependency of escnn)
	@if command -v gfortran >/dev/null 2>&1; then echo "gfortran found: $$(command -v gfortran)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq gfortran; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo apt-get install -y -qq gfortran; \
	else echo "equilib needs a Fortran compiler (gfortran) to build py3nj, which escnn requires." >&2; \
	     echo "Install it with your system's package manager (Debian/Ubuntu: apt-get install gfortran;" >&2; \
	     echo "Fedora: dnf install gcc-gfortran; macOS: brew install gcc), then run 'make setup'." >&2; exit 1; fi

setup:  ## create .venv with the pinned stack and equilib itself (editable)
	@command -v gfortran >/dev/null 2>&1 || { echo "gfortran is missing: run 'make system-deps' first (py3nj, needed by escnn, is compiled with it)." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m equilib info

book:  ## build the book (executes the notebooks; with the committed run store they only plot)
	EQUILIB_RENDER_ONLY=1 $(BIN)/jupyter-book build . -W -n --keep-going
	@echo "Open _build/html/index.html"

test:  ## the test suite
	$(BIN)/python -m pytest

bench:  ## the speed benchmarks (minutes; figures go to stdout and benchmarks/results/)
	$(BIN)/python benchmarks/simulate.py
	$(BIN)/python benchmarks/train_nbody.py
	$(BIN)/python benchmarks/train_stacked.py
	$(BIN)/python benchmarks/sweep_mnist.py
	$(BIN)/python benchmarks/train_mnist.py

clean:
	rm -rf _build .pytest_cache
