package config

import (
	"errors"
	"fmt"
	"github.com/copyd/copyd/dest"
	"io/fs"
	"os"
	"path/filepath"
)

// resolved holds a pair's folders with symbolic links resolved as far as
// they exist, for the overlap checks; "" where a path is unusable.
type resolved struct {
	src, dst, archive string
}

// checkPairs checks every pair and how pairs relate. It replaces each
// usable source, destination and archive by its symlink-resolved path.
//
// An explicitly empty list (pairs: [] or a pairs: key whose items are all
// commented out, as in the packaged /etc/copyd/config.yaml) is valid: the
// daemon starts and says it has nothing to do. A file without the key is
// refused.
func checkPairs(c *Config, listed bool, r *report) {
	if len(c.Pairs) == 0 {
		if !listed {
			r.add("pairs", ErrNoPairs, "no pairs are configured; add at least one pair with a source and a destination (see config.example.yaml)")
		}
		return
	}
	rs := make([]resolved, len(c.Pairs))
	for i := range c.Pairs {
		rs[i] = checkPair(&c.Pairs[i], i, r)
	}
	checkNames(c, r)
	checkDestOverlaps(c, rs, r)
	checkArchives(c, rs, r)
	// The engine resolves every path below a pair's folders without
	// following a symlink at any component (internal/nofollow), so the
	// folders themselves must hold none: a destination given through a
	// symlink is used by the folder it leads to.
	for i := range c.Pairs {
		if rs[i].dst != "" {
			c.Pairs[i].Destination = rs[i].dst
		}
		if rs[i].archive != "" {
			c.Pairs[i].Archive = rs[i].archive
		}
	}
}

// checkPair checks pair i's own folders and returns them resolved.
func checkPair(p *Pair, i int, r *report) resolved {
	var rs resolved
	if p.Name == "" && p.Source != "" {
		r.add(r.pairKey(i, "name"), ErrBadValue, "the name is empty; give the pair a name, or remove name: to use the source folder's name")
	}
	srcKey, dstKey := r.pairKey(i, "source"), r.pairKey(i, "destination")
	if usablePath(p.Source, srcKey, "the folder to copy", r) {
		rs.src = checkSource(p, srcKey, r)
	}
	if usablePath(p.Destination, dstKey, "the folder to copy into", r) && localDestination(p, i, r) {
		rs.dst = resolveExisting(p.Destination)
		checkWritable(p.Destination, dstKey, r)
	}
	if p.Archive != "" && usablePath(p.Archive, r.pairKey(i, "archive"), "a folder for replaced files", r) {
		rs.archive = resolveExisting(p.Archive)
		checkWritable(p.Archive, r.pairKey(i, "archive"), r)
	}
	if rs.src == "" || rs.dst == "" {
		return rs
	}
	dst := show(p.Destination, rs.dst)
	switch {
	case rs.dst == rs.src:
		r.add(dstKey, ErrDestInsideSource, "%s is the source folder itself; choose a destination outside the source", dst)
	case HasPathPrefix(rs.src, rs.dst):
		r.add(dstKey, ErrDestInsideSource, "%s is inside source %s; choose a folder outside it", dst, rs.src)
	case HasPathPrefix(rs.dst, rs.src):
		r.add(dstKey, ErrSourceInsideDest, "%s contains source %s; choose a destination outside the source", dst, rs.src)
	}
	return rs
}

