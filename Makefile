# The documented entry points: `make demo` and `make test` (each installs what it needs).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
VOLCTL := $(VENV)/bin/volctl
STAMP := $(VENV)/.installed
# Real recordings: DATA=DIR, else ../shared/data when it exists, else the synthetic source.
DATA ?= $(wildcard ../shared/data)
PORT ?= 8000

.PHONY: install prometheus demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian's prometheus (and promtool) for the integration tests, when apt is usable.
prometheus:
	@if ! command -v prometheus >/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; \
	    systemctl disable --now prometheus >/dev/null 2>&1 || pkill -x prometheus || true; \
	  else echo "prometheus is missing and apt-get is not usable: Prometheus tests will be skipped"; fi; \
	fi

demo: install
	$(VOLCTL) model train $(if $(DATA),--data $(DATA),--synthetic)
	@mkdir -p .volctl; \
	VOLCTL_PREDICT_PORT=$(PORT) $(PY) -m services.predict > .volctl/predict.log 2>&1 & pid=$$!; \
	trap "kill $$pid 2>/dev/null" EXIT; \
	VOLCTL_PREDICT_PORT=$(PORT) $(VOLCTL) health --wait 20; \
	echo "predict service log: .volctl/predict.log (stopped at the end of the demo)"

test: install prometheus
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .

bench: install
	@command -v hey >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hey >/dev/null; } || \
	  { echo "bench needs hey (apt-get install hey)"; exit 3; }
	$(PY) bench/predict_capacity.py
	$(PY) bench/consume_throughput.py

clean:
	rm -rf $(VENV) .volctl .pytest_cache .ruff_cache
