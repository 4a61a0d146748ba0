# streamscore — every target a fresh machine needs. `make demo` and `make test` bootstrap themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := infra/local/stack
# Load the stack's URLs (KAFKA_BROKERS, DATABASE_URL, ...) when they exist; explicit env wins.
WITH_ENV := set -a; [ -f .stack/env ] && . ./.stack/env; set +a;

.PHONY: help bootstrap deps node_modules build lint typecheck stack-up stack-down stack-status \
        test test-unit test-integration demo bench sbom npm-audit chaos clean k8s-tools k8s-check dockerfile-check

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

deps: ## install system packages the stack needs (apt-get, as root) when missing
	@infra/local/install-system-deps.sh

node_modules: package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

build: node_modules ## compile the streamscore CLI into dist/
	npm run build --silent

bootstrap: deps node_modules build

lint: node_modules ## biome lint + format check
	npm run lint --silent

typecheck: node_modules ## strict TypeScript check of workers/ and test/
	npm run typecheck --silent

stack-up: deps ## start Kafka, Apicurio, Postgres, Redis, Kafka Connect+Debezium, fakesnow under .stack/
	@$(STACK) up

stack-down: ## stop every service the launcher started
	@$(STACK) down

stack-status: ## one line per service, non-zero exit if any is down
	@$(STACK) status

test-unit: node_modules ## pure-logic tests, no services
	npm run test:unit --silent

test-integration: bootstrap stack-up
	@$(WITH_ENV) npm run test:integration --silent

test: bootstrap lint typecheck npm-audit k8s-check dockerfile-check stack-up ## lint, typecheck, k8s manifests, Dockerfile, the pipelines' test files, unit + integration + e2e tests on the real stack
	node dist/workers/cli/main.js test
	@$(WITH_ENV) npm test --silent

demo: bootstrap stack-up ## the CRM churn story end to end
	@$(WITH_ENV) node dist/workers/cli/main.js demo

bench: bootstrap stack-up ## throughput/latency benchmark; writes .bench/latest.json
	@$(WITH_ENV) npx tsx test/bench/main.ts $(BENCH_ARGS)

chaos: bootstrap stack-up ## fault-injection scenarios (test/chaos/), longer and less deterministic than make test's
	@$(WITH_ENV) node test/run.mjs chaos

npm-audit: node_modules ## npm audit of the production dependencies (high and critical); says NOT CHECKED when the advisory endpoint is unreachable
	@tools/npm-audit.sh

sbom: node_modules ## CycloneDX SBOM of the production dependencies: dist/sbom.cdx.json
	@mkdir -p dist && npm sbom --sbom-format cyclonedx --omit dev > dist/sbom.cdx.json
	@echo "wrote dist/sbom.cdx.json"

# Kubernetes manifests (infra/k8s): rendered with kustomize, every object checked strictly against the
# pinned Kubernetes API and KEDA's / the Prometheus Operator's CRDs. kubeconform is built, and the
# API spec and CRDs fetched, from the Go module proxy into .tools/ (gitignored, kept between runs).
K8S_VERSION := 1.34.4
KUBECONFORM_VERSION := v0.7.0
KEDA_VERSION := v2.20.2
PROMETHEUS_OPERATOR_VERSION := v0.85.0
KUSTOMIZE_VERSION := v5.5.0
TOOLS := $(CURDIR)/.tools
GO_TOOLS_ENV := GOMODCACHE=$(TOOLS)/gomod GOFLAGS='-modcacherw -buildvcs=false' GOBIN=$(TOOLS)/bin
K8S_SCHEMAS := $(TOOLS)/k8s-schemas/v$(K8S_VERSION)
K8S_MODS := $(TOOLS)/gomod
KEDA_CRDS := $(K8S_MODS)/github.com/kedacore/keda/v2@$(KEDA_VERSION)/config/crd/bases
PROM_CRDS := $(K8S_MODS)/github.com/prometheus-operator/prometheus-operator@$(PROMETHEUS_OPERATOR_VERSION)/example/prometheus-operator-crd
# kubectl's built-in kustomize when there is a kubectl, else kustomize built like kubeconform.
KUSTOMIZE := $(if $(shell command -v kubectl),kubectl kustomize,$(TOOLS)/bin/kustomize build)

$(TOOLS)/bin/kubeconform:
	$(GO_TOOLS_ENV) go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

$(TOOLS)/bin/kustomize:
	$(GO_TOOLS_ENV) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

$(K8S_SCHEMAS)/.done: tools/k8s/json-schemas.mjs
	$(GO_TOOLS_ENV) go mod download k8s.io/kubernetes@v$(K8S_VERSION) github.com/kedacore/keda/v2@$(KEDA_VERSION) \
	  github.com/prometheus-operator/prometheus-operator@$(PROMETHEUS_OPERATOR_VERSION)
	rm -rf $(K8S_SCHEMAS)
	node tools/k8s/json-schemas.mjs --out $(K8S_SCHEMAS) \
	  --swagger $(K8S_MODS)/k8s.io/kubernetes@v$(K8S_VERSION)/api/openapi-spec/swagger.json \
	  $(foreach c,scaledobjects scaledjobs triggerauthentications clustertriggerauthentications,--crd $(KEDA_CRDS)/keda.sh_$(c).yaml) \
	  $(foreach c,servicemonitors podmonitors,--crd $(PROM_CRDS)/monitoring.coreos.com_$(c).yaml)
	@touch $@

k8s-tools: $(TOOLS)/bin/kubeconform $(K8S_SCHEMAS)/.done $(if $(findstring kubectl,$(KUSTOMIZE)),,$(TOOLS)/bin/kustomize)

k8s-check: k8s-tools ## render infra/k8s and check every object against the Kubernetes $(K8S_VERSION) API and KEDA's CRDs
	@KUBECONFORM=$(TOOLS)/bin/kubeconform K8S_SCHEMAS=$(K8S_SCHEMAS) K8S_VERSION=$(K8S_VERSION) \
	  KUSTOMIZE='$(KUSTOMIZE)' tools/k8s/check.sh

# The Dockerfile, parsed and checked by BuildKit's own Dockerfile frontend (tools/dockerfile-lint).
$(TOOLS)/bin/dockerfile-lint: tools/dockerfile-lint/main.go tools/dockerfile-lint/go.mod tools/dockerfile-lint/go.sum
	cd tools/dockerfile-lint && GOMODCACHE=$(TOOLS)/gomod GOFLAGS='-modcacherw -buildvcs=false' go build -o $@ .

dockerfile-check: $(TOOLS)/bin/dockerfile-lint ## lint the Dockerfile (syntax and BuildKit's build checks)
	@$(TOOLS)/bin/dockerfile-lint Dockerfile

clean: stack-down
	rm -rf dist .stack .bench
