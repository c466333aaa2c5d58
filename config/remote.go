package config

import (
	"context"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/copyd/copyd/dest"
)

// lookupTimeout bounds the name lookups of the overlap check, so that a
// dead DNS server delays copyd check and the daemon's start by at most this.
const lookupTimeout = 2 * time.Second

// remoteDest is what decides whether two remote destinations can hold the
// same files: the server, known by any of its addresses, and the folder or
// bucket prefix on it. The SFTP user is left out: two logins reach the same
// absolute folder.
type remoteDest struct {
	scheme string
	host   string   // lowercase name or normalized address; "" for S3 without an endpoint
	port   int      // SFTP: 22 when not given; S3: 443 or 80 when not given
	addrs  []string // host's addresses, host itself among them (filled by resolve)
	path   string   // SFTP: the clean absolute folder; S3: bucket/prefix
}

// remoteDests returns each pair's remote destination, ok false where the
// pair's destination is local or unusable.
func remoteDests(c *Config) (ds []remoteDest, ok []bool) {
	ds, ok = make([]remoteDest, len(c.Pairs)), make([]bool, len(c.Pairs))
	hosts := map[string]bool{}
	for i, p := range c.Pairs {
		loc, err := dest.Parse(p.Destination)
		if err != nil || !loc.Remote() {
			continue
		}
		d := remoteDest{scheme: loc.Scheme}
		if loc.Scheme == dest.SchemeS3 {
			d.host, d.port = endpointHost(p.S3.Endpoint)
			d.path = strings.TrimSuffix(loc.Bucket+"/"+loc.Prefix, "/")
		} else {
			d.host, d.port = hostName(loc.Host), loc.Port
			if d.port == 0 {
				d.port = 22
			}
			d.path = path.Clean("/" + loc.Path)
		}
		if d.host != "" {
			hosts[d.host] = true
		}
		ds[i], ok[i] = d, true
	}
	// Names are looked up only when there is more than one to compare:
	// most configurations name one server, and need no DNS to be checked.
	addrs := map[string][]string{}
	if len(hosts) > 1 {
		addrs = lookupAll(hosts)
	}
	for i := range ds {
		if ds[i].host != "" {
			ds[i].addrs = append([]string{ds[i].host}, addrs[ds[i].host]...)
		}
	}
	return ds, ok
}

// overlaps reports whether a and b are on one server and one's folder or
// prefix is the other's or inside it. S3 destinations without an endpoint
// share AWS's (or AWS_ENDPOINT_URL's); ones with different endpoints are
// taken to be different servers unless the endpoints share an address.
func (a remoteDest) overlaps(b remoteDest) bool {
	if a.scheme != b.scheme || a.port != b.port || (a.host == "") != (b.host == "") {
		return false
	}
	if a.host != "" && !slices.ContainsFunc(a.addrs, func(x string) bool { return slices.Contains(b.addrs, x) }) {
		return false
	}
	return within(a.path, b.path) || within(b.path, a.path)
}

// within reports whether slash-separated p is base or inside it.
func within(base, p string) bool {
	return p == base || strings.HasPrefix(p, strings.TrimSuffix(base, "/")+"/")
}

// hostName is h as a key: an IP address in its one canonical form, a name
// in lowercase without a trailing dot.
func hostName(h string) string {
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// endpointHost is an S3 endpoint's host and port ("" and 0 for none), with
// the port the scheme implies (https without one, as dest/s3 reads it).
func endpointHost(e string) (string, int) {
	e = strings.TrimSpace(e)
	if e == "" {
		return "", 0
	}
	port := 443
	if scheme, rest, ok := strings.Cut(e, "://"); ok {
		if strings.EqualFold(scheme, "http") {
			port = 80
		}
		if u, err := url.Parse(strings.ToLower(scheme) + "://" + rest); err == nil && u.Host != "" {
			e = u.Host
		} else {
			e = rest
		}
	}
	e = strings.TrimSuffix(e, "/")
	host, p, err := net.SplitHostPort(e)
	if err != nil {
		return hostName(strings.Trim(e, "[]")), port
	}
	if n, err := strconv.Atoi(p); err == nil {
		port = n
	}
	return hostName(host), port
}

// lookupAll resolves the names among hosts side by side, within
// lookupTimeout. A name that does not resolve keeps only itself: two
// such destinations are on one server when their names are equal.
func lookupAll(hosts map[string]bool) map[string][]string {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out = map[string][]string{}
	)
	for h := range hosts {
		if net.ParseIP(h) != nil {
			continue
		}
		wg.Go(func() {
			addrs, err := net.DefaultResolver.LookupHost(ctx, h)
			if err != nil {
				return
			}
			for i, a := range addrs {
				addrs[i] = hostName(a)
			}
			mu.Lock()
			out[h] = addrs
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}
