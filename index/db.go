package index

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SchemaVersion is the layout of the database this copyd writes. A
// database of an older version is migrated; one of a newer version (from a
// newer copyd) is rebuilt.
const SchemaVersion = 1

// migrations[i] takes a database from version i to i+1.
var migrations = []string{
	`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
	CREATE TABLE dirs (id INTEGER PRIMARY KEY, path BLOB UNIQUE NOT NULL);
	CREATE TABLE entries (
		dir INTEGER NOT NULL,
		name BLOB NOT NULL,
		rec BLOB NOT NULL,
		PRIMARY KEY (dir, name)
	) WITHOUT ROWID;
	CREATE TABLE failures (
		path BLOB PRIMARY KEY,
		op TEXT NOT NULL,
		err TEXT NOT NULL,
		since INTEGER NOT NULL,
		last INTEGER NOT NULL,
		attempts INTEGER NOT NULL
	);
	CREATE TABLE pending (path BLOB PRIMARY KEY, kind INTEGER NOT NULL);`,
}

// Binding says which pair of folders a database describes.
type Binding struct {
	Source      string // absolute path of the source folder
	Destination string // absolute path of the destination folder
	// DestDev and DestIno identify the destination folder itself: a
	// database never describes another folder put in its place (another
	// disk mounted there, the folder deleted and made again).
	DestDev, DestIno uint64
}

func (b Binding) values() map[string]string {
	return map[string]string{
		"source":      b.Source,
		"destination": b.Destination,
		"dest_dev":    strconv.FormatUint(b.DestDev, 10),
		"dest_ino":    strconv.FormatUint(b.DestIno, 10),
	}
}

// Path returns where the database of the pair with this destination lives
// in stateDir: a name that a person can tell apart (the destination's last
// element) and a hash of the whole destination path.
func Path(stateDir, destination string) string {
	sum := sha256.Sum256([]byte(destination))
	base := filepath.Base(destination)
	base = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r < ' ' {
			return '_'
		}
		return r
	}, base)
	if len(base) > 64 {
		base = base[:64]
	}
	return filepath.Join(stateDir, base+"-"+hex.EncodeToString(sum[:8])+".db")
}

// DB is one pair's index. Its methods are safe for concurrent use.
type DB struct {
	path   string
	log    *slog.Logger
	lock   *lockFile
	write  *sql.DB // one connection, owned by the writer goroutine
	read   *sql.DB
	ops    chan op
	done   chan struct{}
	broken atomic.Bool // a read or write found the database corrupt
	closed sync.Once
	reads  readStmts
	pend   *pending // queued writes, seen by reads; nil when read-only
	// Fresh says the database was made (or rebuilt) by this Open: it has
	// no records, and every entry must be compared in full.
	Fresh bool
}

// Options configure [Open].
type Options struct {
	Log *slog.Logger // nil: no logging
	// ReadOnly opens the database for a dry run: reads as usual, writes
	// are dropped.
	ReadOnly bool
}

// Open opens (or creates) the database at path for the pair bound by b,
// after taking the pair's lock: a second copyd on the same destination is
// refused with [ErrLocked], naming the process that holds it.
//
// A database that cannot be used as it is (missing, unreadable, corrupt,
// of a newer schema, bound to another folder) is rebuilt empty, with one
// log line saying why; DB.Fresh is then true. The error is non-nil only
// when the lock is held elsewhere or no database can be made at all (the
// state folder is not writable, say).
func Open(path string, b Binding, o Options) (*DB, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("make state folder: %w", err)
	}
	lock, err := takeLock(path+".lock", b.Destination)
	if err != nil {
		return nil, err
	}
	db := &DB{path: path, log: log, lock: lock, ops: make(chan op, opQueue), done: make(chan struct{})}
	fresh, why := false, ""
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		fresh, why = true, "missing"
	}
	if !fresh {
		warm(path)
	}
	if err := db.open(); err != nil {
		if fresh {
			return nil, db.failOpen(err)
		}
		db.closeConns()
		why = "unreadable: " + err.Error()
	} else if !fresh {
		why = db.check(b)
	}
	if why != "" && !fresh {
		log.Warn("index not usable ("+why+"); rebuilding it from a full comparison of both folders", "index", path)
		db.closeConns()
		removeFiles(path)
		fresh = true
		if err := db.open(); err != nil {
			return nil, db.failOpen(err)
		}
	} else if fresh {
		log.Info("no index yet; comparing both folders in full", "index", path)
	}
	if fresh {
		if err := db.create(b); err != nil {
			return nil, db.failOpen(err)
		}
	}
	db.Fresh = fresh
	if err := db.reads.prepare(db.read); err != nil {
		return nil, db.failOpen(err)
	}
	if o.ReadOnly {
		go db.discard()
	} else {
		db.pend = newPending()
		go db.writer()
	}
	return db, nil
}

