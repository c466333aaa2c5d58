package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/copyd/copyd/dest"
	"github.com/copyd/copyd/internal/tempname"
	psftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Config says where to connect and how to log in.
type Config struct {
	User string // "" for the local user's name
	Host string
	Port int    // 0 for 22
	Path string // the folder on the server (absolute, or relative to the login folder)
	// KeyFile is a private key to log in with (unencrypted); "" tries the
	// agent and ~/.ssh/id_ed25519, id_ecdsa, id_rsa.
	KeyFile string
	// KnownHosts is the known_hosts file host keys are checked against;
	// "" is ~/.ssh/known_hosts.
	KnownHosts string
	// Connections is how many operations run at once (Features); 0 is 8.
	Connections int
	// Timeout bounds the dial and the login; 0 is 15 s.
	Timeout time.Duration
	// NoFsync leaves uploads to the server's page cache (fsync: false);
	// else each is flushed with fsync@openssh.com where offered.
	NoFsync bool
}

// SFTP is a folder on an SFTP server.
type SFTP struct {
	cfg  Config
	addr string
	auth []ssh.AuthMethod
	hk   ssh.HostKeyCallback
	name string

	mu      sync.Mutex
	conn    *ssh.Client
	clients []*psftp.Client // one SFTP session each; see connect
	next    atomic.Uint32   // the session the next operation uses
	posix   bool            // posix-rename@openssh.com
	fsync   bool            // fsync@openssh.com
}

var _ interface {
	dest.Destination
	dest.Renamer
} = (*SFTP)(nil)

// Dial connects to the server, checks its host key and logs in, and
// checks that the folder exists.
func Dial(ctx context.Context, cfg Config) (*SFTP, error) {
	if cfg.Port == 0 {
		cfg.Port = 22
	}
	if cfg.User == "" {
		cfg.User = localUser()
	}
	if cfg.Connections == 0 {
		cfg.Connections = 8
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	s := &SFTP{cfg: cfg, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}
	s.name = fmt.Sprintf("sftp://%s@%s%s", cfg.User, s.addr, cfg.Path)
	home, _ := os.UserHomeDir()
	known := cfg.KnownHosts
	if known == "" {
		known = path.Join(home, ".ssh", "known_hosts")
	}
	hk, err := knownhosts.New(known)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the known hosts file %s (%w): copyd checks every server's host key; add this one with: ssh-keyscan -p %d %s >> %s",
			s.name, known, err, cfg.Port, cfg.Host, known)
	}
	s.hk = checkHostKey(hk, known, cfg)
	if s.auth, err = authMethods(cfg, home); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	fi, err := c.Stat(cfg.Path)
	switch {
	case err != nil:
		s.Close()
		err = mapErr(err)
		if errors.Is(err, dest.ErrNotExist) {
			return nil, fmt.Errorf("%s: the folder %s does not exist on the server (%w): create it there first", s.name, cfg.Path, err)
		}
		return nil, fmt.Errorf("%s: the folder %s on the server: %w", s.name, cfg.Path, err)
	case !fi.IsDir():
		s.Close()
		return nil, fmt.Errorf("%s: %s on the server is not a folder", s.name, cfg.Path)
	}
	return s, nil
}

func localUser() string {
	for _, v := range []string{"USER", "LOGNAME"} {
		if u := os.Getenv(v); u != "" {
			return u
		}
	}
	return "root"
}

// checkHostKey wraps the known_hosts check so that its refusals say what
// to do.
func checkHostKey(hk ssh.HostKeyCallback, file string, cfg Config) ssh.HostKeyCallback {
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := hk(host, remote, key)
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			fp := ssh.FingerprintSHA256(key)
			if len(ke.Want) == 0 {
				return fmt.Errorf("the host key of %s (%s %s) is not in %s: check that fingerprint with the server's admin, then add it with: ssh-keyscan -p %d %s >> %s",
					host, key.Type(), fp, file, cfg.Port, cfg.Host, file)
			}
			return fmt.Errorf("the host key of %s changed: it is now %s %s, but %s line %d says otherwise; if the server was reinstalled, remove the old key with ssh-keygen -f %s -R '%s' and add the new one; otherwise someone may be in between: do not connect",
				host, key.Type(), fp, ke.Want[0].Filename, ke.Want[0].Line, file, knownhosts.Normalize(host))
		}
		return err
	}
}

