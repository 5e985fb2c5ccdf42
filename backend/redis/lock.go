package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache/backend"
)

var _ backend.LoadLocker = (*Store)(nil)

// unlockScript deletes the lock only when it still holds our token, so a
// lock that expired and was taken by another process is left alone.
var unlockScript = rueidis.NewLuaScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// LoadLock takes key with SET NX PX (a random token as the value) and
// returns a function that releases it only while it still holds that
// token.
func (s *Store) LoadLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, bool, error) {
	if err := s.check(ctx); err != nil {
		return nil, false, err
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	ms := max(ttl.Milliseconds(), 1)
	err := s.cl().Do(ctx, s.cl().B().Set().Key(key).Value(token).Nx().PxMilliseconds(ms).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return nil, false, nil // held by another process
	}
	if err != nil {
		return nil, false, s.wrapErr(err)
	}
	unlock := func(ctx context.Context) error {
		return s.wrapErr(unlockScript.Exec(ctx, s.cl(), []string{key}, []string{token}).Error())
	}
	return unlock, true, nil
}
