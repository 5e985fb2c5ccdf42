package main

// The backends whose URL schemes the CLI knows. Each import registers its
// scheme(s) with the backend registry.
import (
	_ "github.com/yokedcache/yokedcache/backend/disk"      // file://
	_ "github.com/yokedcache/yokedcache/backend/memcached" // memcached://
	_ "github.com/yokedcache/yokedcache/backend/memory"    // mem://, memory://
	_ "github.com/yokedcache/yokedcache/backend/redis"     // redis://, rediss://, redis+sentinel://, ...
	_ "github.com/yokedcache/yokedcache/backend/sqlite"    // sqlite://
)
