package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks a YAML node tree into a Config. It keeps what yaml.v3's
// Decode would lose: the line of every key, for messages, and which
// settings the file gave, for applyDefaults. A value of the wrong type is
// reported under its key and left unset, so its default applies and later
// checks do not report it a second time.
type decoder struct {
	r   *report
	set map[string]bool // keys given with a valid, non-null value
}

// config decodes the top-level mapping.
func (d *decoder) config(root *yaml.Node) *Config {
	c := &Config{}
	root = deref(root)
	if root.Kind != yaml.MappingNode {
		d.r.addAt(root.Line, "", ErrBadValue,
			"the file must be a mapping of settings such as workers: and pairs:; start from config.example.yaml")
		d.r.bad[""] = true
		return c
	}
	d.fields("", root, topKeys, func(key string, v *yaml.Node) {
		switch key {
		case "workers":
			d.integer(key, v, &c.Workers)
		case "settle":
			d.duration(key, v, &c.Settle)
		case "max_delay":
			d.duration(key, v, &c.MaxDelay)
		case "rescan":
			d.duration(key, v, &c.Rescan)
		case "state_dir":
			d.str(key, v, &c.StateDir)
		case "log":
			d.fields(key, v, logKeys, func(key string, v *yaml.Node) {
				switch key {
				case "log.level":
					d.str(key, v, &c.Log.Level)
				case "log.format":
					d.str(key, v, &c.Log.Format)
				}
			})
		case "status":
			d.fields(key, v, statusKeys, func(key string, v *yaml.Node) {
				switch key {
				case "status.listen":
					d.str(key, v, &c.Status.Listen)
				case "status.allow_remote":
					d.boolean(key, v, &c.Status.AllowRemote)
				}
			})
		case "pairs":
			c.Pairs = d.pairs(key, v)
		}
	})
	return c
}

// pairs decodes the list under pairs:.
func (d *decoder) pairs(key string, v *yaml.Node) []Pair {
	v = deref(v)
	if isNull(v) {
		d.set[key] = true // "pairs:" with every item commented out: deliberately none
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		d.r.misshapen(key, `expected a list of pairs, each item starting with "- "; found %s`, describe(v))
		return nil
	}
	d.set[key] = true
	if len(v.Content) == 0 {
		return nil
	}
	ps := make([]Pair, len(v.Content))
	for i, item := range v.Content {
		pk := fmt.Sprintf("%s[%d]", key, i)
		d.r.lines[pk] = item.Line
		p := &ps[i]
		d.fields(pk, item, pairKeys, func(key string, v *yaml.Node) {
			switch strings.TrimPrefix(key, pk+".") {
			case "name":
				d.str(key, v, &p.Name)
			case "source":
				d.str(key, v, &p.Source)
			case "destination":
				d.str(key, v, &p.Destination)
			case "delete":
				d.boolean(key, v, &p.Delete)
			case "archive":
				d.str(key, v, &p.Archive)
			case "exclude":
				p.Exclude = d.patterns(key, v)
			case "checksum":
				d.boolean(key, v, &p.Checksum)
			case "fsync":
				d.boolean(key, v, &p.Fsync)
			case "s3":
				d.fields(key, v, s3Keys, func(sub string, v *yaml.Node) {
					switch strings.TrimPrefix(sub, key+".") {
					case "endpoint":
						d.str(sub, v, &p.S3.Endpoint)
					case "region":
						d.str(sub, v, &p.S3.Region)
					case "path_style":
						d.boolean(sub, v, &p.S3.PathStyle)
					case "credentials_file":
						d.str(sub, v, &p.S3.CredentialsFile)
					case "connections":
						d.integer(sub, v, &p.S3.Connections)
					}
				})
			case "sftp":
				d.fields(key, v, sftpKeys, func(sub string, v *yaml.Node) {
					switch strings.TrimPrefix(sub, key+".") {
					case "key_file":
						d.str(sub, v, &p.SFTP.KeyFile)
					case "known_hosts":
						d.str(sub, v, &p.SFTP.KnownHosts)
					case "connections":
						d.integer(sub, v, &p.SFTP.Connections)
					}
				})
			}
		})
	}
	return ps
}

