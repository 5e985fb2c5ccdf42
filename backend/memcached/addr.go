package memcached

// Addr returns the first server ("host:port", the default port filled
// in, or a Unix socket path). It implements backend.Addresser.
func (s *Store) Addr() string { return s.opts.Servers[0] }