// warm reads the database and its WAL from start to end, once, so that the
// page cache holds them before SQLite reads their pages in tree order: on a
// cold cache (after a reboot) that order is random reads, and a no-op run
// of 100,000 files spent a third of its time waiting for them. Sequential
// reads of the whole file cost less than that (9.6 MB for 100,000 files),
// and the quick check and the pass read every page anyway.
func warm(path string) {
	buf := make([]byte, 1<<20)
	for _, p := range []string{path, path + "-wal"} {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		for {
			if _, err := f.Read(buf); err != nil {
				break
			}
		}
		f.Close()
	}
}

// opQueue is how many writes may wait for the writer.
const opQueue = 4096

func (db *DB) failOpen(err error) error {
	db.closeConns()
	db.lock.release()
	return fmt.Errorf("open index %s: %w", db.path, err)
}

func (db *DB) open() error {
	dsn := "file:" + (&url.URL{Path: db.path}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(0)"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return err
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db.write, db.read = w, r
	if err := w.Ping(); err != nil {
		return err
	}
	return nil
}

func (db *DB) closeConns() {
	if db.read != nil {
		db.read.Close()
	}
	if db.write != nil {
		db.write.Close()
	}
	db.read, db.write = nil, nil
}

// check returns why the database at hand cannot be used for b, "" when it can.
func (db *DB) check(b Binding) string {
	var v int
	if err := db.write.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return "unreadable: " + err.Error()
	}
	if v > SchemaVersion {
		return fmt.Sprintf("written by a newer copyd, schema %d", v)
	}
	if v < 1 {
		return "empty or not copyd's"
	}
	if err := db.migrate(v); err != nil {
		return fmt.Sprintf("migration from schema %d failed: %v", v, err)
	}
	rows, err := db.write.Query(`SELECT key, value FROM meta`)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer rows.Close()
	have := map[string]string{}
	for rows.Next() {
		var k, val string
		if err := rows.Scan(&k, &val); err != nil {
			return "unreadable: " + err.Error()
		}
		have[k] = val
	}
	if err := rows.Err(); err != nil {
		return "unreadable: " + err.Error()
	}
	want := b.values()
	for _, k := range []string{"destination", "dest_dev", "dest_ino", "source"} {
		if have[k] != want[k] {
			return fmt.Sprintf("it describes %s %q, not %q", k, have[k], want[k])
		}
	}
	// A damaged page would otherwise be found only when a scan reads it,
	// after the pass had trusted the pages before it and with no way left
	// to record the pass. quick_check reads every page once (the restart
	// reads them all anyway, so it warms the cache the pass then uses).
	var verdict string
	if err := db.write.QueryRow(`PRAGMA quick_check(1)`).Scan(&verdict); err != nil {
		return "corrupt: " + err.Error()
	}
	if verdict != "ok" {
		return "corrupt: " + verdict
	}
	return ""
}

// migrate brings a database of schema version v to SchemaVersion.
func (db *DB) migrate(v int) error {
	for ; v < SchemaVersion; v++ {
		if _, err := db.write.Exec(migrations[v] + fmt.Sprintf(";PRAGMA user_version=%d", v+1)); err != nil {
			return err
		}
	}
	return nil
}

// create lays out an empty database bound to b.
func (db *DB) create(b Binding) error {
	if err := db.migrate(0); err != nil {
		return err
	}
	tx, err := db.write.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for k, v := range b.values() {
		if _, err := tx.Exec(`INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, k, v); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Close commits what is pending, ends the writer and releases the lock. A
// database found corrupt meanwhile is removed, so that the next start
// rebuilds it.
func (db *DB) Close() error {
	var err error
	db.closed.Do(func() {
		close(db.ops)
		<-db.done
		db.reads.close()
		if db.write != nil {
			// Fold the WAL into the database: the next start opens one file.
			_, _ = db.write.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		}
		db.closeConns()
		if db.broken.Load() {
			removeFiles(db.path)
		}
		db.lock.release()
	})
	return err
}

// Broken reports whether the database was found corrupt during this run:
// it is then ignored (no records, writes dropped) and rebuilt at the next
// start.
func (db *DB) Broken() bool { return db.broken.Load() }

// noteErr handles an error of the database itself: corruption makes the
// index ignored for the rest of the run, with one log line.
func (db *DB) noteErr(err error) {
	if err == nil || !isCorrupt(err) {
		return
	}
	if db.broken.CompareAndSwap(false, true) {
		db.log.Error("index is corrupt; ignoring it for this run (comparing by size and time) and rebuilding it at the next start",
			"index", db.path, "err", err)
	}
}

func isCorrupt(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return true
		}
	}
	return errors.Is(err, errBadRecord)
}

func removeFiles(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		_ = os.Remove(p)
	}
}

// ctxOrBackground keeps reads cancellable where a caller has a context.
func ctxOrBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
