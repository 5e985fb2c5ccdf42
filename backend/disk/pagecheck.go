package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// checkPages validates the structure of the bbolt file at path before
// bbolt walks it, reading it with pread rather than through bbolt's
// memory map, so that a damaged file can neither fault nor hang the
// process:
//
//   - bbolt's consistency check (tx.Check) runs on a goroutine of its
//     own, where a read outside the map (a key size pointing past the
//     file) is a fault no recover can catch, and it loops over every page
//     a page header claims (an overflow count of 4 billion hangs it);
//   - opening for writing reads the freelist page, whose count sizes an
//     allocation.
//
// It checks that the meta page bbolt will use names a root and freelist
// within the file, that every page reachable from the root (through
// branch pages and buckets, inline buckets included) is a branch or leaf
// page with its own id, within the file, reached once, with its overflow
// pages within the file, its element table and every key and value within
// the page, and that the freelist page and the ids it lists are within
// the file. Key order and free-page accounting are left to tx.Check,
// which can check them safely once this has passed.
//
// pageSize is the page size bbolt read from the file. The caller holds
// the file's lock.
func checkPages(path string, pageSize int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("disk: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("disk: stat %s: %w", path, err)
	}
	c := &pageChecker{f: f, ps: uint64(pageSize), size: uint64(fi.Size())}
	if err := c.check(); err != nil {
		var ce *corruptionError
		if errors.As(err, &ce) {
			return err
		}
		return fmt.Errorf("disk: read %s: %w", path, err)
	}
	return nil
}

// Layout constants of bbolt's file format (go.etcd.io/bbolt/internal/common).
const (
	pageHeaderSize    = 16 // id u64, flags u16, count u16, overflow u32
	elementSize       = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeaderSize  = 16 // root pgid u64, sequence u64
	metaChecksumStart = 56 // bytes of the meta struct covered by its checksum
	branchPageFlag    = 0x01
	leafPageFlag      = 0x02
	freelistPageFlag  = 0x10
	bucketLeafFlag    = 0x01
	boltMagic         = 0xED0CDAED
	boltVersion       = 2
	noFreelist        = ^uint64(0)
	// maxTreeDepth bounds the nesting of branch pages and buckets: a real
	// bbolt tree of any size is far shallower, and a deeper chain would
	// exhaust the stack of bbolt's recursive check.
	maxTreeDepth = 64
)

var native = binary.NativeEndian // bbolt writes its structs in host order

type pageChecker struct {
	f        *os.File
	ps, size uint64
	hwm      uint64 // high-water mark: pages [0, hwm) are in use
	seen     []uint64
	buf      []byte
	page     []byte // the first page read by header
}

func corrupt(format string, args ...any) error {
	return &corruptionError{fmt.Errorf(format, args...)}
}

// read returns n bytes at off, in a buffer reused by the next call.
func (c *pageChecker) read(off, n uint64) ([]byte, error) {
	if off > c.size || n > c.size-off {
		return nil, corrupt("read of %d bytes at %d past the end of the file (%d bytes)", n, off, c.size)
	}
	if uint64(cap(c.buf)) < n {
		c.buf = make([]byte, n)
	}
	b := c.buf[:n]
	if _, err := c.f.ReadAt(b, int64(off)); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, corrupt("file shorter than expected")
		}
		return nil, err
	}
	return b, nil
}

type boltMeta struct {
	pageSize             uint32
	root, freelist, pgid uint64
	txid                 uint64
	valid                bool
}

func (c *pageChecker) meta(id uint64) (boltMeta, error) {
	b, err := c.read(id*c.ps, pageHeaderSize+metaChecksumStart+8)
	if err != nil {
		return boltMeta{}, err
	}
	m := b[pageHeaderSize:]
	h := fnv.New64a()
	_, _ = h.Write(m[:metaChecksumStart])
	return boltMeta{
		pageSize: native.Uint32(m[8:]),
		root:     native.Uint64(m[16:]),
		freelist: native.Uint64(m[32:]),
		pgid:     native.Uint64(m[40:]),
		txid:     native.Uint64(m[48:]),
		valid: native.Uint32(m[0:]) == boltMagic && native.Uint32(m[4:]) == boltVersion &&
			native.Uint64(m[metaChecksumStart:]) == h.Sum64(),
	}, nil
}

