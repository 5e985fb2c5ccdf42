//go:build unix

package filetest

import "syscall"

// WithUmask runs fn with the process umask set to mask, then restores
// it. The umask is process-wide: tests using it must not run in parallel.
func WithUmask(mask int, fn func()) {
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	fn()
}
