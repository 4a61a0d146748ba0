# streamscore — every target a fresh machine needs. `make demo` and `make test` bootstrap themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := infra/local/stack
# Load the stack's URLs (KAFKA_BROKERS, DATABASE_URL, ...) when they exist; explicit env wins.
WITH_ENV := set -a; [ -f .stack/env ] && . ./.stack/env; set +a;

.PHONY: help bootstrap deps node_modules build lint typecheck stack-up stack-down stack-status \
        test test-unit test-integration demo bench sbom clean

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

test: bootstrap lint typecheck stack-up ## lint, typecheck, the pipelines' test files, unit + integration + e2e tests on the real stack
	node dist/workers/cli/main.js test
	@$(WITH_ENV) npm test --silent

demo: bootstrap stack-up ## the CRM churn story end to end
	@$(WITH_ENV) node dist/workers/cli/main.js demo

bench: bootstrap stack-up ## throughput/latency benchmark; writes .bench/latest.json
	@$(WITH_ENV) npx tsx test/bench/main.ts $(BENCH_ARGS)

sbom: node_modules ## CycloneDX SBOM of the production dependencies: dist/sbom.cdx.json
	@mkdir -p dist && npm sbom --sbom-format cyclonedx --omit dev > dist/sbom.cdx.json
	@echo "wrote dist/sbom.cdx.json"

clean: stack-down
	rm -rf dist .stack .bench
