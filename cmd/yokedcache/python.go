package main

// Compatibility with Python YokedCache's command line: -f/--format, -o
// FILE on stats and export-config, and hints for flag letters whose
// meaning differs between the Go and the Python spelling (docs/cli.md,
// "Coming from Python").

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// isFormat reports an output format name. "human" is Python YokedCache's
// name for the table format.
func isFormat(s string) bool {
	switch s {
	case "table", "human", "json", "csv", "yaml":
		return true
	}
	return false
}

// isFormatFor reports an output format of cmd: the common ones, and
// "prometheus" (the Prometheus text exposition) on stats.
func isFormatFor(cmd *cobra.Command, s string) bool {
	return isFormat(s) || (s == "prometheus" && cmd.Name() == "stats")
}

// writesFile reports the commands on which Python YokedCache's -o means
// an output file.
func writesFile(cmd *cobra.Command) bool {
	return cmd.Name() == "stats" || cmd.Name() == "export-config"
}

// addFormatFlag adds Python YokedCache's -f/--format to cmd: another
// spelling of the global -o/--output format.
func (a *app) addFormatFlag(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&a.format, "format", "f", "", "output format, as in Python YokedCache: table (or human), json, csv or yaml (same as -o FORMAT; stats: or prometheus)")
}

// prepareOutput settles the output format from -o and -f, and sends
// standard output to the file named by -o FILE where Python YokedCache
// takes one.
func (a *app) prepareOutput(cmd *cobra.Command) error {
	if !isFormatFor(cmd, a.output) {
		if !writesFile(cmd) {
			return withCode(exitUsage, fmt.Errorf("--output %q: want table, json, csv or yaml (only stats and export-config take -o FILE, as in Python YokedCache)", a.output))
		}
		a.outFile, a.output = a.output, "table"
	}
	if f := cmd.Flags().Lookup("format"); f != nil && f.Changed {
		if !isFormatFor(cmd, a.format) {
			return withCode(exitUsage, fmt.Errorf("--format %q: want table (or human), json, csv or yaml (stats: or prometheus)", a.format))
		}
		if cmd.Flags().Changed("output") && a.outFile == "" && normFormat(a.output) != normFormat(a.format) {
			return withCode(exitUsage, fmt.Errorf("-o %s and -f %s disagree: give one output format", a.output, a.format))
		}
		a.output = a.format
	}
	a.output = normFormat(a.output)
	if a.outFile != "" {
		a.out = &lazyFile{path: a.outFile}
		a.stdout = a.out
	}
	return nil
}

func normFormat(s string) string {
	if s == "human" {
		return "table"
	}
	return s
}

// lazyFile creates its file on the first write, so that a command that
// fails before printing leaves no empty file behind.
type lazyFile struct {
	path string
	f    *os.File
	err  error
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil && l.err == nil {
		l.f, l.err = os.Create(l.path)
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.f.Write(p)
}

// Close closes the file if it was created.
func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

// flagHint explains a flag error where the flag means something else in
// Python YokedCache or in earlier versions of this command.
func flagHint(cmd *cobra.Command, err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "-t, --threshold"):
		return "; -t is the similarity threshold 0-100, as in Python YokedCache; filter by tags with --tags"
	case strings.Contains(msg, "-m, --max-results"):
		return "; -m is --max-results, as in Python YokedCache"
	case strings.Contains(msg, "-l, --limit"):
		return "; -l is --limit, as in Python YokedCache"
	case strings.Contains(msg, "unknown shorthand flag: 'n'") && cmd.Name() == "list":
		return "; use -l/--limit N"
	}
	return ""
}

// exitCodeOf returns the exit code an error from classify carries.
func exitCodeOf(err error) int {
	var ee *exitErr
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return exitError
	}
	return exitOK
}

// mappingValue returns the value of key in a YAML mapping node, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// goTypes matches the Go type names yaml.v3 puts in its errors
// ("into []main.warmEntry", "in type struct { ... }").
var goTypes = regexp.MustCompile(` (into|in type) (\[\])?(main\.warmEntry|struct \{[^}]*\}|[a-z0-9]+)`)

// warmDecodeErr rewrites a decoding error without Go type names, and
// says what a warm file looks like.
func warmDecodeErr(err error) error {
	msg := goTypes.ReplaceAllString(err.Error(), "")
	msg = strings.ReplaceAll(msg, "yaml: unmarshal errors:\n  ", "")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	msg = strings.NewReplacer("cannot unmarshal !!int", "unexpected number", "cannot unmarshal !!float", "unexpected number",
		"cannot unmarshal !!bool", "unexpected boolean", "cannot unmarshal !!str", "unexpected string",
		"cannot unmarshal !!map", "unexpected mapping", "cannot unmarshal !!seq", "unexpected list").Replace(msg)
	return fmt.Errorf("%s (an entry has key, value, and optional ttl and tags)", msg)
}
