package testserver

import (
	"os/exec"
	"regexp"
	"strconv"
	"sync"
)

var versionCache sync.Map // binary path -> [3]int

var redisVersionRE = regexp.MustCompile(`v=(\d+)\.(\d+)\.(\d+)`)

// redisVersion returns redis-server's version as [major minor patch], or
// zeros when it cannot be determined.
func redisVersion(bin string) [3]int {
	if v, ok := versionCache.Load(bin); ok {
		return v.([3]int)
	}
	var v [3]int
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		if m := redisVersionRE.FindStringSubmatch(string(out)); m != nil {
			for i := range v {
				v[i], _ = strconv.Atoi(m[i+1])
			}
		}
	}
	versionCache.Store(bin, v)
	return v
}
