# The documented entry points: `make demo` and `make test` (each installs what it needs).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
VOLCTL := $(VENV)/bin/volctl
STAMP := $(VENV)/.installed
# Real recordings: DATA=DIR, else ../shared/data when it exists, else the synthetic source.
DATA ?= $(wildcard ../shared/data)

unexport PYTHONDONTWRITEBYTECODE

.PHONY: install prometheus compose-tools browser demo test test-fast lint bench clean

install: $(STAMP)

# uv installs the same versions as pip in seconds (pip: about 90 s); pip stays the fallback. Bytecode
# is written as it is first imported (PYTHONDONTWRITEBYTECODE, set on some machines, is dropped for
# every recipe): compiling all of site-packages at install cost 71 CPU-seconds, what volctl and the
# suite import about 12, once.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	{ $(PY) -m pip install --quiet uv && \
	  $(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev]'; } || \
	  { $(PY) -m pip install --quiet --upgrade pip && $(PY) -m pip install --quiet -e '.[dev]'; }
	touch $(STAMP)

# Debian's prometheus (and promtool) and prometheus-alertmanager (and amtool): `volctl up` runs them.
# Installed when apt is usable; the services Debian starts on install are stopped (volctl starts its own).
prometheus:
	@if ! command -v prometheus >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager >/dev/null; \
	    for unit in prometheus prometheus-alertmanager; do \
	      systemctl disable --now $$unit >/dev/null 2>&1 || pkill -f "^/usr/bin/$$unit" || true; done; \
	  else echo "prometheus or prometheus-alertmanager is missing and apt-get is not usable: install them to run the stack"; fi; \
	fi

# Debian's docker-compose validates compose.yaml in the tests (no Docker engine needed).
compose-tools:
	@command -v docker-compose >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; } || \
	  echo "docker-compose is missing: the compose.yaml test will be skipped"

# Debian's chromium: the report tests open every HTML page in it (driven by playwright from PyPI).
browser:
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium is missing and apt-get is not usable: the report tests will be skipped"

# The whole story in about a minute: real ticks flowing, health, load, SLOs, drift, a rollback and
# back, then everything stopped. Each check prints what its exit code means and the demo goes on.
# The drift step judges a stream the model did not train on, twice: as it is (expected: pass: no drift)
# and with its microstructure changed on purpose (expected: fail: drift). With recordings: the first 2026
# session, which lies after the training split; without: another seed of the synthetic source.
HELD_OUT = $(firstword $(sort $(wildcard $(DATA)/*2026*.ndjson)))
CURRENT = $(if $(HELD_OUT),--current $(HELD_OUT),--synthetic-seed 8)
HELD_OUT_NOTE = $(if $(HELD_OUT),$(notdir $(HELD_OUT)) (a later session: the model's test split$(comma) not its training),another seed (8) of the synthetic source (the model trained on seed 7))
comma := ,
SOURCE_NOTE = $(if $(DATA),real Coinbase recordings in $(DATA),NO recordings found: the SEEDED SYNTHETIC source (generated ticks, not market data))

demo: export VOLCTL_DATA_DIR = $(if $(DATA),$(DATA),synthetic)
demo: install prometheus
	@echo "== data: $(SOURCE_NOTE); the model is trained on it and it is replayed live"
	$(VOLCTL) up --demo
	@echo "== ticks are flowing; waiting 10 s for features and the first scrapes"; sleep 10
	$(VOLCTL) health --wait 10; echo "(health exit $$?: 0 healthy, 1 a check failed, 3 nothing answered)"
	$(VOLCTL) load --rps 20 --duration 15s; echo "(load exit $$?: 0 every objective passed, 1 one failed, 3 no answer)"
	@sleep 3
	$(VOLCTL) slo check --window 20s; echo "(slo check exit $$?: 0 met, 1 breached, 3 cannot measure)"
	@echo "== drift, held out, expected: pass: no drift. $(HELD_OUT_NOTE)"
	$(VOLCTL) drift report $(CURRENT); echo "(drift exit $$?: expected 0, within the reference's own session-to-session variation)"
	@echo "== drift, the same stream perturbed on purpose (spreads 5x wider, every 4th tick), expected: fail: drift"
	$(VOLCTL) drift report $(CURRENT) --perturb spread=5,thin=4; echo "(drift exit $$?: expected 1, drifted, naming the features that moved)"
	$(VOLCTL) model list; echo "(auto serves the variant the version's validation split recommends; its test split only reports)"
	$(VOLCTL) rollback --to ml --yes --reason "make demo: try the ml challenger"; \
	  echo "(rollback exit $$?: 0 every predict worker and consume member switched and verified, 1 refused and rolled back, 3 cannot reach)"
	$(VOLCTL) rollback --to baseline --yes --reason "make demo: back to the baseline rule"; echo "(rollback exit $$?)"
	$(VOLCTL) rollback --history -n 4
	$(VOLCTL) down
	@echo "== done: $(SOURCE_NOTE). 'volctl up --demo' keeps the stack running; 'volctl runbook list' shows the runbooks."

# A module's tests (or a shared stack's) on one worker, heaviest groups first. Three workers on two
# cores: the tests wait on brokers, scrapes and fixed-rate loads much of the time, and a third one
# fills those waits (whole suite on the idle 2-core machine: 12:25 with two workers, 10:44 with three).
test: install prometheus compose-tools browser
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -n 3 --dist loadgroup --no-loadscope-reorder --durations=15

# The unit tier alone (in process, no port, no training): about a minute.
test-fast: install
	$(PY) -m pytest -q -n 2 -m unit

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: install
	@command -v hey >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hey >/dev/null; } || \
	  { echo "bench needs hey (apt-get install hey)"; exit 3; }
	$(PY) bench/predict_capacity.py
	$(PY) bench/consume_throughput.py
	$(PY) bench/load_accuracy.py
	$(PY) bench/rollback.py
	$(PY) bench/model_quality.py
	$(PY) bench/drift_calibration.py
	$(PY) bench/scale.py

clean:
	rm -rf $(VENV) .volctl .pytest_cache .ruff_cache .cache