func (c *pageChecker) check() error {
	if c.ps < 1024 || c.size < 4*c.ps {
		return corrupt("file of %d bytes is too small for pages of %d bytes", c.size, c.ps)
	}
	// The meta page bbolt uses: the valid one with the higher txid.
	m0, err := c.meta(0)
	if err != nil {
		return err
	}
	m1, err := c.meta(1)
	if err != nil {
		return err
	}
	if m1.txid > m0.txid {
		m0, m1 = m1, m0
	}
	m := m0
	if !m.valid {
		m = m1
	}
	if !m.valid {
		return corrupt("no valid meta page")
	}
	if uint64(m.pageSize) != c.ps {
		return corrupt("meta page size %d, file opened with %d", m.pageSize, c.ps)
	}
	if m.pgid < 4 || m.pgid > c.size/c.ps {
		return corrupt("high-water mark of %d pages in a file of %d pages", m.pgid, c.size/c.ps)
	}
	c.hwm = m.pgid
	c.seen = make([]uint64, (c.hwm+63)/64)
	c.mark(0)
	c.mark(1)
	if m.freelist == noFreelist {
		// bbolt would rebuild the freelist by walking the tree on a
		// goroutine that panics on any inconsistency; this store always
		// writes it.
		return corrupt("no freelist page")
	}
	if err := c.checkFreelist(m.freelist); err != nil {
		return err
	}
	return c.checkTree(m.root, 0)
}

func (c *pageChecker) mark(id uint64) bool {
	w, bit := id/64, uint64(1)<<(id%64)
	if c.seen[w]&bit != 0 {
		return false
	}
	c.seen[w] |= bit
	return true
}

// header reads the first page of page id into c.page and checks its
// header: within the file, its own id, of one of the flags, its overflow
// pages within the file and not reached before. It returns the page's
// span in bytes and its count.
func (c *pageChecker) header(id uint64, flags ...uint16) (span uint64, count uint16, flag uint16, err error) {
	if id < 2 || id >= c.hwm {
		return 0, 0, 0, corrupt("page %d out of range [2, %d)", id, c.hwm)
	}
	b, err := c.read(id*c.ps, c.ps)
	if err != nil {
		return 0, 0, 0, err
	}
	c.page = append(c.page[:0], b...)
	if got := native.Uint64(b); got != id {
		return 0, 0, 0, corrupt("page %d has id %d", id, got)
	}
	flag, count = native.Uint16(b[8:]), native.Uint16(b[10:])
	overflow := uint64(native.Uint32(b[12:]))
	ok := false
	for _, f := range flags {
		ok = ok || flag == f
	}
	if !ok {
		return 0, 0, 0, corrupt("page %d has unexpected flags %#x", id, flag)
	}
	if overflow >= c.hwm-id {
		return 0, 0, 0, corrupt("page %d: %d overflow pages past the high-water mark %d", id, overflow, c.hwm)
	}
	for p := id; p <= id+overflow; p++ {
		if !c.mark(p) {
			return 0, 0, 0, corrupt("page %d reached twice (from page %d)", p, id)
		}
	}
	return (overflow + 1) * c.ps, count, flag, nil
}

func (c *pageChecker) checkFreelist(id uint64) error {
	span, count, _, err := c.header(id, freelistPageFlag)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	start, n := uint64(pageHeaderSize), uint64(count)
	if count == 0xFFFF {
		b, err := c.read(id*c.ps+pageHeaderSize, 8)
		if err != nil {
			return err
		}
		start, n = pageHeaderSize+8, native.Uint64(b)
	}
	if n > (span-start)/8 {
		return corrupt("freelist page %d: %d ids in %d bytes", id, n, span)
	}
	if n == 0 {
		return nil
	}
	b, err := c.read(id*c.ps+start, n*8)
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if p := native.Uint64(b[i*8:]); p < 2 || p >= c.hwm {
			return corrupt("freelist page %d lists page %d, out of range [2, %d)", id, p, c.hwm)
		}
	}
	return nil
}

// child is a subtree to check: a page, or an inline bucket's page.
type child struct {
	id     uint64
	inline []byte // the inline page, when id is 0
	depth  int
}

// checkTree checks the tree rooted at page id and every bucket below it,
// with an explicit stack.
func (c *pageChecker) checkTree(id uint64, depth int) error {
	stack := []child{{id: id, depth: depth}}
	for len(stack) > 0 {
		ch := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if ch.depth > maxTreeDepth {
			return corrupt("tree deeper than %d levels at page %d", maxTreeDepth, ch.id)
		}
		var kids []child
		var err error
		if ch.inline != nil {
			kids, err = c.checkInline(ch.inline, ch.depth)
		} else {
			kids, err = c.checkPage(ch.id, ch.depth)
		}
		if err != nil {
			return err
		}
		stack = append(stack, kids...)
	}
	return nil
}

