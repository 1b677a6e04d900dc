# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q -c constraints.txt

.PHONY: install run test lint clean
install: $(VENV)/.installed

# torch is installed first so that no other package pulls a CUDA build of it.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PIP) torch
	$(PIP) -e ".[dev]"
	touch $@

run: install
	$(PY) -m atrc_nas.launch experiments/quickstart.yaml

test: install
	$(PY) -m pytest -q
	$(VENV)/bin/ruff check .
	PYTHON=$(PY) bash .ci/check_cuda_compile.sh

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache
