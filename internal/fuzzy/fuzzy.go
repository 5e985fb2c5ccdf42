// Package fuzzy scores how well a search query matches a cache key, with
// the same 0–100 numbers as the Python original's fuzzy search.
//
// # What is replicated
//
// Scores follow fuzzywuzzy 0.18's partial_ratio with its default
// processing, i.e. what process.extract(query, keys,
// scorer=fuzz.partial_ratio) computes for each key:
//
//	fuzz.partial_ratio(utils.full_process(query), utils.full_process(key))
//
// (fuzz.partial_ratio itself does not process its arguments;
// process.extractWithoutOrder applies the default processor,
// utils.full_process, to the query and to every choice first). [Process]
// is utils.full_process: each rune that Python's `\W` matches becomes a
// space (so letters, digits and '_' stay), then str.lower, then str.strip.
// [PartialRatio] is the whole expression, computed as fuzzywuzzy does when
// python-Levenshtein is installed:
//
//   - fuzz.partial_ratio returns 100 for equal strings (two empty strings
//     included) and 0 when exactly one is empty.
//   - Otherwise it takes the shorter string s (the first argument when the
//     lengths are equal) and the longer l, and asks Levenshtein's
//     StringMatcher(s, l) for its matching blocks: python-Levenshtein finds
//     one optimal unit-cost edit script (common prefix and suffix stripped,
//     then a cost matrix walked back from the end with its particular
//     preference order), turns it into opcodes and reports the "equal"
//     opcodes, followed by the dummy block (len(s), len(l), 0).
//   - For every block (i, j, _) it compares s with the window of l that
//     starts at max(j-i, 0) and is len(s) runes long (shorter at the end of
//     l), using Levenshtein.ratio: (lensum - d) / lensum where d is the
//     edit distance with substitutions costing 2, i.e. 2·LCS / lensum.
//   - A window with ratio > 0.995 scores 100 at once; otherwise the score
//     is int(round(100 * best)), with Python 3's round-half-to-even.
//
// Strings are compared rune by rune (Python compares code points).
//
// # Differences from Python
//
// Character classes and case mapping come from Go's unicode tables
// (Unicode 15.0, the version of Python 3.12). Python 3.11 uses Unicode 14.0,
// so there, runes first assigned in 15.0 count as non-alphanumeric. Invalid
// UTF-8 bytes (which a Python str cannot hold) count as U+FFFD and so become
// spaces.
//
// # Cost
//
// The edit script needs the full unit-cost matrix of s and l (after the
// common prefix and suffix are stripped), as in python-Levenshtein. When s
// has at most 64 runes the matrix is kept as two bit vectors per rune of l
// (bit-parallel, time and memory linear in len(l)) from which cells are
// recovered exactly; otherwise it is a plain matrix of len(s)·len(l) cells
// (2 bytes each, 4 beyond 64Ki runes). The windows are compared with a
// bit-parallel LCS. Callers should bound the query length; keys are bounded
// by the key maximum. [Matcher.ScoreAtLeast] skips the edit script for
// keys that provably score below a threshold.
package fuzzy

import (
	"math"
	"math/bits"
	"slices"
	"sync"
	"unicode/utf8"
)

// PartialRatio returns fuzz.partial_ratio(full_process(query),
// full_process(key)) as fuzzywuzzy with python-Levenshtein computes it: a
// score from 0 to 100. See the package documentation for the details.
// To score many keys against one query, use a [Matcher].
func PartialRatio(query, key string) int {
	return NewMatcher(query).Score(key)
}

// Matcher scores keys against one query. It processes the query once and
// reuses its scratch buffers, so scoring a key allocates nothing in the
// steady state. A Matcher is safe for concurrent use; it must not be
// copied after first use.
type Matcher struct {
	query string
	q     []rune
	pat   pattern
	pool  sync.Pool // *scratch
}

// NewMatcher returns a Matcher for query.
func NewMatcher(query string) *Matcher {
	q := appendProcessed(nil, query)
	m := &Matcher{query: string(q), q: q}
	m.pat.build(q)
	return m
}

// Query returns the processed query ([Process] of the query given to
// NewMatcher).
func (m *Matcher) Query() string { return m.query }

// Score returns PartialRatio(query, key) for the Matcher's query.
func (m *Matcher) Score(key string) int {
	score, _ := m.ScoreAtLeast(key, 0)
	return score
}

// ScoreAtLeast is Score for callers that only want keys scoring at least
// min (a search threshold). When the key scores min or more it returns the
// exact score and true. Otherwise it returns false and a score that is
// only an upper bound: a cheap bound (from the longest common subsequence
// of the whole strings) lets it skip the full computation for most keys
// that cannot reach min.
func (m *Matcher) ScoreAtLeast(key string, min int) (score int, ok bool) {
	sc, _ := m.pool.Get().(*scratch)
	if sc == nil {
		sc = new(scratch)
	}
	sc.key = appendProcessed(sc.key[:0], key)
	score, ok = sc.score(m.q, sc.key, &m.pat, min)
	if sc.small() {
		m.pool.Put(sc)
	}
	return score, ok
}

// maxPooledBytes bounds the scratch memory kept for reuse; bigger buffers
// (from unusually long strings) are left to the garbage collector.
const maxPooledBytes = 4 << 20

// scratch holds the per-call buffers.
type scratch struct {
	key    []rune
	mat16  []uint16
	mat32  []int32
	ops    []editOp
	starts []int
	keyPat pattern
	v      []uint64
	vp, vn []uint64
	noBits bool // tests: always use the plain cost matrix
}

func (sc *scratch) small() bool {
	return 2*cap(sc.mat16)+4*cap(sc.mat32)+4*cap(sc.key)+16*cap(sc.vp) <= maxPooledBytes
}

// score computes the partial ratio of the processed query q and key k; pat
// holds the bit masks of q. Below min, the score may be an upper bound.
func (sc *scratch) score(q, k []rune, pat *pattern, minScore int) (int, bool) {
	if slices.Equal(q, k) {
		return 100, 100 >= minScore
	}
	if len(q) == 0 || len(k) == 0 {
		return 0, minScore <= 0
	}
	s, l := q, k
	if len(q) > len(k) {
		s, l = k, q
		sc.keyPat.build(k)
		pat = &sc.keyPat
	}
	n := len(s)
	if minScore > 0 {
		// Every window w of l has LCS(s, w) = a <= L = LCS(s, l) and
		// a <= len(w), so its ratio 2a/(n+len(w)) <= 2a/(n+a) <= 2L/(n+L).
		// Float division, scaling and rounding are monotonic, so the bound
		// carries over to the computed score.
		lcs := sc.lcs(pat, l)
		ub := toScore(float64(2*lcs) / float64(n+lcs))
		if ub < minScore {
			return ub, false
		}
	}
	sc.matchingBlockStarts(s, l, pat)
	best := 0.0
	for _, start := range sc.starts {
		end := min(start+n, len(l))
		win := l[start:end]
		lensum := n + len(win)
		r := float64(2*sc.lcs(pat, win)) / float64(lensum)
		if r > .995 {
			return 100, 100 >= minScore
		}
		best = max(best, r)
	}
	score := toScore(best)
	return score, score >= minScore
}

// toScore turns a best ratio into fuzzywuzzy's score: 100 above 0.995,
// else int(round(100 * r)) with round-half-to-even.
func toScore(r float64) int {
	if r > .995 {
		return 100
	}
	return int(math.RoundToEven(100 * r))
}

type editType uint8

const (
	opReplace editType = iota
	opInsert
	opDelete
)

type editOp struct {
	typ        editType
	spos, dpos int
}

// matchingBlockStarts sets sc.starts to the distinct window starts
// max(j-i, 0) of the matching blocks python-Levenshtein reports for
// (s, l), the dummy block (len(s), len(l), 0) included.
func (sc *scratch) matchingBlockStarts(s, l []rune, pat *pattern) {
	sc.starts = sc.starts[:0]
	n, m := len(s), len(l)
	ops := sc.editops(s, l, pat)
	// Walk the edit script; the gaps between edit operations are the
	// "equal" opcodes, i.e. the matching blocks.
	spos, dpos := 0, 0
	for _, o := range ops {
		if spos < o.spos || dpos < o.dpos {
			sc.addStart(dpos - spos)
			spos, dpos = o.spos, o.dpos
		}
		switch o.typ {
		case opReplace:
			spos++
			dpos++
		case opDelete:
			spos++
		case opInsert:
			dpos++
		}
	}
	if spos < n || dpos < m {
		sc.addStart(dpos - spos)
	}
	sc.addStart(m - n)
}

func (sc *scratch) addStart(d int) {
	d = max(d, 0)
	if !slices.Contains(sc.starts, d) {
		sc.starts = append(sc.starts, d)
	}
}

