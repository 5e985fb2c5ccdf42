package memory

import "math"

// W-TinyLFU, one instance per shard, every method called with the shard
// lock held. The layout follows Einziger, Friedman & Manes, "TinyLFU: A
// Highly Efficient Cache Admission Policy" (2017) and Caffeine's adaptive
// window ("Adaptive Software Cache Management", Middleware 2018):
//
//   - window: the shard's main list, an LRU that every new entry enters;
//   - probation and protected: a segmented LRU holding the rest; a hit in
//     probation promotes to protected, whose overflow is demoted back to
//     the front of probation;
//   - when the store is full and the window is at its target size, the
//     window's LRU entry (the candidate) competes with probation's LRU
//     entry (the victim): the one the sketch estimates less frequent is
//     evicted;
//   - the window's target size is moved by hill climbing: every sample of
//     10 × capacity requests, keep the direction of the last step if the
//     hit ratio improved, reverse it otherwise; steps decay, and restart
//     at full size when the hit ratio changes sharply (a new workload).

const (
	climberStep      = 0.0625 // first and restart step, fraction of capacity
	climberDecay     = 0.98   // step multiplier while the hit ratio is stable
	climberRestart   = 0.05   // hit-ratio change that restarts the steps
	protectedShare   = 0.80   // protected segment's share of the main space
	initialWindow    = 0.01   // window's initial share of the shard
	admitFloor       = 5      // a candidate at most this frequent never wins a tie
	sketchResetRatio = 10     // sketch halves after this × capacity increments
)

type tinyLFU struct {
	probation, protected list
	sketch               sketch
	capacity             int     // nominal entries of the shard
	window               float64 // target window size, in entries
	windowMax            int
	protectedMax         int
	// hill climber
	hits, misses int
	sample       int
	prevRate     float64
	step         float64
	// lastMiss is the hash of the last key that missed. A Set of that key
	// right after (cache-aside) does not count the access a second time.
	lastMiss uint64
	rng      uint64 // xorshift state for the admission tie-breaker
	tick     uint64 // moves to the front of protected (see access)
}

func newTinyLFU(capacity int, seed uint64) *tinyLFU {
	capacity = max(capacity, 1)
	t := &tinyLFU{
		capacity: capacity,
		sample:   sketchResetRatio * capacity,
		window:   math.Max(1, initialWindow*float64(capacity)),
		step:     -climberStep * float64(capacity),
		rng:      seed*0x9E3779B97F4A7C15 | 1,
	}
	t.probation.init()
	t.protected.init()
	t.sketch.init(capacity)
	t.resize()
	return t
}

func (t *tinyLFU) resize() {
	t.windowMax = max(1, int(t.window))
	t.protectedMax = int(protectedShare * float64(max(t.capacity-t.windowMax, 0)))
}

// onInsert records a new entry: it enters the front of the window, and
// the window's overflow moves to probation (without competing: the store
// made room before the insert).
func (t *tinyLFU) onInsert(sh *shard, e *entry) {
	if e.hash != t.lastMiss {
		t.sketch.increment(e.hash)
	}
	t.lastMiss = 0
	e.q = qMain
	sh.main.pushFront(e)
	t.fitWindow(sh)
}

// onHit records a read hit on e.
func (t *tinyLFU) onHit(sh *shard, e *entry) {
	t.sketch.increment(e.hash)
	t.hits++
	t.access(sh, e)
	t.climb(sh)
}

// onWrite records a write to the existing entry e.
func (t *tinyLFU) onWrite(sh *shard, e *entry) {
	t.sketch.increment(e.hash)
	t.access(sh, e)
}

// onMiss records a read of a key the shard does not hold.
func (t *tinyLFU) onMiss(sh *shard, h uint64) {
	t.sketch.increment(h)
	t.misses++
	t.lastMiss = h
	t.climb(sh)
}

func (t *tinyLFU) access(sh *shard, e *entry) {
	switch e.q {
	case qMain:
		sh.main.moveToFront(e)
	case qProbation:
		t.probation.unlink(e)
		e.q = qProtected
		t.tick++
		e.promoted = t.tick
		t.protected.pushFront(e)
		t.fitProtected()
	case qProtected:
		// Lazy promotion, as in the LRU: an entry still in the most
		// recent quarter of the protected segment stays where it is.
		if t.tick-e.promoted >= uint64(t.protectedMax/4) {
			t.tick++
			e.promoted = t.tick
			t.protected.moveToFront(e)
		}
	}
}

// fitWindow moves the window's overflow to the front of probation.
func (t *tinyLFU) fitWindow(sh *shard) {
	for sh.main.n > t.windowMax {
		c := sh.main.back()
		sh.main.unlink(c)
		c.q = qProbation
		t.probation.pushFront(c)
	}
}

