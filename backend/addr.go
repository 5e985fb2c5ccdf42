package backend

// Addresser is implemented by network backends that can name the server
// they talk to, for tracing (server.address and server.port in package
// otel). The Cache asks once, when it is created.
type Addresser interface {
	// Addr returns the server's "host:port", or a Unix socket path, or ""
	// when unknown. With several servers (a Memcached pool, Redis
	// sentinels or cluster seeds) it is the first one configured.
	Addr() string
}
