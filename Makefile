# erlmcp-deploy — see README.md. `make demo` and `make test` are the two commands a newcomer needs.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := $(CURDIR)/bin
ACTIONS   := deploy smoke rollback release-notes preview
TOOL      := $(GO) tool -modfile=tools/go.mod
CLUSTER   := $(GO) run ./test/cluster/clusterctl
# Generous per-package limit: the first cluster test may wait for a cold control-plane build.
TEST_TIMEOUT ?= 60m

.PHONY: build test unit lint fuzz generate cluster-bins prometheus-bin cluster-up cluster-down demo bench vulncheck boot-corpus clean

build: ## Build the CLI and every action binary into bin/
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/erlmcp-deploy ./cmd/erlmcp-deploy
	@for a in $(ACTIONS); do \
	  CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/erlmcp-deploy-$$a ./actions/$$a; done
	@ls -l $(BIN)

generate: ## Regenerate action.yml files and the README tables from internal/actionspec
	$(GO) run ./internal/actionspec/gen

lint: ## gofmt, go vet, actionlint
	@unformatted=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(TOOL) actionlint -color=false .github/workflows/*.yml examples/workflows/*.yml
	@echo "lint: ok"

cluster-bins: ## Build (or reuse) etcd, kube-apiserver, controller-manager, scheduler, kwok, kubectl
	$(CLUSTER) build

prometheus-bin: ## Build (or reuse) the Prometheus server the canary-analysis tests run (cached by version)
	$(CLUSTER) prometheus

cluster-up: ## Start (or reuse) a local cluster in the background; prints export KUBECONFIG=...
	@$(CLUSTER) up

cluster-down: ## Stop the cluster started by cluster-up
	@$(CLUSTER) down

unit: ## Tests that need no cluster binaries
	$(GO) test -count=1 -short ./...

test: lint cluster-bins prometheus-bin ## Everything: lint, unit, real-cluster e2e, short fuzz runs
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory fuzz

FUZZ_TIME ?= 2000x
fuzz: ## A short bounded run of every fuzz target (FUZZ_TIME: iterations each, or a duration)
	@for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' internal test | xargs -n1 dirname | sort -u); do \
	  for target in $$(grep -h '^func Fuzz' $$dir/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "fuzz ./$$dir $$target ($(FUZZ_TIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZ_TIME) ./$$dir >/dev/null || \
	      { $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZ_TIME) ./$$dir; exit 1; }; \
	  done; done
	@echo "fuzz: ok"

demo: build cluster-bins ## The whole product on a local cluster
	$(GO) run ./test/demo

bench: build cluster-bins prometheus-bin ## Benchmarks; results are written to BENCHMARKS.md
	$(GO) run ./test/bench -out BENCHMARKS.md

boot-corpus: ## Rerun real OTP 25/Elixir 1.14 boot failures into internal/bootcause/testdata/corpus (root; installs Debian's erlang-base erlang-dev erlang-inets elixir when missing); not part of test
	./scripts/boot-corpus.sh

vulncheck: ## Needs the network: the Go vulnerability database
	$(GO) run golang.org/x/vuln/cmd/govulncheck@v1.1.4 ./...

clean:
	rm -rf $(BIN)