// editops replicates python-Levenshtein's lev_u_editops_find: the edit
// operations (without keeps) turning s into l, in order. pat holds the
// masks of s.
func (sc *scratch) editops(s, l []rune, pat *pattern) []editOp {
	// Strip the common prefix and suffix.
	off := 0
	for off < len(s) && off < len(l) && s[off] == l[off] {
		off++
	}
	s1, s2 := s[off:], l[off:]
	for len(s1) > 0 && len(s2) > 0 && s1[len(s1)-1] == s2[len(s2)-1] {
		s1, s2 = s1[:len(s1)-1], s2[:len(s2)-1]
	}
	if pat.words == 1 && !sc.noBits {
		return sc.editopsBits(pat, s1, s2, off)
	}
	cells := (len(s1) + 1) * (len(s2) + 1)
	if max(len(s1), len(s2)) < math.MaxUint16 { // every cell value, plus one, fits
		if cap(sc.mat16) < cells {
			sc.mat16 = make([]uint16, cells)
		}
		return editopsDP(sc, sc.mat16[:cells], s1, s2, off)
	}
	if cap(sc.mat32) < cells {
		sc.mat32 = make([]int32, cells)
	}
	return editopsDP(sc, sc.mat32[:cells], s1, s2, off)
}

// editopsDP fills the unit-cost matrix of s1 (rows) and s2 (columns),
// the strings left after stripping off common leading runes and the common
// suffix, as python-Levenshtein does, and walks it back into edit
// operations. T must hold values up to max(len(s1), len(s2)) + 1.
func editopsDP[T uint16 | int32](sc *scratch, mat []T, s1, s2 []rune, off int) []editOp {
	len1, len2 := len(s1)+1, len(s2)+1
	for j := range len2 {
		mat[j] = T(j)
	}
	for i := 1; i < len1; i++ {
		prev := mat[(i-1)*len2 : i*len2]
		row := mat[i*len2 : (i+1)*len2]
		row[0] = T(i)
		c1 := s1[i-1]
		x := T(i)
		for j := 1; j < len2; j++ {
			c3 := prev[j-1]
			if c1 != s2[j-1] {
				c3++
			}
			x++
			if x > c3 {
				x = c3
			}
			if up := prev[j] + 1; x > up {
				x = up
			}
			row[j] = x
		}
	}
	return sc.backtrack(s1, s2, off, func(i, j int) int { return int(mat[i*len2+j]) })
}

// editopsBits computes the same cost matrix as editopsDP for
// len(s1) <= 64 with the bit-parallel algorithm of Myers (in Hyyrö's
// formulation for the global distance): per column j it keeps the vertical
// differences D[i+1][j]-D[i][j] as bit vectors, from which any cell is
// D[i][j] = j + (+1 bits below i) - (-1 bits below i).
func (sc *scratch) editopsBits(pat *pattern, s1, s2 []rune, off int) []editOp {
	n := len(s1)
	rows := lowBits(n)
	cols := len(s2) + 1
	if cap(sc.vp) < cols {
		sc.vp = make([]uint64, cols)
		sc.vn = make([]uint64, cols)
	}
	vpc, vnc := sc.vp[:cols], sc.vn[:cols]
	vp, vn := rows, uint64(0)
	vpc[0], vnc[0] = vp, vn
	for j, c := range s2 {
		// Masks of s1 = s[off:off+n] are those of s shifted by off.
		eq := (pat.masks[pat.slot(c)] >> off) & rows
		xv := eq | vn
		xh := (((eq & vp) + vp) ^ vp) | eq
		hp := vn | ^(xh | vp)
		hn := vp & xh
		hp = hp<<1 | 1 // the top row grows by one per column
		hn <<= 1
		vp = hn | ^(xv | hp)
		vn = hp & xv
		vpc[j+1], vnc[j+1] = vp, vn
	}
	return sc.backtrack(s1, s2, off, func(i, j int) int {
		m := lowBits(i)
		return j + bits.OnesCount64(vpc[j]&m) - bits.OnesCount64(vnc[j]&m)
	})
}

