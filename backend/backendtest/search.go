package backendtest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/yokedcache/yokedcache"
)

// checkResults asserts the invariants of every FuzzySearch answer: at most
// max results, scores within [threshold, 100], best first, no duplicates,
// values that decode to what was stored under the key.
func (e *env) checkResults(rs []yokedcache.SearchResult, threshold, max int, stored map[string]string) {
	e.t.Helper()
	if len(rs) > max {
		e.Fatalf("FuzzySearch returned %d results; want at most %d", len(rs), max)
	}
	seen := map[string]bool{}
	for i, r := range rs {
		if r.Score < threshold || r.Score > 100 {
			e.Fatalf("result %q has score %d; want %d..100", r.Key, r.Score, threshold)
		}
		if i > 0 && rs[i-1].Score < r.Score {
			e.Fatalf("results not best first: %q (%d) before %q (%d)", rs[i-1].Key, rs[i-1].Score, r.Key, r.Score)
		}
		if seen[r.Key] {
			e.Fatalf("result %q appears twice", r.Key)
		}
		seen[r.Key] = true
		want, ok := stored[r.Key]
		if !ok {
			e.Fatalf("result %q is not a live user key of this cache", r.Key)
		}
		var got string
		if err := r.Decode(&got); err != nil || got != want {
			e.Fatalf("result %q value = %q, %v; want %q", r.Key, got, err, want)
		}
	}
}

func resultKeys(rs []yokedcache.SearchResult) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Key
	}
	return out
}

func (e *env) search(q string, opts ...yokedcache.SearchOption) []yokedcache.SearchResult {
	e.t.Helper()
	rs, err := e.c.FuzzySearch(e.ctx, q, opts...)
	if err != nil {
		e.Fatalf("FuzzySearch(%q): %v", q, err)
	}
	return rs
}