// fields calls set for each known key of mapping n with its full dotted
// name, and reports duplicate and unknown keys.
func (d *decoder) fields(path string, n *yaml.Node, known []string, set func(key string, v *yaml.Node)) {
	n = deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		what := "settings"
		if strings.HasPrefix(path, "pairs[") {
			what = "a pair with source: and destination:"
		}
		d.r.misshapen(path, "expected %s on the lines below, indented; found %s", what, describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		name := k.Value
		key := name
		if path != "" {
			key = path + "." + name
		}
		if k.Kind != yaml.ScalarNode {
			d.r.addAt(k.Line, path, ErrSyntax, "a key is a list or mapping; keys must be plain words such as source")
			continue
		}
		if first, dup := seen[name]; dup {
			d.r.addAt(k.Line, key, ErrSyntax, fmt.Sprintf("this key appears twice (first on line %d); keep one of them", first))
			continue
		}
		seen[name] = k.Line
		if !slices.Contains(known, name) {
			d.r.addAt(k.Line, key, ErrUnknownKey, unknownKeyMsg(name, known, path == ""))
			continue
		}
		d.r.lines[key] = k.Line
		set(key, v)
	}
}

// patterns decodes an exclude list: scalars, each a non-empty pattern.
func (d *decoder) patterns(key string, v *yaml.Node) []string {
	v = deref(v)
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		d.r.add(key, ErrBadValue, `expected a list of patterns such as ["*.tmp", "cache/"]; found %s`, describe(v))
		return nil
	}
	d.set[key] = true
	var out []string
	for i, item := range v.Content {
		ik := fmt.Sprintf("%s[%d]", key, i)
		d.r.lines[ik] = item.Line
		item = deref(item)
		switch {
		case item.Kind != yaml.ScalarNode:
			d.r.add(ik, ErrBadValue, "expected a pattern, found %s; put the pattern in quotes", describe(item))
		case isNull(item) || strings.TrimSpace(item.Value) == "":
			d.r.add(ik, ErrBadValue, "the pattern is empty; remove the item or write a pattern")
		default:
			out = append(out, item.Value)
		}
	}
	return out
}

func (d *decoder) str(key string, v *yaml.Node, dst *string) {
	if v, ok := d.scalar(key, v, "text"); ok {
		*dst = v.Value
		d.set[key] = true
	}
}

func (d *decoder) integer(key string, v *yaml.Node, dst *int) {
	v, ok := d.scalar(key, v, "a number")
	if !ok {
		return
	}
	var n int
	if v.Tag == "!!int" && v.Decode(&n) == nil {
		*dst, d.set[key] = n, true
		return
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v.Value)); err == nil {
		*dst, d.set[key] = n, true
		return
	}
	switch v.Tag {
	case "!!int":
		d.r.add(key, ErrBadValue, "%s is too large; use a smaller number", v.Value)
	case "!!float":
		d.r.add(key, ErrBadValue, "%s is not a whole number; use a number such as 8", v.Value)
	default:
		d.r.add(key, ErrBadValue, "%q is not a number", v.Value)
	}
}

func (d *decoder) duration(key string, v *yaml.Node, dst *time.Duration) {
	v, ok := d.scalar(key, v, "a duration")
	if !ok {
		return
	}
	s := strings.TrimSpace(v.Value)
	if t, err := time.ParseDuration(s); err == nil {
		*dst, d.set[key] = t, true
		return
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		d.r.add(key, ErrBadValue, "%s has no unit; write it as %ss or %sms", s, s, s)
		return
	}
	d.r.add(key, ErrBadValue, "%q is not a duration; write it like 250ms, 10s, 5m or 1h", v.Value)
}

func (d *decoder) boolean(key string, v *yaml.Node, dst *bool) {
	v, ok := d.scalar(key, v, "true or false")
	if !ok {
		return
	}
	switch strings.ToLower(strings.TrimSpace(v.Value)) {
	case "true", "yes", "on", "y":
		*dst, d.set[key] = true, true
	case "false", "no", "off", "n":
		*dst, d.set[key] = false, true
	default:
		d.r.add(key, ErrBadValue, "%q is not true or false", v.Value)
	}
}

// scalar returns the scalar behind v; a null value (key with nothing after
// the colon) is not an error but leaves the setting unset.
func (d *decoder) scalar(key string, v *yaml.Node, want string) (*yaml.Node, bool) {
	v = deref(v)
	if isNull(v) {
		return nil, false
	}
	if v.Kind != yaml.ScalarNode {
		d.r.add(key, ErrBadValue, "expected %s, found %s", want, describe(v))
		return nil, false
	}
	return v, true
}

// deref follows aliases (*name) to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	// yaml.v3 refuses an anchor that contains its own alias, so the chain
	// ends; the bound only guards against a future change there.
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 64; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" || n.Kind == yaml.AliasNode
}

// describe names a node's kind for messages, without YAML tags.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping of keys"
	}
	return strconv.Quote(n.Value)
}
