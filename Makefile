# yokedcache — common tasks.
#   make test   installs the test servers if missing (scripts/test-deps.sh),
#               then vet + the whole suite with the race detector.
#   make bench  runs every benchmark once (see docs/benchmarks.md).
#   make corrupt  the long byte-flip corruption campaign of the sqlite and
#               disk backends (CORRUPT_FLIPS flips each, seed CORRUPT_SEED).

GO ?= go
PKGS ?= ./...
TEST_TIMEOUT ?= 20m

.PHONY: test deps vet test-go bench fuzz quickstart corrupt

test: deps vet test-go

deps:
	@bash scripts/test-deps.sh

vet:
	$(GO) vet $(PKGS)

test-go:
	$(GO) test -race -timeout $(TEST_TIMEOUT) $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

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