// checkPage checks one branch or leaf page and returns its children.
func (c *pageChecker) checkPage(id uint64, depth int) ([]child, error) {
	span, count, flag, err := c.header(id, branchPageFlag, leafPageFlag)
	if err != nil {
		return nil, err
	}
	table := pageHeaderSize + uint64(count)*elementSize
	if table > span {
		return nil, corrupt("page %d: %d elements overflow its %d bytes", id, count, span)
	}
	b := c.page
	if table > uint64(len(b)) {
		if b, err = c.read(id*c.ps, table); err != nil {
			return nil, err
		}
	}
	elems := make([]byte, table-pageHeaderSize)
	copy(elems, b[pageHeaderSize:table])
	var kids []child
	for i := range uint64(count) {
		e := elems[i*elementSize:]
		at := pageHeaderSize + i*elementSize // the element's offset in the page
		if flag == branchPageFlag {
			pos, ksize := uint64(native.Uint32(e)), uint64(native.Uint32(e[4:]))
			if at+pos+ksize > span {
				return nil, corrupt("page %d element %d: key past the page", id, i)
			}
			kids = append(kids, child{id: native.Uint64(e[8:]), depth: depth + 1})
			continue
		}
		lflags := native.Uint32(e)
		pos, ksize, vsize := uint64(native.Uint32(e[4:])), uint64(native.Uint32(e[8:])), uint64(native.Uint32(e[12:]))
		if at+pos+ksize+vsize > span {
			return nil, corrupt("page %d element %d: key or value past the page", id, i)
		}
		if lflags&bucketLeafFlag == 0 {
			continue
		}
		v, err := c.bucketValue(id*c.ps+at+pos+ksize, vsize)
		if err != nil {
			return nil, fmt.Errorf("page %d element %d: %w", id, i, err)
		}
		kids = append(kids, bucketChild(v, depth+1))
	}
	return kids, nil
}

// bucketValue reads a bucket entry's value: a bucket header, followed by
// the page of an inline bucket (whose root is 0).
func (c *pageChecker) bucketValue(off, n uint64) ([]byte, error) {
	if n < bucketHeaderSize {
		return nil, corrupt("bucket value of %d bytes", n)
	}
	b, err := c.read(off, bucketHeaderSize)
	if err != nil {
		return nil, err
	}
	if native.Uint64(b) != 0 {
		return append([]byte(nil), b...), nil
	}
	// An inline bucket is at most a quarter page in bbolt.
	if n < bucketHeaderSize+pageHeaderSize || n > c.ps {
		return nil, corrupt("inline bucket of %d bytes", n)
	}
	b, err = c.read(off, n)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

func bucketChild(v []byte, depth int) child {
	if root := native.Uint64(v); root != 0 {
		return child{id: root, depth: depth}
	}
	return child{inline: v[bucketHeaderSize:], depth: depth}
}

// checkInline checks an inline bucket's page, held in p: a leaf page
// whose elements lie within p.
func (c *pageChecker) checkInline(p []byte, depth int) ([]child, error) {
	flag, count := native.Uint16(p[8:]), uint64(native.Uint16(p[10:]))
	if flag != leafPageFlag {
		return nil, corrupt("inline bucket page with flags %#x", flag)
	}
	span := uint64(len(p))
	if pageHeaderSize+count*elementSize > span {
		return nil, corrupt("inline bucket page: %d elements in %d bytes", count, span)
	}
	var kids []child
	for i := range count {
		at := pageHeaderSize + i*elementSize
		e := p[at:]
		lflags := native.Uint32(e)
		pos, ksize, vsize := uint64(native.Uint32(e[4:])), uint64(native.Uint32(e[8:])), uint64(native.Uint32(e[12:]))
		if at+pos+ksize+vsize > span {
			return nil, corrupt("inline bucket element %d: key or value past the page", i)
		}
		if lflags&bucketLeafFlag == 0 {
			continue
		}
		v := p[at+pos+ksize : at+pos+ksize+vsize]
		if len(v) < bucketHeaderSize || native.Uint64(v) == 0 && len(v) < bucketHeaderSize+pageHeaderSize {
			return nil, corrupt("inline bucket element %d: bucket value of %d bytes", i, len(v))
		}
		kids = append(kids, bucketChild(v, depth+1))
	}
	return kids, nil
}
