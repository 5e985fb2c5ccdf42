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
