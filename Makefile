# Two commands for a fresh machine with Python 3.11+ and make:
#   make run   - set up .venv and start the whole stack on an embedded NATS
#   make test  - set up .venv and run every check and test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PACKAGES := -e shared -e services/secrets -e services/renderer -e services/log-redactor \
            -e services/gateway -e cli
MEMBERS := pyproject.toml constraints.txt requirements-dev.txt shared/pyproject.toml \
           $(wildcard services/*/pyproject.toml) cli/pyproject.toml

.PHONY: run test lint typecheck browser golang wrk bench proof clean

$(STAMP): $(MEMBERS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		$(PACKAGES) -r requirements-dev.txt
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/sigil up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy shared/src services/secrets/src services/renderer/src \
		services/log-redactor/src services/gateway/src cli/src

# Browser tests drive Debian's Chromium (never a downloaded browser). As root, install it
# when missing; otherwise the browser tests skip and say why.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "chromium not installed and not root: browser tests will be skipped"; \
		fi; \
	fi

# tests/unit/test_deploy.py renders the Helm chart with Go's text/template (helm is not packaged
# in Debian). Go is a development tool only (CI must not need it): `make golang` installs
# Debian's golang-go as root; without it those chart-rendering checks skip and say why.
golang:
	@if ! command -v go >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's golang-go for the Helm chart rendering test"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null; \
		else \
			echo "go not installed and not root: the Helm chart rendering tests will be skipped"; \
		fi; \
	fi

test: $(STAMP) lint typecheck browser
	$(BIN)/pytest

# The evidence suites at full scale (fault, canary, matrix, permission and fuzz figures).
proof: $(STAMP) browser
	rm -f tests/artifacts/proof-figures.json
	SIGIL_PROOF_SCALE=full $(BIN)/pytest -m "proof or cluster"
	$(BIN)/python -m tests.proof.summary

# The HTTP benchmark drives the gateway with Debian's wrk. As root, install it when missing;
# otherwise the gateway benchmark prints that it was skipped and why.
wrk:
	@if ! command -v wrk >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's wrk for the HTTP benchmark"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
		else \
			echo "wrk not installed and not root: the gateway benchmark will be skipped"; \
		fi; \
	fi

bench: $(STAMP) wrk
	$(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) .sigil .pytest_cache .mypy_cache .ruff_cache