// lowBits returns a mask of the n low bits, 0 <= n <= 64.
func lowBits(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

// backtrack walks the cost matrix D (given by at) of s1 and s2 back from
// the end as python-Levenshtein's editops_from_cost_matrix does:
// preferring to continue in the same direction, then a keep, then a
// replace, then an insert, then a delete. Positions are offset by off.
func (sc *scratch) backtrack(s1, s2 []rune, off int, at func(i, j int) int) []editOp {
	i, j := len(s1), len(s2)
	cur := at(i, j)
	dist := cur
	if cap(sc.ops) < dist {
		sc.ops = make([]editOp, dist)
	}
	ops := sc.ops[:dist]
	pos := dist
	dir := 0
	for i > 0 || j > 0 {
		var left, up, diag int
		if j > 0 {
			left = at(i, j-1)
		}
		if i > 0 {
			up = at(i-1, j)
		}
		if i > 0 && j > 0 {
			diag = at(i-1, j-1)
		}
		switch {
		case dir < 0 && j > 0 && cur == left+1:
			pos--
			j--
			ops[pos] = editOp{opInsert, i + off, j + off}
			cur = left
		case dir > 0 && i > 0 && cur == up+1:
			pos--
			i--
			ops[pos] = editOp{opDelete, i + off, j + off}
			cur = up
		case i > 0 && j > 0 && cur == diag && s1[i-1] == s2[j-1]:
			i--
			j--
			dir = 0
			cur = diag
		case i > 0 && j > 0 && cur == diag+1:
			pos--
			i--
			j--
			ops[pos] = editOp{opReplace, i + off, j + off}
			dir = 0
			cur = diag
		case dir == 0 && j > 0 && cur == left+1:
			pos--
			j--
			ops[pos] = editOp{opInsert, i + off, j + off}
			dir = -1
			cur = left
		case dir == 0 && i > 0 && cur == up+1:
			pos--
			i--
			ops[pos] = editOp{opDelete, i + off, j + off}
			dir = 1
			cur = up
		default:
			// Unreachable for a consistent cost matrix (python-Levenshtein
			// asserts here). Stop rather than loop.
			return ops[pos:]
		}
	}
	return ops
}

// pattern holds the bit-parallel LCS masks of a string: bit i of a rune's
// mask is set when the string has that rune at position i.
type pattern struct {
	n     int
	words int
	ascii [utf8.RuneSelf]int32 // slot of an ASCII rune; 0 is the empty mask
	runes []runeSlot           // non-ASCII runes, sorted
	masks []uint64             // slot k: masks[k*words : (k+1)*words]
}

type runeSlot struct {
	r    rune
	slot int32
}

func (p *pattern) build(s []rune) {
	p.n = len(s)
	p.words = (len(s) + 63) / 64
	p.ascii = [utf8.RuneSelf]int32{}
	p.runes = p.runes[:0]
	p.masks = append(p.masks[:0], make([]uint64, p.words)...) // slot 0
	for i, r := range s {
		slot := p.slot(r)
		if slot == 0 {
			slot = int32(len(p.masks) / p.words)
			p.masks = append(p.masks, make([]uint64, p.words)...)
			if r < utf8.RuneSelf {
				p.ascii[r] = slot
			} else {
				k, _ := slices.BinarySearchFunc(p.runes, r, cmpSlot)
				p.runes = slices.Insert(p.runes, k, runeSlot{r, slot})
			}
		}
		p.masks[int(slot)*p.words+i/64] |= 1 << (i % 64)
	}
}

func cmpSlot(e runeSlot, r rune) int {
	switch {
	case e.r < r:
		return -1
	case e.r > r:
		return 1
	}
	return 0
}

func (p *pattern) slot(r rune) int32 {
	if r >= 0 && r < utf8.RuneSelf {
		return p.ascii[r]
	}
	if k, ok := slices.BinarySearchFunc(p.runes, r, cmpSlot); ok {
		return p.runes[k].slot
	}
	return 0
}

// lcs returns the length of the longest common subsequence of the pattern
// string and text (Allison–Dix / Hyyrö bit-parallel algorithm).
func (sc *scratch) lcs(p *pattern, text []rune) int {
	if p.words == 1 {
		v := ^uint64(0)
		for _, r := range text {
			m := p.masks[p.slot(r)]
			u := v & m
			v = (v + u) | (v &^ m)
		}
		return bits.OnesCount64(^v & (^uint64(0) >> (64 - p.n)))
	}
	w := p.words
	if cap(sc.v) < w {
		sc.v = make([]uint64, w)
	}
	v := sc.v[:w]
	for k := range v {
		v[k] = ^uint64(0)
	}
	for _, r := range text {
		ms := p.masks[int(p.slot(r))*w : int(p.slot(r))*w+w]
		var carry uint64
		for k, m := range ms {
			u := v[k] & m
			var sum uint64
			sum, carry = bits.Add64(v[k], u, carry)
			v[k] = sum | (v[k] &^ m)
		}
	}
	count := 0
	for k := 0; k < w-1; k++ {
		count += bits.OnesCount64(^v[k])
	}
	rest := p.n - 64*(w-1)
	count += bits.OnesCount64(^v[w-1] & (^uint64(0) >> (64 - rest)))
	return count
}
