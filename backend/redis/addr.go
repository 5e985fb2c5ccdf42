package redis

// Addr returns the first configured address: the server (Standalone),
// the first sentinel (Sentinel) or the first seed node (Cluster), or the
// socket path with Network "unix"; "" for a Store over a caller's Client
// without Addrs. It implements backend.Addresser.
func (s *Store) Addr() string {
	if len(s.opts.Addrs) == 0 {
		return ""
	}
	return s.opts.Addrs[0]
}
