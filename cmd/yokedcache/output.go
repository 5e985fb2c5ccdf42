package main

import (
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/yokedcache/yokedcache"
)

const levelWarn = slog.LevelWarn

func newLogger(w io.Writer, lv slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv}))
}

// table is rows of cells with a header, printable as table, csv, json
// (an array of objects keyed by lower-case header) or yaml.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// print writes t in the app's format. jsonValue, if non-nil, is printed
// for json and yaml instead of the generic row objects.
func (a *app) print(t *table, jsonValue any) error {
	format := a.output
	if t == nil && (format == "table" || format == "csv") {
		format = "json"
	}
	switch format {
	case "json":
		if jsonValue == nil {
			jsonValue = t.objects()
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(jsonValue)
	case "yaml":
		if jsonValue == nil {
			jsonValue = t.objects()
		}
		return writeYAML(a.stdout, jsonValue)
	case "csv":
		w := csv.NewWriter(a.stdout)
		_ = w.Write(t.header)
		_ = w.WriteAll(t.rows)
		return w.Error()
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func (t *table) objects() []map[string]string {
	out := make([]map[string]string, 0, len(t.rows))
	for _, r := range t.rows {
		m := make(map[string]string, len(r))
		for i, h := range t.header {
			if i < len(r) {
				m[strings.ToLower(strings.ReplaceAll(h, " ", "_"))] = r[i]
			}
		}
		out = append(out, m)
	}
	return out
}

// writeYAML converts v through JSON so that json tags name the fields.
func writeYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(generic); err != nil {
		return err
	}
	return enc.Close()
}

// decodeValue returns a stored value as a JSON-friendly Go value: strings
// as strings, []byte as a string when it is UTF-8 (else base64), codec
// values decoded generically.
func decodeValue(v yokedcache.Value) (any, error) {
	var x any
	if err := v.Decode(&x); err != nil {
		return nil, err
	}
	if b, ok := x.([]byte); ok {
		if utf8.Valid(b) {
			return string(b), nil
		}
		return "base64:" + base64.StdEncoding.EncodeToString(b), nil
	}
	return x, nil
}

// valueText renders a decoded value for a table cell or plain output.
func valueText(x any) string {
	if s, ok := x.(string); ok {
		return s
	}
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Sprint(x)
	}
	return string(b)
}

func ttlText(d time.Duration, known bool) string {
	switch {
	case !known:
		return "-"
	case d == yokedcache.NoExpiry:
		return "never"
	}
	return d.Round(time.Second).String()
}

func ttlSeconds(d time.Duration, known bool) *float64 {
	if !known {
		return nil
	}
	s := -1.0
	if d != yokedcache.NoExpiry {
		s = d.Round(time.Millisecond).Seconds()
	}
	return &s
}

func ms(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func humanBytes(n int64) string {
	if n < 0 {
		return "unknown"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func count(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprint(n)
}
