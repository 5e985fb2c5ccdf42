// Command yokedcache inspects and manages a yokedcache cache from the
// shell: ping, stats, list, get, set, delete, invalidate, flush, search,
// health, warm, export-config, bench and shell completion.
//
// The backend is chosen like yokedcache.FromEnv does, with flags on top:
// --url / --redis-url / --config flags > YOKEDCACHE_* environment
// variables > the configuration file > the in-process memory backend.
//
// Exit codes: 0 success, 1 error or not found, 2 usage or configuration
// error, 3 connection failure. See docs/cli.md.
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}
