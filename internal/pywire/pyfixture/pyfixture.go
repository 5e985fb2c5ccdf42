// Package pyfixture loads the wire fixtures written by the real Python
// YokedCache 1.0.2 (internal/pywire/testdata/fixtures.jsonl, a copy of
// /work/shared/reference/python-wire/fixtures.jsonl) and compares Go
// values with their "JSON view" (see scenarios.md §1). It is used only by
// tests.
package pyfixture

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Record is one line of fixtures.jsonl (value or tag set).
type Record struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Prefix   string `json:"prefix"`
	Call     string `json:"call"`
	UserKey  string `json:"user_key"`
	RedisKey string `json:"redis_key"`
	KeyHex   string `json:"redis_key_hex"`
	TTLArg   *int   `json:"ttl_arg"`
	PTTLms   int64  `json:"pttl_ms"`
	ValueHex string `json:"value_hex"`
	Envelope struct {
		Method string `json:"method"`
	} `json:"envelope"`
	PythonGet struct {
		Found bool            `json:"found"`
		Value json.RawMessage `json:"value"`
	} `json:"python_get"`
	GoExpect   string   `json:"go_expect"`
	Members    []string `json:"members"`
	MembersHex []string `json:"members_hex"`
}

// Key returns the exact Redis key bytes.
func (r Record) Key() string { return mustHex(r.KeyHex) }

// Value returns the exact stored bytes.
func (r Record) Value() []byte { return []byte(mustHex(r.ValueHex)) }

// MemberKeys returns the tag set's members, exact bytes.
func (r Record) MemberKeys() []string {
	out := make([]string, len(r.MembersHex))
	for i, h := range r.MembersHex {
		out[i] = mustHex(h)
	}
	return out
}

func mustHex(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Path is the fixture file next to package pywire.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "fixtures.jsonl")
}

// Load reads every record.
func Load() ([]Record, error) {
	f, err := os.Open(Path())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("fixture line %d: %w", len(out)+1, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// Compare reports how got (a Go value decoded from the stored bytes:
// JSON with UseNumber, msgpack, string or []byte) differs from the
// fixture's JSON view want, or "" when they are equal. Integers compare
// exactly, floats by value, bytes as {"$bytes_hex": ...}, long strings by
// the {"$elided_str": ...} summary.
func Compare(got any, want json.RawMessage) string {
	d := json.NewDecoder(bytes.NewReader(want))
	d.UseNumber()
	var w any
	if err := d.Decode(&w); err != nil {
		return "bad fixture view: " + err.Error()
	}
	if m, ok := w.(map[string]any); ok && m["$elided_str"] == true {
		s, ok := got.(string)
		if !ok {
			return fmt.Sprintf("got %T, want an elided string", got)
		}
		sum := sha256.Sum256([]byte(s))
		if n, _ := m["chars"].(json.Number).Int64(); int(n) != utf8.RuneCountInString(s) || hex.EncodeToString(sum[:]) != m["sha256_utf8"] {
			return fmt.Sprintf("string of %d chars does not match the elided view", utf8.RuneCountInString(s))
		}
		return ""
	}
	g, n := norm(got), norm(w)
	if !reflect.DeepEqual(g, n) {
		return fmt.Sprintf("got %#v, want %#v", g, n)
	}
	return ""
}

// norm maps a value onto comparable types: integers to "int:<decimal>",
// floats to float64, bytes to the $bytes_hex view.
func norm(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if strings.ContainsAny(s, ".eE") {
			f, _ := strconv.ParseFloat(s, 64)
			return f
		}
		b, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return "bad number " + s
		}
		return "int:" + b.String()
	case float64:
		return x
	case float32:
		return float64(x)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprintf("int:%d", x)
	case []byte:
		return map[string]any{"$bytes_hex": hex.EncodeToString(x)}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = norm(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = norm(e)
		}
		return out
	}
	return v
}

type author struct {
	ID     int `json:"id"`
	Author int `json:"author"`
}

