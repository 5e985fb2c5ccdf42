package yokedcache

import (
	"container/heap"
	"context"
	"fmt"
	"sort"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/fuzzy"
)

// SearchResult is one FuzzySearch match.
type SearchResult struct {
	Key   string
	Score int // 0-100
	Value
}

// FuzzySearch scores every user key against query like fuzzywuzzy's
// partial_ratio after its default processing (lower-case,
// non-alphanumerics to spaces) and returns the matches with a score of at
// least the threshold (default 80), best first, at most maxResults
// (default 10), with their values. WithSearchTags keeps only entries that
// carry one of the tags. Keys are streamed and only the best maxResults
// are kept, so memory stays bounded on large keyspaces.
func (c *Cache) FuzzySearch(ctx context.Context, query string, opts ...SearchOption) (_ []SearchResult, err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startFanOut(ctx, "fuzzy_search", 0)
		defer func() { sp.End(outcome(err)) }()
	}
	o := searchOptions{threshold: 80, maxResults: 10}
	for _, f := range opts {
		f(&o)
	}
	if o.threshold < 0 || o.threshold > 100 || o.maxResults <= 0 {
		return nil, opError("fuzzy_search", "", fmt.Errorf("threshold must be 0-100 and max results > 0: %w", ErrInvalidValue))
	}
	if len(query) > MaxKeyLength {
		return nil, opError("fuzzy_search", "", fmt.Errorf("query of %d bytes exceeds %d: %w", len(query), MaxKeyLength, ErrInvalidValue))
	}
	if fuzzy.Process(query) == "" {
		return nil, opError("fuzzy_search", "", fmt.Errorf("query %q has no letters or digits: %w", query, ErrInvalidValue))
	}
	tags, err := validTags(o.tags)
	if err != nil {
		return nil, opError("fuzzy_search", "", err)
	}
	if err := c.check(ctx); err != nil {
		return nil, opError("fuzzy_search", "", err)
	}
	if c.rt.def.mem.sc == nil && !c.rt.routed {
		return nil, opError("fuzzy_search", "", backend.Unsupported(c.rt.def.mem.name, "fuzzy search", "the backend cannot enumerate keys"))
	}
	m := fuzzy.NewMatcher(query)
	top := &resultHeap{}
	var pending []candidate // candidates awaiting a tag check
	consider := func(cands []candidate) error {
		vals, err := c.getCandidates(ctx, cands)
		if err != nil {
			return err
		}
		for i, cd := range cands {
			v, ok := vals[i]
			if !ok || (len(tags) > 0 && !hasAnyTag(v.Tags(), tags)) {
				continue
			}
			pushTop(top, SearchResult{Key: cd.key, Score: cd.score, Value: v}, o.maxResults)
		}
		return nil
	}
	for k, err := range c.Keys(ctx, "*") {
		if err != nil {
			return nil, err
		}
		s, ok := m.ScoreAtLeast(k, o.threshold)
		if !ok {
			continue
		}
		if top.Len() == o.maxResults && !better(s, k, (*top)[0].Score, (*top)[0].Key) {
			continue
		}
		if len(tags) == 0 {
			// Values are read once the best keys are known.
			pushTop(top, SearchResult{Key: k, Score: s}, o.maxResults)
			continue
		}
		pending = append(pending, candidate{k, s})
		if len(pending) == backend.BatchChunk {
			if err := consider(pending); err != nil {
				return nil, opError("fuzzy_search", "", err)
			}
			pending = pending[:0]
		}
	}
	if len(tags) > 0 {
		if err := consider(pending); err != nil {
			return nil, opError("fuzzy_search", "", err)
		}
	}
	out := make([]SearchResult, 0, top.Len())
	if len(tags) == 0 {
		cands := make([]candidate, top.Len())
		for i, r := range *top {
			cands[i] = candidate{r.Key, r.Score}
		}
		vals, err := c.getCandidates(ctx, cands)
		if err != nil {
			return nil, opError("fuzzy_search", "", err)
		}
		for i, cd := range cands {
			if v, ok := vals[i]; ok { // expired since listed: left out
				out = append(out, SearchResult{Key: cd.key, Score: cd.score, Value: v})
			}
		}
	} else {
		out = append(out, *top...)
	}
	sortResults(out)
	return out, nil
}

type candidate struct {
	key   string
	score int
}

func (c *Cache) getCandidates(ctx context.Context, cands []candidate) (map[int]Value, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	keys := make([]string, len(cands))
	for i, cd := range cands {
		keys[i] = cd.key
	}
	raws, err := c.getRaw(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[int]Value, len(raws))
	for i, raw := range raws {
		if raw == nil {
			continue
		}
		env, err := c.decodeEnvelope(cands[i].key, raw)
		if err != nil {
			continue
		}
		out[i] = Value{c: c, key: cands[i].key, env: env}
	}
	return out, nil
}

func hasAnyTag(have, want []string) bool {
	for _, w := range want {
		for _, h := range have {
			if h == w {
				return true
			}
		}
	}
	return false
}

// better orders results: higher score first, then smaller key.
func better(s1 int, k1 string, s2 int, k2 string) bool {
	if s1 != s2 {
		return s1 > s2
	}
	return k1 < k2
}

// resultHeap is a min-heap of the current best results (worst on top).
type resultHeap []SearchResult

func (h resultHeap) Len() int           { return len(h) }
func (h resultHeap) Less(i, j int) bool { return better(h[j].Score, h[j].Key, h[i].Score, h[i].Key) }
func (h resultHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *resultHeap) Push(x any)        { *h = append(*h, x.(SearchResult)) }
func (h *resultHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func pushTop(h *resultHeap, r SearchResult, max int) {
	if h.Len() < max {
		heap.Push(h, r)
		return
	}
	if better(r.Score, r.Key, (*h)[0].Score, (*h)[0].Key) {
		(*h)[0] = r
		heap.Fix(h, 0)
	}
}

// sortResults orders fuzzy results best first, then by key.
func sortResults(rs []SearchResult) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Score != rs[j].Score {
			return rs[i].Score > rs[j].Score
		}
		return rs[i].Key < rs[j].Key
	})
}
