package yokedcache

import "strings"

// newMatcher is replaced by internal/fuzzy's partial_ratio matcher.
func newMatcher(q string) interface{ Score(string) int } { return substrMatcher(strings.ToLower(q)) }

type substrMatcher string

func (m substrMatcher) Score(k string) int {
	if strings.Contains(strings.ToLower(k), string(m)) {
		return 100
	}
	return 0
}
