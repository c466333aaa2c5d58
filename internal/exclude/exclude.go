package exclude

import (
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// Matcher decides which paths a pair leaves alone, with gitignore syntax
// (go-git's matcher: negation, anchoring with "/", "**", directory-only
// patterns). Excluded paths are neither copied nor deleted.
type Matcher struct {
	m gitignore.Matcher // nil when there are no patterns
}

// New returns a Matcher of patterns; none matches nothing.
func New(patterns []string) *Matcher {
	if len(patterns) == 0 {
		return &Matcher{}
	}
	ps := make([]gitignore.Pattern, 0, len(patterns))
	for _, p := range patterns {
		ps = append(ps, gitignore.ParsePattern(p, nil))
	}
	return &Matcher{m: gitignore.NewMatcher(ps)}
}

// Excluded reports whether rel (slash-separated, relative to the source
// root) is excluded. Patterns also match through excluded parents, so a file
// inside "cache/" is excluded even when asked about on its own.
func (e *Matcher) Excluded(rel string, isDir bool) bool {
	if e.m == nil || rel == "" || rel == "." {
		return false
	}
	parts := strings.Split(rel, "/")
	// As in git, nothing below an excluded folder can be re-included by a
	// negated pattern ("!keep.tmp"): the folders decide first.
	for i := 1; i < len(parts); i++ {
		if e.m.Match(parts[:i], true) {
			return true
		}
	}
	return e.m.Match(parts, isDir)
}

// Empty reports whether the matcher has no patterns: nothing is excluded.
func (e *Matcher) Empty() bool { return e.m == nil }
