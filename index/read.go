package index

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// readStmts are the prepared queries of the read connections.
type readStmts struct {
	dir, get, failures, unfinished *sql.Stmt
	dirs                           *sql.Stmt // DirsBatch folders at once
}

// DirsBatch is how many folders [DB.Dirs] reads with one query.
const DirsBatch = 64

func (s *readStmts) prepare(db *sql.DB) error {
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.Prepare(q)
		return st
	}
	s.dir = prep(`SELECT e.name, e.rec FROM entries e JOIN dirs d ON e.dir = d.id WHERE d.path = ?`)
	s.get = prep(`SELECT e.rec FROM entries e JOIN dirs d ON e.dir = d.id WHERE d.path = ? AND e.name = ?`)
	s.failures = prep(`SELECT path, op, err, since, last, attempts FROM failures ORDER BY since`)
	s.unfinished = prep(`SELECT path FROM pending WHERE kind = 1 ORDER BY path`)
	s.dirs = prep(`SELECT d.path, e.name, e.rec FROM dirs d JOIN entries e ON e.dir = d.id WHERE d.path IN (` +
		strings.TrimSuffix(strings.Repeat("?, ", DirsBatch), ", ") + `)`)
	return err
}

func (s *readStmts) close() {
	for _, st := range []*sql.Stmt{s.dir, s.get, s.failures, s.unfinished, s.dirs} {
		if st != nil {
			st.Close()
		}
	}
}

// Dir returns the records of the entries of folder rel ("" for the root),
// by name; nil when there are none (or the index is broken).
func (db *DB) Dir(ctx context.Context, rel string) map[string]Record {
	if db.broken.Load() {
		return nil
	}
	var view dirView
	if db.pend != nil {
		db.awaitMoves(ctx)
		view = db.pend.dir(rel) // before the read: what commits meanwhile is read
	}
	var out map[string]Record
	if !view.cleared {
		out = db.committedDir(ctx, rel)
		if out == nil && db.broken.Load() {
			return nil
		}
	}
	return view.apply(out)
}

// Dirs returns the records of the folders rels (at most [DirsBatch]), as
// Dir would one by one, with one query: starting a query costs as much as
// reading a folder's ten records, and a restart reads every folder's. A
// folder without records has no key. ok is false when the batch could not
// be read (the caller reads the folders one by one).
func (db *DB) Dirs(ctx context.Context, rels []string) (out map[string]map[string]Record, ok bool) {
	if db.broken.Load() || len(rels) == 0 || len(rels) > DirsBatch {
		return nil, false
	}
	views := make([]dirView, len(rels))
	if db.pend != nil {
		db.awaitMoves(ctx)
		for i, rel := range rels {
			views[i] = db.pend.dir(rel) // before the read: what commits meanwhile is read
		}
	}
	args := make([]any, DirsBatch)
	for i := range args {
		args[i] = []byte(rels[min(i, len(rels)-1)]) // padded with the last: IN ignores repeats
	}
	rows, err := db.reads.dirs.QueryContext(ctxOrBackground(ctx), args...)
	if err != nil {
		db.noteErr(err)
		return nil, false
	}
	defer rows.Close()
	out = make(map[string]map[string]Record, len(rels))
	var dir, name, rec sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&dir, &name, &rec); err != nil {
			db.noteErr(err)
			return nil, false
		}
		r, err := decodeRecord(rec)
		if err != nil {
			db.noteErr(err)
			return nil, false
		}
		m := out[string(dir)]
		if m == nil {
			m = make(map[string]Record)
			out[string(dir)] = m
		}
		m[string(name)] = r
	}
	if err := rows.Err(); err != nil {
		db.noteErr(err)
		return nil, false
	}
	for i, rel := range rels {
		if m := views[i].apply(out[rel]); m != nil {
			out[rel] = m
		} else {
			delete(out, rel)
		}
	}
	return out, true
}

// awaitMoves waits, when a move is queued, until it is committed: the
// queue does not replay moves (see pending).
func (db *DB) awaitMoves(ctx context.Context) {
	if db.pend.moves.Load() > 0 {
		db.Flush(ctx)
	}
}

// committedDir reads the committed records of folder rel.
func (db *DB) committedDir(ctx context.Context, rel string) map[string]Record {
	rows, err := db.reads.dir.QueryContext(ctxOrBackground(ctx), []byte(rel))
	if err != nil {
		db.noteErr(err)
		return nil
	}
	defer rows.Close()
	var out map[string]Record
	var name, rec sql.RawBytes // valid until the next Next: decoded at once
	for rows.Next() {
		if err := rows.Scan(&name, &rec); err != nil {
			db.noteErr(err)
			return nil
		}
		r, err := decodeRecord(rec)
		if err != nil {
			db.noteErr(err)
			return nil
		}
		if out == nil {
			out = make(map[string]Record)
		}
		out[string(name)] = r
	}
	db.noteErr(rows.Err())
	return out
}

// Get returns the record of rel; ok is false when there is none.
func (db *DB) Get(ctx context.Context, rel string) (rec Record, ok bool) {
	if db.broken.Load() || rel == "" {
		return Record{}, false
	}
	if db.pend != nil {
		db.awaitMoves(ctx)
		if rec, ok, known := db.pend.lookup(rel); known {
			return rec, ok
		}
	}
	dir, name := split(rel)
	var b []byte
	err := db.reads.get.QueryRowContext(ctxOrBackground(ctx), []byte(dir), []byte(name)).Scan(&b)
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			db.noteErr(err)
		}
		return Record{}, false
	}
	rec, err = decodeRecord(b)
	if err != nil {
		db.noteErr(err)
		return Record{}, false
	}
	return rec, true
}

// Failure is a path that failed, as the index keeps it across restarts.
type Failure struct {
	Path     string
	Op       string
	Err      string
	Since    time.Time // the first failure of this episode
	Last     time.Time
	Attempts int
}

// Failures returns the paths that failed and have not succeeded since,
// oldest first.
func (db *DB) Failures(ctx context.Context) []Failure {
	if db.broken.Load() {
		return nil
	}
	rows, err := db.reads.failures.QueryContext(ctxOrBackground(ctx))
	if err != nil {
		db.noteErr(err)
		return nil
	}
	defer rows.Close()
	var out []Failure
	for rows.Next() {
		var f Failure
		var p []byte
		var since, last int64
		if err := rows.Scan(&p, &f.Op, &f.Err, &since, &last, &f.Attempts); err != nil {
			db.noteErr(err)
			return nil
		}
		f.Path, f.Since, f.Last = string(p), time.Unix(0, since), time.Unix(0, last)
		out = append(out, f)
	}
	db.noteErr(rows.Err())
	return out
}

// UnfinishedFolders returns the folders noted with [DB.Unfinished] and not
// forgotten since ([DB.FinishedAll]): after a crash, where changes were
// waiting to be copied. Sorted, so a folder comes before those below it.
func (db *DB) UnfinishedFolders(ctx context.Context) []string {
	if db.broken.Load() {
		return nil
	}
	rows, err := db.reads.unfinished.QueryContext(ctxOrBackground(ctx))
	if err != nil {
		db.noteErr(err)
		return nil
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			db.noteErr(err)
			return nil
		}
		out = append(out, string(p))
	}
	db.noteErr(rows.Err())
	return out
}
