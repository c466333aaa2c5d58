package index

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// readStmts are the prepared queries of the read connections.
type readStmts struct {
	dir, get, failures, unfinished *sql.Stmt
}

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
	return err
}

func (s *readStmts) close() {
	for _, st := range []*sql.Stmt{s.dir, s.get, s.failures, s.unfinished} {
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
	for name, r := range view.set {
		if r == nil {
			delete(out, name)
			continue
		}
		if out == nil {
			out = make(map[string]Record)
		}
		out[name] = *r
	}
	if len(out) == 0 {
		return nil
	}
	return out
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
