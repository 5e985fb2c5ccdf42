package redis_test

import (
	"testing"

	"github.com/yokedcache/yokedcache/internal/testserver"
)

const aclUser = "yokedcache on >password ~yokedcache:* +@read +@write +del +expire"

func TestMain(m *testing.M) { testserver.Main(m) }