// localDestination reports whether pair i writes to a local folder. An
// scp-style host:path or an unknown scheme is reported instead of becoming
// a local folder of that name; a remote destination is checked here (its
// s3: or sftp: block, no archive folder) and reported as not local.
func localDestination(p *Pair, i int, r *report) bool {
	key := r.pairKey(i, "destination")
	loc, err := dest.Parse(p.Destination)
	if err != nil {
		r.add(key, ErrBadValue, "%s", err.Error())
		return false
	}
	if loc.Scheme != dest.SchemeS3 && p.S3 != (S3{}) {
		r.add(r.pairKey(i, "s3"), ErrBadValue, "an s3: block belongs to a pair whose destination is s3://bucket/prefix; remove it or change the destination")
	}
	if loc.Scheme != dest.SchemeSFTP && p.SFTP != (SFTP{}) {
		r.add(r.pairKey(i, "sftp"), ErrBadValue, "an sftp: block belongs to a pair whose destination is sftp://user@host/path; remove it or change the destination")
	}
	if p.S3.Connections < 0 {
		r.add(r.pairKey(i, "s3.connections"), ErrBadValue, "connections must be 1 or more (0 or unset: 16)")
	}
	if p.SFTP.Connections < 0 {
		r.add(r.pairKey(i, "sftp.connections"), ErrBadValue, "connections must be 1 or more (0 or unset: 8)")
	}
	if !loc.Remote() {
		return true
	}
	if p.Archive != "" {
		r.add(r.pairKey(i, "archive"), ErrBadValue, "archive: is for local destinations in this version; remove it (with delete: true, versioning on the bucket or server keeps replaced files)")
	}
	for _, f := range []struct{ key, path string }{
		{"s3.credentials_file", p.S3.CredentialsFile},
		{"sftp.key_file", p.SFTP.KeyFile},
		{"sftp.known_hosts", p.SFTP.KnownHosts},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			r.add(r.pairKey(i, f.key), ErrBadValue, "%s cannot be read (%s); give the path of an existing file", f.path, reason(err))
		}
	}
	return false
}

// usablePath reports a missing path or one starting with ~.
func usablePath(p, key, what string, r *report) bool {
	switch {
	case p == "":
		r.add(key, ErrBadValue, "no folder given; set it to %s", what)
		return false
	case isTilde(p):
		r.add(key, ErrBadValue, "%s starts with ~, which copyd does not expand; write the full path", p)
		return false
	}
	return true
}

// checkSource checks that the source is an existing folder, replaces it
// by its resolved path and returns that path. A missing source is
// resolved as far as it exists, so that the overlap checks still run.
func checkSource(p *Pair, key string, r *report) string {
	fi, err := os.Stat(p.Source)
	if err != nil {
		switch target, lerr := os.Readlink(p.Source); {
		case lerr == nil:
			r.add(key, ErrSourceMissing, "%s is a symbolic link to %s, which does not exist; fix the link or the path", p.Source, target)
		case errors.Is(err, fs.ErrNotExist):
			r.add(key, ErrSourceMissing, "%s does not exist; check the path or create the folder", p.Source)
		default:
			r.add(key, ErrSourceMissing, "%s cannot be reached (%s); check the path and that copyd may read it", p.Source, reason(err))
		}
		return resolveExisting(p.Source)
	}
	if !fi.IsDir() {
		r.add(key, ErrSourceNotDir, "%s is a file, not a folder; give the folder to copy", p.Source)
		return ""
	}
	real, err := filepath.EvalSymlinks(p.Source)
	if err != nil {
		r.add(key, ErrSourceMissing, "%s cannot be resolved (%s); check the path and its symbolic links", p.Source, reason(err))
		return ""
	}
	p.Source = real
	return real
}

// checkWritable checks that dir is a folder copyd can write, or that its
// nearest existing ancestor is one, so that dir can be created.
func checkWritable(dir, key string, r *report) {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			r.add(key, ErrDestUnwritable, "%s is a file, not a folder; choose a folder", dir)
		} else if werr := writable(dir); werr != nil {
			r.add(key, ErrDestUnwritable, "%s cannot be written (%s); make it writable for the user copyd runs as, or choose another folder",
				dir, werr)
		}
		return
	}
	anc, afi := nearestExisting(dir)
	switch {
	case anc == "":
		r.add(key, ErrDestUnwritable, "%s cannot be created (%s); choose a folder on an existing disk", dir, reason(err))
	case !afi.IsDir():
		r.add(key, ErrDestUnwritable, "%s cannot be created because %s is a file; choose another folder", dir, anc)
	default:
		if werr := writable(anc); werr != nil {
			r.add(key, ErrDestUnwritable, "%s does not exist and cannot be created in %s (%s); create it, or make %s writable for the user copyd runs as",
				dir, anc, werr, anc)
		}
	}
}