type nested struct {
	User struct {
		ID    int      `json:"id"`
		Roles []string `json:"roles"`
		Prefs struct {
			Theme string `json:"theme"`
			N     *int   `json:"n"`
		} `json:"prefs"`
	} `json:"user"`
	OK    bool           `json:"ok"`
	Score float64        `json:"score"`
	Z     []int          `json:"z"`
	A     map[string]int `json:"a"`
}

// GoEquivalents returns the Go values whose Set is the same call as the
// fixture's Python set. Fixtures not listed cannot be written identically
// from Go: whole floats (2.0, 1e16, the 3.0 in "list") are integers in
// Go's JSON; msgpack_str and msgpack_dict were written with
// serialization=MSGPACK, which a Go string or map does not choose; the
// pickle is never written; datetime is covered by its string.
func GoEquivalents() map[string]any {
	var n nested
	n.User.ID, n.User.Roles, n.User.Prefs.Theme = 7, []string{"admin", "dev"}, "dark"
	n.OK, n.Score, n.Z, n.A = true, 9.5, []int{}, map[string]int{}
	return map[string]any{
		"dict_user_tagged":     map[string]any{"id": 1, "name": "Alice"},
		"dict_user2_tagged":    map[string]any{"id": 2, "name": "Bob"},
		"str":                  "hello world",
		"int":                  42,
		"int_negative":         -17,
		"int_u64_max":          uint64(math.MaxUint64),
		"float":                3.14159,
		"float_exp_small":      1.5e-07,
		"bool_true":            true,
		"bool_false":           false,
		"none":                 nil,
		"nested_dict":          n,
		"unicode_text":         "Grüße, 世界! 🌍 — ñ",
		"escapes_text":         "tab\tnl\ncr\rbs\x08ff\x0cq\"bsl\\ <>&/ \u2028 \x00\x1f\x7f é",
		"empty_string":         "",
		"large_string":         strings.Repeat("0123456789abcdef", 6400),
		"two_tags":             author{9, 1},
		"tag_with_space":       "x",
		"tag_ttl_shrink_a":     "a",
		"tag_ttl_shrink_b":     "b",
		"msgpack_bytes":        []byte{0, 1, 0xff},
		"key_spaces":           "sanitized",
		"key_colons":           "colons",
		"key_unicode":          "unicode key",
		"key_glob_chars":       "glob",
		"key_newlines":         "nl",
		"key_already_prefixed": "no double prefix",
		"key_long_hashed":      "long key gets hashed",
		"key_empty":            "empty key",
		"ttl_default_jitter":   "v",
		"ttl_zero":             "v",
		"tuple":                []int{1, 2},
		"pyset":                []int{3},
		"datetime":             "2024-01-02T03:04:05.678000+00:00",
		"custom_prefix":        map[string]any{"id": 1, "name": "Alice"},
		"cli_set_string":       "123",
	}
}

// Tags are the tags each tagged fixture was written with, as Go passes
// them to WithTags.
var Tags = map[string][]string{
	"dict_user_tagged":  {"users"},
	"dict_user2_tagged": {"users"},
	"two_tags":          {"posts", "user:1"},
	"tag_with_space":    {"hot items"},
	"tag_ttl_shrink_a":  {"shrink"},
	"tag_ttl_shrink_b":  {"shrink"},
	"custom_prefix":     {"users"},
	"cli_set_string":    {"cli", "notes"},
}

// CompareLoose is Compare with every number compared as a float64, for
// values decoded into *any (where Go's JSON gives float64).
func CompareLoose(got any, want json.RawMessage) string {
	d := json.NewDecoder(bytes.NewReader(want))
	d.UseNumber()
	var w any
	if err := d.Decode(&w); err != nil {
		return "bad fixture view: " + err.Error()
	}
	if m, ok := w.(map[string]any); ok && m["$elided_str"] == true {
		return Compare(got, want)
	}
	g, n := loose(got), loose(w)
	if !reflect.DeepEqual(g, n) {
		return fmt.Sprintf("got %#v, want %#v", g, n)
	}
	return ""
}

func loose(v any) any {
	switch x := norm(v).(type) {
	case string:
		if strings.HasPrefix(x, "int:") {
			f, _ := strconv.ParseFloat(x[4:], 64)
			return f
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = loose(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = loose(e)
		}
		return x
	default:
		return x
	}
}
