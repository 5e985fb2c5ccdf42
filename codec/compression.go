package codec

import "fmt"

// Compression identifies a compression algorithm.
type Compression byte

// Compression algorithms.
const (
	None Compression = 0
	S2   Compression = 1 // github.com/klauspost/compress/s2: fast, moderate ratio
	Zstd Compression = 2 // github.com/klauspost/compress/zstd: slower, better ratio
)

// String returns the algorithm's name.
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case S2:
		return "s2"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", byte(c))
}