// authMethods returns the agent and the key files to log in with.
func authMethods(cfg Config, home string) ([]ssh.AuthMethod, error) {
	var signers []ssh.Signer
	files := []string{cfg.KeyFile}
	if cfg.KeyFile == "" {
		files = []string{path.Join(home, ".ssh", "id_ed25519"), path.Join(home, ".ssh", "id_ecdsa"), path.Join(home, ".ssh", "id_rsa")}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if cfg.KeyFile != "" {
				return nil, fmt.Errorf("key file: %w", err)
			}
			continue
		}
		sg, err := ssh.ParsePrivateKey(b)
		if err != nil {
			var pe *ssh.PassphraseMissingError
			if errors.As(err, &pe) {
				if cfg.KeyFile != "" {
					return nil, fmt.Errorf("key file %s has a passphrase: load it into ssh-agent (ssh-add %s) and give copyd SSH_AUTH_SOCK, or use a key without one", f, f)
				}
				continue // the agent may hold it
			}
			return nil, fmt.Errorf("key file %s: %w", f, err)
		}
		signers = append(signers, sg)
	}
	var methods []ssh.AuthMethod
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" && cfg.KeyFile == "" {
		if c, err := net.Dial("unix", sock); err == nil {
			methods = append(methods, ssh.PublicKeysCallback(agent.NewClient(c).Signers))
		}
	}
	if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	if len(methods) == 0 {
		return nil, fmt.Errorf("no key to log in with: start ssh-agent with your key (SSH_AUTH_SOCK), put one in ~/.ssh/id_ed25519, or name one with key_file")
	}
	return methods, nil
}

// connect returns the SFTP client, dialling the server if there is no
// live connection.
func (s *SFTP) connect(ctx context.Context) (*psftp.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clients) > 0 {
		return s.clients[int(s.next.Add(1))%len(s.clients)], nil
	}
	d := net.Dialer{Timeout: s.cfg.Timeout}
	nc, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, dest.Transient(fmt.Errorf("%s: %w", s.name, err))
	}
	_ = nc.SetDeadline(time.Now().Add(s.cfg.Timeout))
	cc, chans, reqs, err := ssh.NewClientConn(nc, s.addr, &ssh.ClientConfig{
		User: s.cfg.User, Auth: s.auth, HostKeyCallback: s.hk, Timeout: s.cfg.Timeout,
	})
	if err != nil {
		nc.Close()
		if strings.Contains(err.Error(), "host key") {
			return nil, fmt.Errorf("%s: %w", s.name, err) // permanent: the key must be checked by a person
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("%s: the server refused every key copyd offered as %s (%w): add the public key to ~%s/.ssh/authorized_keys on the server: %w",
				s.name, s.cfg.User, err, s.cfg.User, dest.ErrPermission)
		}
		return nil, dest.Transient(fmt.Errorf("%s: %w", s.name, err))
	}
	_ = nc.SetDeadline(time.Time{})
	conn := ssh.NewClient(cc, chans, reqs)
	// Several SFTP sessions on one SSH connection: OpenSSH's sftp-server
	// answers one request at a time per session, so one session
	// serializes every upload behind each fsync; a session per pair of
	// connections lets them overlap (as rclone's pool of connections
	// does), at one login.
	var clients []*psftp.Client
	for range max(1, (s.cfg.Connections+1)/2) {
		client, err := psftp.NewClient(conn, psftp.UseConcurrentWrites(true), psftp.UseConcurrentReads(true))
		if err != nil {
			if len(clients) > 0 {
				break // the server limits sessions: use those it gave
			}
			conn.Close()
			return nil, dest.Transient(fmt.Errorf("%s: start sftp: %w", s.name, err))
		}
		clients = append(clients, client)
	}
	_, s.posix = clients[0].HasExtension("posix-rename@openssh.com")
	_, s.fsync = clients[0].HasExtension("fsync@openssh.com")
	s.fsync = s.fsync && !s.cfg.NoFsync
	s.conn, s.clients = conn, clients
	go func() {
		_ = conn.Wait()
		s.mu.Lock()
		if s.conn == conn {
			s.clients, s.conn = nil, nil
		}
		s.mu.Unlock()
		for _, c := range clients {
			c.Close()
		}
	}()
	return clients[0], nil
}