func searchLeaves() []leaf {
	stored := map[string]string{
		"user:alice": "A", "user:alicia": "B", "user:bob": "C", "product:apple": "D",
		"Alice Smith": "E", "order:ALICE:1": "F", "zzz": "G",
	}
	exact := []string{"user:alice", "Alice Smith", "order:ALICE:1"} // contain "alice"
	setAll := func(e *env, opts map[string][]yokedcache.SetOption) {
		for k, v := range stored {
			e.set(e.c, k, v, opts[k]...)
		}
	}
	return []leaf{
		{
			name:   "FuzzySearch returns matches above the threshold best first with values",
			clause: "FuzzySearch(query, threshold=80, maxResults=10, tags...) scores user keys 0–100 like fuzzywuzzy's partial_ratio with its default processing (lower-case, non-alphanumerics to spaces), returns matches with score ≥ threshold, best first, with their values.",
			run: func(e *env) {
				e.needScan()
				setAll(e, nil)
				rs := e.search("alice")
				e.checkResults(rs, 80, 10, stored)
				got := resultKeys(rs)
				for _, k := range exact {
					if !slices.Contains(got, k) {
						e.Fatalf("FuzzySearch(\"alice\") = %q; want it to include %q (score 100: lower-cased substring)", got, k)
					}
				}
				// partial_ratio("alice", "user alicia") is 80: the best
				// 5-rune window "alici" differs in one rune.
				if want := append(sorted(exact), "user:alicia"); !slices.Equal(sorted(got), sorted(want)) {
					e.Fatalf("FuzzySearch(\"alice\") = %q; want %q", sorted(got), sorted(want))
				}
				for _, r := range rs {
					if r.Key == "user:alicia" && r.Score != 80 {
						e.Fatalf("%q scores %d for \"alice\"; want 80 (fuzzywuzzy partial_ratio)", r.Key, r.Score)
					}
					if slices.Contains(exact, r.Key) && r.Score != 100 {
						e.Fatalf("%q scores %d for \"alice\"; want 100", r.Key, r.Score)
					}
					if r.Key == "user:bob" || r.Key == "zzz" {
						e.Fatalf("FuzzySearch(\"alice\") matched the unrelated key %q (score %d)", r.Key, r.Score)
					}
				}
				// Punctuation in the query is processed like in keys.
				e.checkResults(e.search("ALICE!!"), 80, 10, stored)
				if got := resultKeys(e.search("ALICE!!", yokedcache.WithThreshold(100))); !slices.Equal(sorted(got), sorted(exact)) {
					e.Fatalf("FuzzySearch(\"ALICE!!\", threshold 100) = %q; want %q", got, sorted(exact))
				}
				rs = e.search("alice", yokedcache.WithThreshold(100))
				e.checkResults(rs, 100, 10, stored)
				if !slices.Equal(sorted(resultKeys(rs)), sorted(exact)) {
					e.Fatalf("FuzzySearch(\"alice\", threshold 100) = %q; want %q", resultKeys(rs), sorted(exact))
				}
				rs = e.search("alice", yokedcache.WithMaxResults(2))
				e.checkResults(rs, 80, 2, stored)
				if len(rs) != 2 || rs[0].Score != 100 || rs[1].Score != 100 {
					e.Fatalf("FuzzySearch(\"alice\", max 2) = %v; want the 2 best (score 100)", rs)
				}
				rs = e.search("alice", yokedcache.WithThreshold(0), yokedcache.WithMaxResults(100))
				e.checkResults(rs, 0, 100, stored)
				if len(rs) != len(stored) {
					e.Fatalf("FuzzySearch with threshold 0 returned %d results; want every key (%d)", len(rs), len(stored))
				}
				if rs := e.search("qqqqqqqqqq"); len(rs) != 0 {
					e.Fatalf("FuzzySearch of an unrelated query = %q; want none", resultKeys(rs))
				}
				for _, bad := range []yokedcache.SearchOption{yokedcache.WithThreshold(-1), yokedcache.WithThreshold(101), yokedcache.WithMaxResults(0)} {
					if _, err := e.c.FuzzySearch(e.ctx, "alice", bad); err == nil {
						e.Fatalf("FuzzySearch with an out-of-range threshold or max results succeeded; want an error")
					}
				}
			},
		},
		{
			name:   "FuzzySearch filters by tag",
			clause: "Optional tag filter.",
			run: func(e *env) {
				e.needScan()
				e.needTags()
				setAll(e, map[string][]yokedcache.SetOption{
					"user:alice":  {yokedcache.WithTags("vip")},
					"Alice Smith": {yokedcache.WithTags("staff", "vip")},
					"user:bob":    {yokedcache.WithTags("vip")},
				})
				rs := e.search("alice", yokedcache.WithSearchTags("vip"))
				e.checkResults(rs, 80, 10, stored)
				if got := sorted(resultKeys(rs)); !slices.Equal(got, []string{"Alice Smith", "user:alice"}) {
					e.Fatalf("FuzzySearch(\"alice\", tag vip) = %q; want [Alice Smith user:alice]", got)
				}
				rs = e.search("alice", yokedcache.WithSearchTags("nobody", "staff"))
				if got := resultKeys(rs); !slices.Equal(got, []string{"Alice Smith"}) {
					e.Fatalf("FuzzySearch(\"alice\", tags nobody|staff) = %q; want [Alice Smith]", got)
				}
				_, err := e.c.InvalidateTags(e.ctx, "staff")
				e.must(err, "InvalidateTags")
				rs = e.search("alice", yokedcache.WithSearchTags("vip"))
				if got := resultKeys(rs); !slices.Equal(got, []string{"user:alice"}) {
					e.Fatalf("FuzzySearch(\"alice\", tag vip) after invalidating Alice Smith = %q; want [user:alice]", got)
				}
			},
		},
		{
			name:   "FuzzySearch sees only live keys of this cache",
			clause: "FuzzySearch(...) scores user keys",
			run: func(e *env) {
				e.needScan()
				setAll(e, nil)
				other := e.secondCache(e.prefix + "x")
				e.set(other, "alice:other", "X")
				defer func() { _ = other.Flush(e.ctx) }()
				_, err := e.c.Delete(e.ctx, "Alice Smith")
				e.must(err, "Delete")
				live := map[string]string{}
				for k, v := range stored {
					if k != "Alice Smith" {
						live[k] = v
					}
				}
				rs := e.search("alice", yokedcache.WithThreshold(0), yokedcache.WithMaxResults(100))
				e.checkResults(rs, 0, 100, live)
				if len(rs) != len(live) {
					e.Fatalf("FuzzySearch returned %d results; want the %d live keys", len(rs), len(live))
				}
			},
		},
		{
			name:   "FuzzySearch is bounded on large keyspaces",
			clause: "It is bounded in time and memory on large keyspaces (streaming, top-K).",
			run: func(e *env) {
				e.needScan()
				const n = 5000
				items := make(map[string]any, n)
				all := make(map[string]string, n)
				var with42 []string
				for i := range n {
					k := fmt.Sprintf("item-%05d", i) // one length: partial_ratio scores a shorter key that is a substring of the query 100 too
					items[k] = k
					all[k] = k
					if strings.Contains(k, "42") {
						with42 = append(with42, k)
					}
				}
				e.must(e.c.SetMany(e.ctx, items), "SetMany")
				rs := e.search("item-04242", yokedcache.WithMaxResults(3))
				e.checkResults(rs, 80, 3, all)
				if len(rs) == 0 || rs[0].Key != "item-04242" || rs[0].Score != 100 {
					e.Fatalf("FuzzySearch(\"item-04242\", max 3) = %v; want item-04242 (100) first", resultKeys(rs))
				}
				for _, r := range rs[1:] {
					if r.Score == 100 {
						e.Fatalf("FuzzySearch(\"item-04242\") scores %q 100; only the exact key should", r.Key)
					}
				}
				rs = e.search("42", yokedcache.WithMaxResults(3))
				e.checkResults(rs, 80, 3, all)
				if len(rs) != 3 {
					e.Fatalf("FuzzySearch(\"42\", max 3) over %d keys containing 42 returned %d results; want 3", len(with42), len(rs))
				}
				for _, r := range rs {
					if !slices.Contains(with42, r.Key) || r.Score != 100 {
						e.Fatalf("FuzzySearch(\"42\") returned %q (score %d); want keys containing 42, score 100", r.Key, r.Score)
					}
				}
			},
		},
	}
}
