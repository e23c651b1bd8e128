# The README's two commands: `make demo` (the main job) and `make test` (the test suite).
# Both install what they need: Debian's prometheus and prometheus-alertmanager (as root, if absent)
# and this package in a virtualenv under .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test deps engines browser venv clean schema rules

# `make demo DURATION=300` stops by itself 300 s after the stack is up; without DURATION, at Ctrl-C.
DURATION ?=

demo: venv engines
	$(BIN)/python -m sloengine.devstack.demo$(if $(strip $(DURATION)), --duration $(strip $(DURATION)))

test: venv engines browser
	$(BIN)/python -m pytest -q

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Prometheus and Alertmanager are the engines the tests run against; install them from Debian if absent.
engines:
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null || ! command -v amtool >/dev/null; then \
	  echo "installing Debian packages prometheus and prometheus-alertmanager"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; \
	fi

# The web UI's pages are tested in a real browser: Debian's chromium, run headless (no browser download).
browser:
	@if ! command -v chromium >/dev/null; then \
	  echo "installing Debian package chromium (headless, for the web UI's browser tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

schema: venv
	$(BIN)/sloengine schema --out schema/sloengine-v1.schema.json
	$(BIN)/sloengine schema --report --out schema/sloengine-report-v1.schema.json

clean:
	rm -rf $(VENV) build *.egg-info

# Regenerate the committed rules, promtool tests, escalation (rules/) and dashboards (dashboards/) for examples/
# (tests check they are fresh).
rules: venv
	$(BIN)/sloengine generate examples --out rules --no-dashboards
	$(BIN)/python -m sloengine.compiler.dashboards .
