# yokedcache — common tasks.
#   make test   installs the test servers if missing (scripts/test-deps.sh),
#               then vet, staticcheck (lint), the comparison benchmarks'
#               build check and the whole suite with the race detector.
#   make bench  runs the comparison benchmarks of bench/ (see docs/benchmarks.md).
#   make corrupt  the long byte-flip corruption campaign of the sqlite and
#               disk backends (CORRUPT_FLIPS flips each, seed CORRUPT_SEED).

GO ?= go
PKGS ?= ./...
TEST_TIMEOUT ?= 20m

STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: test deps vet lint bench-vet test-go bench fuzz quickstart corrupt

test: deps vet lint bench-vet test-go

deps:
	@bash scripts/test-deps.sh

vet:
	$(GO) vet $(PKGS)

# staticcheck with the checks of staticcheck.conf; fetched through the Go
# module proxy on first use.
lint:
	$(GO) run $(STATICCHECK) $(PKGS)

# The comparison benchmarks live in their own module (bench/), so that
# their peers never enter the library's go.mod; vet keeps them compiling.
bench-vet:
	cd bench && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...

test-go:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

bench:
	cd bench && $(GO) test -run '^$$' -bench '$(or $(BENCH),.)' -timeout 60m $(or $(BENCHFLAGS),-benchtime 1x -slice 300ms -rounds 7)

# Short run of every fuzz target (each for FUZZTIME).
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

quickstart:
	$(GO) run ./examples/quickstart

# The corruption campaign, long: CORRUPT_FLIPS seeded byte flips per
# backend (a quarter aimed at index/branch pages); 0 wrong values allowed.
# Inside plain go test it runs 50 flips (10 with -short).
CORRUPT_FLIPS ?= 1000
CORRUPT_SEED ?= 1
corrupt:
	YOKEDCACHE_CORRUPT_FLIPS=$(CORRUPT_FLIPS) YOKEDCACHE_CORRUPT_SEED=$(CORRUPT_SEED) \
		$(GO) test -count=1 -timeout 60m -run '^TestCorruptionCampaign$$' -v ./backend/sqlite/ ./backend/disk/
