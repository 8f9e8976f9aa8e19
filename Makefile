# overblik: one overview of a person's appointments across sectors.
GO      ?= go
ADDR    ?= 127.0.0.1:8080
# Go ignores folders named testdata in ./...; the demo data generator lives in one.
PKGS    := ./... ./testdata/

.PHONY: help run test test-env bench build vet fmt sims

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

run: ## start the full product on simulated sources with demo patients (http://127.0.0.1:8080)
	$(GO) run ./cmd/overblik demo --addr $(ADDR)

test: test-env ## set up what the tests need, build everything, then run every test with the race detector
	$(GO) build ./...
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 $(PKGS)

test-env: ## install Chromium, redis-server, Node.js and the npm packages, start Redis and PostgreSQL: only what is missing
	@bash tools/setup-test-env.sh

bench: ## measure against baselines side by side (ratios and targets), then the Go benchmarks
	$(GO) run ./cmd/overblikbench
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

build: ## build the binaries into bin/
	$(GO) build -o bin/ ./cmd/...

sims: ## run the three demo sources as separate fhirsim processes on :8091-8093 (see overblik.demo.yaml)
	$(GO) build -o bin/ ./cmd/fhirsim
	bin/fhirsim --addr 127.0.0.1:8091 --demo hospital & \
	bin/fhirsim --addr 127.0.0.1:8092 --demo municipality & \
	bin/fhirsim --addr 127.0.0.1:8093 --demo gp & \
	wait

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')
