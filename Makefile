# clerksync: `make help` lists the targets.
SHELL := bash
.DEFAULT_GOAL := help

BIN := bin/clerksync
STATICCHECK_VERSION := 2025.1.1
# make run's development settings; a real deployment sets its own.
DEV_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/clerksync?sslmode=disable
DEV_SECRET ?= whsec_ZGV2LW9ubHktc2lnbmluZy1zZWNyZXQtMTIzNDU2Nzg=
DEV_ADDR ?= 127.0.0.1:8080

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: services
services: ## start Postgres and Redis (installing them on a fresh Debian machine)
	@bash scripts/services.sh

.PHONY: build
build: ## build bin/clerksync
	go build -o $(BIN) ./cmd/clerksync

.PHONY: run
run: build ## run the whole service locally: services, migrate, receiver + worker + dashboard
	@bash scripts/services.sh --create-db clerksync
	@echo
	@echo "  receiver   POST http://$(DEV_ADDR)/webhooks/clerk"
	@echo "  dashboard  http://$(DEV_ADDR)/asynq/   (user admin, password admin)"
	@echo "  metrics    http://$(DEV_ADDR)/metrics"
	@echo "  send a signed test event from another terminal:"
	@echo "    CLERK_WEBHOOK_SIGNING_SECRET=$(DEV_SECRET) LISTEN_ADDR=$(DEV_ADDR) $(BIN) send user.created"
	@echo "  then look:  psql -h 127.0.0.1 -U postgres clerksync -c 'select id, primary_email_address from users'"
	@echo
	DATABASE_URL="$${DATABASE_URL:-$(DEV_DATABASE_URL)}" \
	CLERK_WEBHOOK_SIGNING_SECRET="$${CLERK_WEBHOOK_SIGNING_SECRET:-$(DEV_SECRET)}" \
	LISTEN_ADDR="$${LISTEN_ADDR:-$(DEV_ADDR)}" ADMIN_USER="$${ADMIN_USER:-admin}" ADMIN_PASSWORD="$${ADMIN_PASSWORD:-admin}" \
	LOG_FORMAT="$${LOG_FORMAT:-text}" $(BIN) run

.PHONY: test
test: services ## vet, gofmt check and the race-enabled tests against real Postgres and Redis
	go vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go test -race -timeout 9m ./...

.PHONY: bench
bench: services ## run the benchmarks and print their figures
	bash scripts/bench.sh

.PHONY: lint
lint: ## go vet, gofmt and staticcheck (pinned)
	go vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

.PHONY: clean
clean: ## remove build output
	rm -rf bin
