# clerksync: `make help` lists the targets.
SHELL := bash
.DEFAULT_GOAL := help

BIN := bin/clerksync
# make install copies $(BIN) to $(DESTDIR)$(PREFIX)/bin.
PREFIX ?= /usr/local
# Go stamps the commit itself in a plain git checkout; this fallback covers
# builds where it cannot (GOFLAGS=-buildvcs=false, worktrees, tarballs).
COMMIT := $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED := $(shell git status --porcelain 2>/dev/null | grep -q . && echo true)
GO_LDFLAGS := -X main.commit=$(COMMIT) -X main.modified=$(MODIFIED)
# staticcheck 2026.2.2, the first release line that knows Go 1.26.
STATICCHECK_VERSION := v0.8.2
# make run's development settings; the environment overrides each of them,
# and a real deployment sets its own.
DEV_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/clerksync?sslmode=disable
DEV_SECRET ?= whsec_ZGV2LW9ubHktc2lnbmluZy1zZWNyZXQtMTIzNDU2Nzg=
DEV_ADDR ?= 127.0.0.1:8080
RUN_ADDR = $(or $(LISTEN_ADDR),$(DEV_ADDR))
RUN_ADMIN_USER = $(or $(ADMIN_USER),admin)
# The mirror's schema, for the psql hint: the default unless the environment names one.
RUN_SCHEMA = $(or $(DATABASE_SCHEMA),clerk)
# The address to reach the receiver at: ":8080" listens everywhere, so
# loopback reaches it.
RUN_HOSTPORT = $(if $(filter :%,$(RUN_ADDR)),127.0.0.1$(RUN_ADDR),$(RUN_ADDR))
# Only the development defaults are printed: a secret or password from the
# environment is yours and stays off the terminal.
SHOW_SECRET = $(if $(CLERK_WEBHOOK_SIGNING_SECRET),"$$CLERK_WEBHOOK_SIGNING_SECRET",$(DEV_SECRET))
SHOW_PASSWORD = $(if $(ADMIN_PASSWORD),your ADMIN_PASSWORD,password admin)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: services
services: ## start Postgres and Redis (installing them on a fresh Debian machine)
	@bash scripts/services.sh

.PHONY: build
build: ## build bin/clerksync
	go build -ldflags "$(GO_LDFLAGS)" -o $(BIN) ./cmd/clerksync

.PHONY: install
install: build ## install clerksync into $(PREFIX)/bin (PREFIX=/usr/local; DESTDIR for packaging)
	install -d "$(DESTDIR)$(PREFIX)/bin"
	install -m 0755 $(BIN) "$(DESTDIR)$(PREFIX)/bin/clerksync"
	@echo "installed $(DESTDIR)$(PREFIX)/bin/clerksync"

.PHONY: run
run: build ## run the whole service locally (services, migrate, receiver + worker + dashboard); prints its URLs
	@bash scripts/services.sh --create-db clerksync
	@echo
	@echo "  receiver   POST http://$(RUN_HOSTPORT)/webhooks/clerk"
	@echo "  dashboard  http://$(RUN_HOSTPORT)/asynq/   (user $(RUN_ADMIN_USER), $(SHOW_PASSWORD))"
	@echo "  metrics    http://$(RUN_HOSTPORT)/metrics   health /healthz, /readyz"
	@echo "  send a signed sample event from another terminal:"
	@echo '    CLERK_WEBHOOK_SIGNING_SECRET=$(SHOW_SECRET) LISTEN_ADDR=$(RUN_HOSTPORT) $(BIN) send user.created'
	@echo "  then look:  psql -h 127.0.0.1 -U postgres clerksync -c 'select id, primary_email_address from $(RUN_SCHEMA).users'"
	@echo "  Ctrl-C stops it (gracefully, like SIGTERM)."
	@echo
	@# The shell, not make, fills in what the environment may hold secretly,
	@# so that no secret is on a command line.
	@DATABASE_URL="$${DATABASE_URL:-$(DEV_DATABASE_URL)}" \
	  CLERK_WEBHOOK_SIGNING_SECRET="$${CLERK_WEBHOOK_SIGNING_SECRET:-$(DEV_SECRET)}" \
	  LISTEN_ADDR="$(RUN_ADDR)" ADMIN_USER="$(RUN_ADMIN_USER)" ADMIN_PASSWORD="$${ADMIN_PASSWORD:-admin}" \
	  LOG_FORMAT="$${LOG_FORMAT:-text}" exec $(BIN) run

.PHONY: test
test: services ## vet, gofmt check and the race-enabled tests against real Postgres and Redis
	go vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go test -race -timeout 9m ./...

.PHONY: bench
bench: services ## run the benchmarks and print their figures
	bash scripts/bench.sh

.PHONY: profile
profile: ## where the CPU goes in the drain and the receiver (private Postgres with pg_stat_statements, private Redis, go tool pprof)
	bash scripts/profile.sh

.PHONY: faults
faults: ## fault scenarios on private Postgres/Redis instances (SCENARIO=name for one; FAULTS_LONG=1 adds Postgres down 300 s)
	go build -o $(BIN) ./cmd/clerksync
	go build -o bin/faultload ./internal/faultload
	SCENARIO="$(SCENARIO)" bash scripts/faults/run.sh

FUZZTIME ?= 20s

.PHONY: fuzz
fuzz: ## run each fuzz target (event and user decoding, CSV rows) for FUZZTIME (20s) each
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

.PHONY: lint
lint: ## go vet, gofmt and staticcheck (pinned)
	go vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

.PHONY: clean
clean: ## remove build output
	rm -rf bin
