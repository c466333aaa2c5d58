package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// parseYAML returns the top-level node of data's single YAML document, nil
// when data holds no document (empty, or only comments), or a syntax
// problem that names the line at fault.
func parseYAML(file string, data []byte) (*yaml.Node, *Problem) {
	doc, next, err := decodeDocs(data)
	switch {
	case err != nil:
		return nil, syntaxProblem(file, data, err)
	case next != nil && len(next.Content) > 0 && next.Content[0].Tag != "!!null":
		return nil, &Problem{File: file, Line: next.Line, Err: ErrSyntax,
			Msg: "a second YAML document starts here; keep the whole configuration in one document"}
	case doc == nil || len(doc.Content) == 0 || doc.Content[0].Tag == "!!null":
		return nil, nil
	}
	return doc.Content[0], nil
}

// decodeDocs decodes the first YAML document in data and, if there is
// one, the start of the second; either is nil when absent.
func decodeDocs(data []byte) (doc, next *yaml.Node, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for _, n := range []**yaml.Node{&doc, &next} {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			return doc, next, nil
		} else if err != nil {
			return nil, nil, err
		}
		*n = &node
	}
	return doc, next, nil
}

// yamlLineErr matches yaml.v3's "yaml: line N: message".
var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxProblem turns a yaml.v3 parse error into a problem that names the
// line at fault and says how to fix it.
func syntaxProblem(file string, data []byte, err error) *Problem {
	lines := splitLines(data)
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1 // yaml.v3 leaves the line out when its mark is on the first line
	if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	switch m := unknownAnchor.FindStringSubmatch(msg); {
	case m != nil:
		return &Problem{File: file, Line: findLine(lines, "*"+m[1]), Err: ErrSyntax,
			Msg: fmt.Sprintf("*%s refers to no anchor; define &%s earlier in the file or remove the reference", m[1], m[1])}
	case strings.Contains(msg, "control character") || strings.Contains(msg, "UTF-8") || strings.Contains(msg, "Unicode"):
		return &Problem{File: file, Line: badTextLine(lines), Err: ErrSyntax,
			Msg: "the file holds a control character or bytes that are not UTF-8; save it as UTF-8 text"}
	}
	line = faultLine(data, line, msg)
	// yaml.v3 calls a tab in the indentation "a tab character that violates
	// indentation" or "a character that cannot start any token".
	if line <= len(lines) && tabIndented(lines[line-1]) {
		return &Problem{File: file, Line: line, Err: ErrSyntax,
			Msg: fmt.Sprintf("line %d is indented with a tab; YAML needs spaces, so replace the tab with spaces", line)}
	}
	return &Problem{File: file, Line: line, Err: ErrSyntax, Msg: syntaxAdvice(msg)}
}

// faultLine returns the line that causes yaml.v3's error msg, reported at
// line. yaml.v3 reports the line of the error's context, such as the start
// of the enclosing mapping, and for parser errors one less ("the line
// before a tab"), which can be far from the line at fault. Parsing ever
// longer prefixes of data finds the first line whose addition brings up
// the same error: the line at fault. Prefixes that fail differently are
// cut inside a construct that a later line completes, so the scan goes on.
func faultLine(data []byte, line int, msg string) int {
	const maxScan = 500 // lines; past that, trust yaml.v3
	ends := lineEnds(data)
	for k := max(1, line-1); k <= len(ends) && k < line+maxScan; k++ {
		_, _, err := decodeDocs(data[:ends[k-1]])
		if err == nil {
			continue
		}
		got := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
			got = m[2]
		}
		if got == msg {
			return k
		}
	}
	return lastContentLine(splitLines(data), line)
}

// lineEnds returns the offset just past each line of data.
func lineEnds(data []byte) []int {
	var ends []int
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		ends = append(ends, len(data))
	}
	return ends
}

var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// syntaxAdvice rewrites yaml.v3's parser wording as advice.
func syntaxAdvice(msg string) string {
	switch {
	case strings.HasPrefix(msg, "mapping values are not allowed"):
		return `a colon is out of place; check the indentation, and quote values that contain ": "`
	case msg == "did not find expected key":
		return "the indentation does not line up with the lines above; indent entries of one level by the same number of spaces"
	case msg == "did not find expected node content":
		return "a value is missing or unfinished here; complete it, or put it in quotes"
	case msg == "did not find expected '-' indicator":
		return `a list item is out of line; indent every "- " of one list by the same number of spaces`
	case msg == "did not find expected ',' or ']'":
		return "a list opened with [ is not closed; add the missing ] or a comma between items"
	case msg == "did not find expected ',' or '}'":
		return "a mapping opened with { is not closed; add the missing } or a comma between entries"
	case strings.Contains(msg, "unexpected end of stream"):
		return "the file ends inside a quoted value; close the quote"
	case strings.Contains(msg, "cannot start any token"):
		return "a value starts with a character YAML reserves (such as @ or `); put the value in quotes"
	case strings.Contains(msg, "could not find expected ':'"):
		return `a key has no colon after it; write "key: value"`
	}
	return "the YAML cannot be read (" + msg + "); fix the syntax on this line"
}

// splitLines splits data into lines without their line endings.
func splitLines(data []byte) []string {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

// lastContentLine moves line back past blank lines and the end of the
// file, where yaml.v3 puts errors about something left open.
func lastContentLine(lines []string, line int) int {
	line = min(line, len(lines))
	for line > 1 && strings.TrimSpace(lines[line-1]) == "" {
		line--
	}
	return line
}

// tabIndented reports whether a tab precedes the first visible character,
// or is all there is besides spaces.
func tabIndented(s string) bool {
	indent := s[:len(s)-len(strings.TrimLeft(s, " \t"))]
	return strings.Contains(indent, "\t")
}

// badTextLine returns the first line with invalid UTF-8 or a control
// character YAML forbids, or 0.
func badTextLine(lines []string) int {
	for i, s := range lines {
		if !utf8.ValidString(s) {
			return i + 1
		}
		for _, r := range s {
			if (r < 0x20 && r != '\t' && r != '\r') || (r >= 0x7f && r <= 0x9f && r != 0x85) || r == 0xfffe || r == 0xffff {
				return i + 1
			}
		}
	}
	return 0
}

// findLine returns the first line containing s, or 0.
func findLine(lines []string, s string) int {
	for i, l := range lines {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	return 0
}
