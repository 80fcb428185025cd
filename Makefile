# snbridge build, test and release targets. `make help` lists them.
GO       ?= go
FUZZTIME ?= 30s
BENCHTIME ?= 1s
BIN      ?= bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)

.PHONY: help build test lint fuzz bench cross clean

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build every command into ./bin (static, CGO_ENABLED=0)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

test: ## run every test with the race detector (needs mosquitto on PATH)
	$(GO) test -race -count=1 -timeout 10m ./...

lint: ## gofmt must list nothing; go vet must pass
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt -l lists:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fuzz: ## run each fuzz target for FUZZTIME (go test -fuzz takes one target at a time)
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' . | while read f; do \
		dir=$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
			echo "== $$dir $$t ($(FUZZTIME))"; \
			$(GO) test $$dir -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) || exit 1; \
		done; \
	done

bench: ## run the micro-benchmarks
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./...

cross: ## static builds for linux amd64, arm64 and armv7
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/linux-amd64/ ./cmd/...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/linux-arm64/ ./cmd/...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/linux-armv7/ ./cmd/...

clean: ## remove build output
	rm -rf $(BIN)

.PHONY: bench-e2e
bench-e2e: build ## mqttsn-bench standard set (QoS 0 and 1, 10 clients, transparent and aggregating) against a mosquitto it starts
	BIN=$(BIN) cmd/mqttsn-bench/bench-e2e.sh