// checkNames refuses two pairs with one name: logs, status and metrics
// tell pairs apart by name.
func checkNames(c *Config, r *report) {
	first := map[string]int{}
	for j, p := range c.Pairs {
		if p.Name == "" {
			continue
		}
		i, dup := first[p.Name]
		if !dup {
			first[p.Name] = j
			continue
		}
		key := r.pairKey(j, "name")
		if _, given := r.lines[key]; given {
			r.add(key, ErrDuplicateName, "%q is already the name of %s; give each pair its own name", p.Name, r.pairRef(c, i))
		} else {
			r.add(key, ErrDuplicateName, "%q, the source folder's name, is already the name of %s; add a name: to one of them",
				p.Name, r.pairRef(c, i))
		}
	}
}

// checkDestOverlaps refuses two pairs writing into one folder: each would
// see the other's files as its own, and with delete: true remove them.
// Remote destinations are compared by server (its addresses, not how it is
// written) and folder or prefix, as remoteDest.overlaps says.
func checkDestOverlaps(c *Config, rs []resolved, r *report) {
	remote, isRemote := remoteDests(c)
	for j := range rs {
		for i := range j {
			a, b := rs[i].dst, rs[j].dst
			if isRemote[i] && isRemote[j] && remote[i].overlaps(remote[j]) {
				r.add(r.pairKey(j, "destination"), ErrDestOverlap, "%s overlaps %s, the destination of %s; give each pair its own bucket prefix or server folder",
					c.Pairs[j].Destination, c.Pairs[i].Destination, r.pairRef(c, i))
				continue
			}
			if a == "" || b == "" || !HasPathPrefix(a, b) && !HasPathPrefix(b, a) {
				continue
			}
			key, dst, other := r.pairKey(j, "destination"), show(c.Pairs[j].Destination, b), r.pairRef(c, i)
			switch {
			case a == b:
				r.add(key, ErrDestOverlap, "%s is also the destination of %s; give each pair its own destination folder", dst, other)
			case HasPathPrefix(a, b):
				r.add(key, ErrDestOverlap, "%s is inside %s, the destination of %s; give each pair its own destination folder", dst, a, other)
			default:
				r.add(key, ErrDestOverlap, "%s contains %s, the destination of %s; give each pair its own destination folder", dst, a, other)
			}
			break // one overlap per pair says enough
		}
	}
}

// checkArchives keeps every archive apart from every source and
// destination: inside a source, archived files would be copied back; inside
// a destination, they would be mirrored away again; and a folder that
// contains one of them receives archived files into it.
func checkArchives(c *Config, rs []resolved, r *report) {
	for i, a := range rs {
		if a.archive != "" {
			checkArchive(c, rs, i, r)
		}
	}
}

// checkArchive reports the first folder that pair i's archive overlaps.
func checkArchive(c *Config, rs []resolved, i int, r *report) {
	arc := rs[i].archive
	for j, other := range rs {
		for _, f := range []struct{ path, what string }{{other.src, "source"}, {other.dst, "destination"}} {
			if f.path == "" || !HasPathPrefix(f.path, arc) && !HasPathPrefix(arc, f.path) {
				continue
			}
			of := "this pair's " + f.what
			if j != i {
				of = "the " + f.what + " of " + r.pairRef(c, j)
			}
			key, shown := r.pairKey(i, "archive"), show(c.Pairs[i].Archive, arc)
			const todo = "choose an archive folder outside every source and destination"
			switch {
			case arc == f.path:
				r.add(key, ErrArchiveOverlap, "%s is %s; %s", shown, of, todo)
			case HasPathPrefix(f.path, arc):
				r.add(key, ErrArchiveOverlap, "%s is inside %s, %s; %s", shown, f.path, of, todo)
			default:
				r.add(key, ErrArchiveOverlap, "%s contains %s, %s; %s", shown, f.path, of, todo)
			}
			return
		}
	}
}

// pairRef names pair i for messages about another pair.
func (r *report) pairRef(c *Config, i int) string {
	ref := fmt.Sprintf("pairs[%d]", i)
	if c.Pairs[i].Name != "" {
		ref = fmt.Sprintf("pair %q", c.Pairs[i].Name)
	}
	if l := r.line(fmt.Sprintf("pairs[%d]", i)); l > 0 {
		ref += fmt.Sprintf(" (line %d)", l)
	}
	return ref
}
