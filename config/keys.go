package config

import (
	"fmt"
	"slices"
	"strings"
)

// The keys copyd knows, in the order config.example.yaml documents them.
var (
	topKeys    = []string{"workers", "settle", "max_delay", "rescan", "state_dir", "log", "status", "pairs"}
	logKeys    = []string{"level", "format"}
	statusKeys = []string{"listen", "allow_remote"}
	pairKeys   = []string{"name", "source", "destination", "delete", "archive", "exclude", "checksum", "fsync", "s3", "sftp"}
	s3Keys     = []string{"endpoint", "region", "path_style", "credentials_file", "connections"}
	sftpKeys   = []string{"key_file", "known_hosts", "connections"}
)

// keyAliases maps names users reach for from other tools to copyd's.
var keyAliases = map[string]string{
	"src":         "source",
	"from":        "source",
	"dst":         "destination",
	"dest":        "destination",
	"target":      "destination",
	"to":          "destination",
	"excludes":    "exclude",
	"ignore":      "exclude",
	"ignores":     "exclude",
	"threads":     "workers",
	"concurrency": "workers",
	"jobs":        "workers",
	"mirror":      "delete",
	"addr":        "listen",
	"address":     "listen",
	"pair":        "pairs",
	"folders":     "pairs",
}

// unknownKeyMsg says what to do about name, which is not among known; top
// tells whether name sits at the top level or inside a pair, log or status.
func unknownKeyMsg(name string, known []string, top bool) string {
	if s := suggest(name, known); s != "" {
		return fmt.Sprintf("unknown key; did you mean %s?", s)
	}
	switch {
	case top && slices.Contains(pairKeys, name):
		return fmt.Sprintf("unknown key at the top level; %s belongs to a pair, so move it into an item under pairs:", name)
	case !top && slices.Contains(topKeys, name):
		return fmt.Sprintf("unknown key here; %s is a top-level setting, so move it out to the start of a line", name)
	case name == "<<":
		return "merge keys are not supported; write the keys out, or share a list with &anchor and *alias"
	}
	return fmt.Sprintf("unknown key; remove it or use one of %s", strings.Join(known, ", "))
}

// suggest returns the known key that name most likely misspells, or "".
func suggest(name string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
	}
	if a, ok := keyAliases[norm(name)]; ok && slices.Contains(known, a) {
		return a
	}
	best, bestDist := "", 0
	for _, k := range known {
		if norm(k) == norm(name) {
			return k
		}
		d := editDistance(strings.ToLower(name), k)
		limit := 1
		if len(k) >= 6 {
			limit = 2
		}
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
