package bench_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/maypok86/otter/v2"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/bench/internal/rounds"
)

// Typed group: yokedcache.Get[User] (JSON codec, the default) on the
// memory backend against otter holding the struct itself.
//
//	go test -run '^$' -bench 'Typed' -benchtime 2s -rounds 7

// User is the small struct of the typed group; encoded as JSON it is
// about 100 bytes: {"id":12345,"name":"<80 characters>"}.
type User struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// newUser returns the User stored under key index i.
func newUser(i int) User {
	name := fmt.Sprintf("user %05d ", i)
	return User{ID: 10_000 + i, Name: name + strings.Repeat("x", 80-len(name))}
}

func BenchmarkTyped(b *testing.B) {
	ctx := b.Context()
	keys, _ := keyNames(memHitKeys)
	cache, err := yokedcache.New(yokedcache.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cache.Close() })
	kept, err := yokedcache.New(yokedcache.Config{KeepDecoded: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { kept.Close() })
	oc, err := otter.New(&otter.Options[string, User]{MaximumSize: memCapacity})
	if err != nil {
		b.Fatal(err)
	}
	encoded := make([][]byte, memHitKeys)
	for i, k := range keys {
		u := newUser(i)
		if err := cache.Set(ctx, k, u); err != nil {
			b.Fatal(err)
		}
		if err := kept.Set(ctx, k, u); err != nil {
			b.Fatal(err)
		}
		oc.Set(k, u)
		if encoded[i], err = json.Marshal(u); err != nil {
			b.Fatal(err)
		}
	}
	rounds.Run(b, rounds.Group{
		Title: fmt.Sprintf("Get[User] hit: %d keys, User{ID int; Name string} = %d B of JSON, random reads, default memory backend",
			memHitKeys, len(encoded[0])),
		Notes: []string{
			"reference: the Python original's memory get of the same dict takes 2.4 µs on the measured machine; target for Get[User] ≤ 1.2 µs",
			"json.Unmarshal = decoding the same JSON bytes into a User, no cache: the codec's share of Get[User]",
			"Get[User] KeepDecoded = the same with Config{KeepDecoded: true}: the decoded User is kept with the entry and shared (read-only)",
		},
		Contenders: []rounds.Contender{
			{Name: "Get[User]", Op: func(w *rounds.Worker) error {
				_, err := yokedcache.Get[User](ctx, cache, keys[w.Intn(memHitKeys)])
				return err
			}},
			{Name: "Get[User] KeepDecoded", Op: func(w *rounds.Worker) error {
				_, err := yokedcache.Get[User](ctx, kept, keys[w.Intn(memHitKeys)])
				return err
			}},
			{Name: "otter", Op: func(w *rounds.Worker) error {
				_, ok := oc.GetIfPresent(keys[w.Intn(memHitKeys)])
				return hit(ok)
			}},
			{Name: "json.Unmarshal", Op: func(w *rounds.Worker) error {
				var u User
				return json.Unmarshal(encoded[w.Intn(memHitKeys)], &u)
			}},
		},
	})
}