// fitProtected demotes the protected segment's overflow to probation.
func (t *tinyLFU) fitProtected() {
	for t.protected.n > t.protectedMax {
		d := t.protected.back()
		t.protected.unlink(d)
		d.q = qProbation
		t.probation.pushFront(d)
	}
}

// victim returns the entry to evict to make room for one more, or nil if
// the shard is empty. When the window is at its target size, its LRU
// entry competes with the main space's: the loser is the victim, and an
// admitted candidate moves to probation.
func (t *tinyLFU) victim(sh *shard) *entry {
	cand := sh.main.back()
	v := t.probation.back()
	if v == nil {
		v = t.protected.back()
	}
	switch {
	case cand == nil:
		return v
	case v == nil:
		return cand
	case sh.main.n < t.windowMax:
		// The window is below its target (it just grew): take room
		// from the main space.
		return v
	}
	if t.admit(cand.hash, v.hash) {
		sh.main.unlink(cand)
		cand.q = qProbation
		t.probation.pushFront(cand)
		return v
	}
	return cand
}

// admit reports whether the candidate should replace the victim: it must
// be estimated more frequent. A tie or a loss is occasionally admitted
// anyway when the candidate is warm, so that an attacker who knows the
// sketch's collisions cannot pin a victim in place.
func (t *tinyLFU) admit(cand, victim uint64) bool {
	cf, vf := t.sketch.frequency(cand), t.sketch.frequency(victim)
	if cf > vf {
		return true
	}
	if cf <= admitFloor {
		return false
	}
	t.rng ^= t.rng << 13
	t.rng ^= t.rng >> 7
	t.rng ^= t.rng << 17
	return t.rng&127 == 0
}

// climb adjusts the window's target size once per sample.
func (t *tinyLFU) climb(sh *shard) {
	n := t.hits + t.misses
	if n < t.sample {
		return
	}
	rate := float64(t.hits) / float64(n)
	change := rate - t.prevRate
	amount := t.step
	if change < 0 {
		amount = -amount
	}
	if math.Abs(change) >= climberRestart {
		t.step = math.Copysign(climberStep*float64(t.capacity), amount)
	} else {
		t.step = climberDecay * amount
	}
	t.prevRate = rate
	t.hits, t.misses = 0, 0
	t.window = min(max(t.window+amount, 1), float64(max(t.capacity-1, 1)))
	t.resize()
	t.fitWindow(sh)
	t.fitProtected()
}

// sketch is a count-min sketch of 4-bit counters, sixteen to a word.
// A key's four counters (one per row) all lie in one 64-byte block of
// eight words, chosen by the key's hash, so an update touches one cache
// line; within the block, row i uses word 2i or 2i+1 and one of its
// sixteen counters, chosen by other bits of the hash. Increments are
// conservative (only the counters at the minimum grow), and after resetAt
// increments every counter is halved so that past popularity fades.
type sketch struct {
	table     []uint64
	shift     uint // 64 - log2(number of blocks): the top bits pick a block
	additions int
	resetAt   int
}

func (s *sketch) init(capacity int) {
	n, bits := 16, uint(1) // words, log2(blocks)
	for n < capacity {
		n *= 2
		bits++
	}
	s.table = make([]uint64, n)
	s.shift = 64 - bits
	s.resetAt = sketchResetRatio * capacity
}

// mix is a 64-bit finalizer (from MurmurHash3): every output bit depends
// on every input bit. The shard index uses the hash's low bits, so the
// sketch must not use them directly.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// slots returns the word index and bit offset of h's counter in each row.
func (s *sketch) slots(h uint64) (w [4]int, off [4]uint) {
	x := mix(h)
	block := int(x>>s.shift) << 3
	y := x * 0x9E3779B97F4A7C15 // the low bits of x, spread out again
	for i := range w {
		b := y >> (8*i + 32)
		w[i] = block + 2*i + int(b&1)
		off[i] = uint((b>>1)&15) << 2
	}
	return w, off
}

func (s *sketch) frequency(h uint64) uint64 {
	w, off := s.slots(h)
	f := uint64(15)
	for i := range w {
		f = min(f, (s.table[w[i]]>>off[i])&15)
	}
	return f
}

func (s *sketch) increment(h uint64) {
	w, off := s.slots(h)
	f := uint64(15)
	for i := range w {
		f = min(f, (s.table[w[i]]>>off[i])&15)
	}
	if f == 15 {
		return
	}
	for i := range w {
		// Re-read: two rows never share a word, but stay safe if they did.
		if (s.table[w[i]]>>off[i])&15 == f {
			s.table[w[i]] += 1 << off[i]
		}
	}
	s.additions++
	if s.additions >= s.resetAt {
		for i, v := range s.table {
			s.table[i] = (v >> 1) & 0x7777777777777777
		}
		s.additions /= 2
	}
}