func (s *SFTP) String() string { return s.name }

// Features: real folders and symlinks, modes, whole seconds.
func (s *SFTP) Features() dest.Features {
	return dest.Features{Folders: true, Symlinks: true, Modes: true, MtimePrecision: time.Second, Connections: s.cfg.Connections,
		MinTime: time.Unix(0, 0), MaxTime: maxTime}
}

// Close ends the connection.
func (s *SFTP) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	for _, c := range s.clients {
		c.Close()
	}
	err := s.conn.Close()
	s.clients, s.conn = nil, nil
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		err = nil
	}
	return err
}

// abs returns the server path of rel.
func (s *SFTP) abs(rel string) (string, error) {
	if err := dest.CheckRel(rel); err != nil {
		return "", err
	}
	return path.Join(s.cfg.Path, rel), nil
}

// do runs op with a live client and maps its error.
func (s *SFTP) do(ctx context.Context, op func(c *psftp.Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	err = op(c)
	if err != nil && lostConnection(err) {
		s.mu.Lock()
		if slices.Contains(s.clients, c) {
			for _, c := range s.clients {
				c.Close()
			}
			s.conn.Close()
			s.clients, s.conn = nil, nil
		}
		s.mu.Unlock()
	}
	return mapErr(err)
}

func (s *SFTP) Stat(ctx context.Context, rel string) (e dest.Entry, err error) {
	p, err := s.abs(rel)
	if err != nil {
		return e, err
	}
	err = s.do(ctx, func(c *psftp.Client) error {
		fi, err := c.Lstat(p)
		if err != nil {
			return err
		}
		e = entryOf(path.Base("/"+rel), fi)
		if e.Kind == dest.Symlink {
			e.Target, err = c.ReadLink(p)
		}
		return err
	})
	if rel == "" {
		e.Name = ""
	}
	return e, err
}

func (s *SFTP) List(ctx context.Context, rel string) (out []dest.Entry, err error) {
	p, err := s.abs(rel)
	if err != nil {
		return nil, err
	}
	err = s.do(ctx, func(c *psftp.Client) error {
		list, err := c.ReadDirContext(ctx, p)
		if err != nil {
			return err
		}
		out = make([]dest.Entry, 0, len(list))
		for _, fi := range list {
			e := entryOf(fi.Name(), fi)
			if e.Kind == dest.Symlink {
				if e.Target, err = c.ReadLink(path.Join(p, fi.Name())); err != nil {
					if errors.Is(mapErr(err), fs.ErrNotExist) {
						continue // removed meanwhile
					}
					return err
				}
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

func (s *SFTP) Open(ctx context.Context, rel string) (rc io.ReadCloser, err error) {
	p, err := s.abs(rel)
	if err != nil {
		return nil, err
	}
	err = s.do(ctx, func(c *psftp.Client) error {
		f, err := c.Open(p)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			f.Close()
			if err == nil {
				err = fmt.Errorf("open %s: not a file: %w", rel, fs.ErrInvalid)
			}
			return err
		}
		rc = f
		return nil
	})
	return rc, err
}

func entryOf(name string, fi fs.FileInfo) dest.Entry {
	e := dest.Entry{Name: name, Size: fi.Size(), ModTime: fi.ModTime(), Mode: fi.Mode() & dest.ModeMask, UID: -1, GID: -1}
	if st, ok := fi.Sys().(*psftp.FileStat); ok {
		e.UID, e.GID = int(st.UID), int(st.GID)
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		e.Kind = dest.File
	case m.IsDir():
		e.Kind = dest.Dir
	case m&fs.ModeSymlink != 0:
		e.Kind = dest.Symlink
	default:
		e.Kind = dest.Other
	}
	if e.Kind != dest.File {
		e.Size = 0
	}
	return e
}

// maxTime is the last modification time SFTP version 3 can carry.
var maxTime = time.Unix(1<<32-1, 0)

func checkTime(t time.Time) error {
	if t.After(maxTime) || (!t.IsZero() && t.Before(time.Unix(0, 0))) {
		return fmt.Errorf("modification time %v is outside what SFTP carries (1970 to 2106): %w", t, dest.ErrUnsupported)
	}
	return nil
}

// Put writes a temp file beside rel and renames it over rel once complete.
func (s *SFTP) Put(ctx context.Context, rel string, r io.Reader, size int64, m dest.Meta) error {
	p, err := s.abs(rel)
	if err != nil {
		return err
	}
	if rel == "" {
		return fmt.Errorf("put: the root is a folder: %w", fs.ErrInvalid)
	}
	if err := checkTime(m.ModTime); err != nil {
		return err
	}
	tmp := tempname.Beside(p)
	return s.do(ctx, func(c *psftp.Client) (err error) {
		f, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err != nil {
			return s.full(c, p, err, size)
		}
		defer func() {
			if err != nil {
				f.Close()
				_ = c.Remove(tmp)
			}
		}()
		// Writes in flight at once: ReadFrom would write one packet at a
		// time, waiting for each acknowledgement, since the exact reader
		// does not tell its length.
		inflight := int(min(size/maxPacket+1, maxInflight))
		if _, err := f.ReadFromWithConcurrency(dest.Exact(ctx, r, size), inflight); err != nil {
			if errors.Is(err, dest.ErrShortSource) {
				return fmt.Errorf("put %s: %w", rel, dest.ErrShortSource)
			}
			return s.full(c, p, err, size)
		}
		if s.fsync {
			if err := f.Sync(); err != nil {
				return s.full(c, p, err, size)
			}
		}
		if err := f.Chmod(m.Mode & dest.ModeMask); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return s.full(c, p, err, size)
		}
		if !m.ModTime.IsZero() {
			if err := c.Chtimes(tmp, m.ModTime, m.ModTime); err != nil {
				return err
			}
		}
		return s.rename(c, tmp, p)
	})
}

// maxPacket is pkg/sftp's write size; maxInflight bounds the writes of
// one upload in flight at once (64 × 32 KiB: 2 MiB on the wire).
const (
	maxPacket   = 32 << 10
	maxInflight = 64
)

// rename renames from over to: posix-rename where offered, else a plain
// rename after removing a file at to (see the package doc).
func (s *SFTP) rename(c *psftp.Client, from, to string) error {
	if s.posix {
		return c.PosixRename(from, to)
	}
	err := c.Rename(from, to)
	if err != nil {
		if fi, serr := c.Lstat(to); serr == nil && !fi.IsDir() {
			if rerr := c.Remove(to); rerr == nil {
				err = c.Rename(from, to)
			}
		}
	}
	return err
}

// full turns a generic write failure into dest.ErrFull when the server's
// disk has no space left: SFTP version 3 has no code for it (OpenSSH
// sends SSH_FX_FAILURE), but statvfs@openssh.com tells.
func (s *SFTP) full(c *psftp.Client, p string, err error, need int64) error {
	var se *psftp.StatusError
	if !errors.As(err, &se) || se.Code != 4 { // SSH_FX_FAILURE
		return err
	}
	if _, ok := c.HasExtension("statvfs@openssh.com"); !ok {
		return err
	}
	// SSH_FX_FAILURE says nothing more; the server's free space tells
	// whether this upload (need bytes) could fit at all.
	if st, serr := c.StatVFS(path.Dir(p)); serr == nil && (st.Bavail*st.Bsize < uint64(max(need, 1<<20)) || st.Favail == 0) {
		return fmt.Errorf("%w: %w", dest.ErrFull, err)
	}
	return err
}

func (s *SFTP) Mkdir(ctx context.Context, rel string, m dest.Meta) error {
	p, err := s.abs(rel)
	if err != nil {
		return err
	}
	return s.do(ctx, func(c *psftp.Client) error {
		if err := c.Mkdir(p); err != nil {
			if fi, serr := c.Lstat(p); serr == nil && fi.IsDir() {
				return nil
			}
			return err
		}
		return s.setMeta(c, p, m)
	})
}

func (s *SFTP) Symlink(ctx context.Context, rel, target string, m dest.Meta) error {
	p, err := s.abs(rel)
	if err != nil {
		return err
	}
	tmp := tempname.Beside(p)
	return s.do(ctx, func(c *psftp.Client) error {
		if err := c.Symlink(target, tmp); err != nil {
			return err
		}
		if err := s.rename(c, tmp, p); err != nil {
			_ = c.Remove(tmp)
			return err
		}
		return nil
	})
}

func (s *SFTP) SetMeta(ctx context.Context, rel string, m dest.Meta) error {
	p, err := s.abs(rel)
	if err != nil {
		return err
	}
	if err := checkTime(m.ModTime); err != nil {
		return err
	}
	return s.do(ctx, func(c *psftp.Client) error {
		fi, err := c.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil // setstat would follow it (see the package doc)
		}
		return s.setMeta(c, p, m)
	})
}

func (s *SFTP) setMeta(c *psftp.Client, p string, m dest.Meta) error {
	if err := c.Chmod(p, m.Mode&dest.ModeMask); err != nil {
		return err
	}
	if !m.ModTime.IsZero() {
		return c.Chtimes(p, m.ModTime, m.ModTime)
	}
	return nil
}

func (s *SFTP) Remove(ctx context.Context, rel string) error {
	p, err := s.abs(rel)
	if err != nil {
		return err
	}
	if rel == "" {
		return fmt.Errorf("remove: the root is not removed: %w", fs.ErrInvalid)
	}
	return s.do(ctx, func(c *psftp.Client) error {
		fi, err := c.Lstat(p)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return c.Remove(p)
		}
		err = c.RemoveDirectory(p)
		if err != nil {
			if list, lerr := c.ReadDir(p); lerr == nil && len(list) > 0 {
				return fmt.Errorf("%w: %w", dest.ErrNotEmpty, err)
			}
		}
		return err
	})
}

// Rename renames from to to, replacing what is there.
func (s *SFTP) Rename(ctx context.Context, from, to string) error {
	pf, err := s.abs(from)
	if err != nil {
		return err
	}
	pt, err := s.abs(to)
	if err != nil {
		return err
	}
	return s.do(ctx, func(c *psftp.Client) error { return s.rename(c, pf, pt) })
}

// lostConnection reports whether err means the connection is gone.
func lostConnection(err error) bool {
	var se *psftp.StatusError
	if errors.As(err, &se) {
		return se.Code == 6 || se.Code == 7 // SSH_FX_NO_CONNECTION, SSH_FX_CONNECTION_LOST
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, psftp.ErrSSHFxConnectionLost)
}

// mapErr translates SFTP status codes into the dest sentinels.
func mapErr(err error) error {
	if err == nil || dest.IsTransient(err) {
		return err
	}
	if lostConnection(err) {
		return dest.Transient(err)
	}
	var se *psftp.StatusError
	if errors.As(err, &se) {
		switch se.Code {
		case 2: // SSH_FX_NO_SUCH_FILE
			return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		case 3: // SSH_FX_PERMISSION_DENIED
			return fmt.Errorf("%w: %w", fs.ErrPermission, err)
		case 8: // SSH_FX_OP_UNSUPPORTED
			return fmt.Errorf("%w: %w", dest.ErrUnsupported, err)
		}
	}
	return err
}
