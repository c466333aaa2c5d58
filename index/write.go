package index

import (
	"context"
	"database/sql"
	"path"
	"strings"
	"time"
)

type opKind uint8

const (
	opPut opKind = iota
	opDelete
	opMove
	opFail
	opSucceeded
	opBarrier
	opUnfinished  // a folder has changes not yet copied
	opFinishedAll // every noted folder is done
)

// op is one write waiting for the writer.
type op struct {
	kind opKind
	rel  string // the destination path (slash-separated, relative)
	to   string // opMove: the new path
	rec  Record
	fail Failure
	done chan struct{} // opBarrier: closed once everything before it is committed
	seq  uint64        // its place in db.pend (puts and deletes)
}

// maxBatch bounds the writes of one transaction.
const maxBatch = 8192

// Put records rec as what the destination holds under rel, replacing any
// record there. It blocks only while the writer's queue is full.
func (db *DB) Put(rel string, rec Record) { db.send(op{kind: opPut, rel: rel, rec: rec}) }

// Delete forgets rel and, when it is a folder, everything below it.
func (db *DB) Delete(rel string) { db.send(op{kind: opDelete, rel: rel}) }

// Move moves the record of from, and of everything below it, to to; what
// was recorded under to is forgotten first (a rename over it).
func (db *DB) Move(from, to string) { db.send(op{kind: opMove, rel: from, to: to}) }

// Fail records a failure of rel (see [DB.Failures]); the first one's time
// is kept as Since.
func (db *DB) Fail(rel, opName, errText string, at time.Time) {
	db.send(op{kind: opFail, rel: rel, fail: Failure{Path: rel, Op: opName, Err: errText, Since: at, Last: at}})
}

// Succeeded forgets the failures of rel.
func (db *DB) Succeeded(rel string) { db.send(op{kind: opSucceeded, rel: rel}) }

// Unfinished records that the folder rel has changes copyd has not
// copied yet, so that a start after a crash looks at it first (see
// [DB.Unfinished]).
func (db *DB) Unfinished(rel string) { db.send(op{kind: opUnfinished, rel: rel}) }

// FinishedAll forgets every folder noted with Unfinished: all their
// changes are copied.
func (db *DB) FinishedAll() { db.send(op{kind: opFinishedAll}) }

// Flush returns once every write made before it is committed, or ctx ends.
func (db *DB) Flush(ctx context.Context) {
	done := make(chan struct{})
	db.send(op{kind: opBarrier, done: done})
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (db *DB) send(o op) {
	if db.pend != nil {
		o.seq = db.pend.note(o)
	}
	defer func() {
		if recover() != nil && o.done != nil { // closed: nothing more is written
			close(o.done)
		}
	}()
	db.ops <- o
}

// discard is the writer of a read-only database.
func (db *DB) discard() {
	defer close(db.done)
	db.drain()
}

// drain takes the queued writes without writing them.
func (db *DB) drain() {
	for o := range db.ops {
		if o.done != nil {
			close(o.done)
		}
	}
}

// writer commits the queued writes in batches: whatever queued up while the
// last transaction ran goes into the next one.
func (db *DB) writer() {
	defer close(db.done)
	ctx := context.Background()
	conn, err := db.write.Conn(ctx)
	if err != nil {
		db.noteErr(err)
		db.drain()
		return
	}
	defer conn.Close()
	w := &batchWriter{db: db, conn: conn, dirs: make(map[string]int64)}
	if err := w.prepare(ctx); err != nil {
		db.noteErr(err)
		db.log.Error("index not written: cannot prepare its statements", "index", db.path, "err", err)
		db.drain()
		return
	}
	defer w.close()
	for first := range db.ops {
		batch := collect(db.ops, first)
		w.commit(ctx, batch)
		db.pend.committed(batch)
		for _, o := range batch {
			if o.kind == opBarrier { // after pend: a flushed read finds it all in the database
				close(o.done)
			}
		}
	}
}

// batchWindow is how long a batch waits for more writes after its first.
// Records are facts about copies already made: committing them a moment
// later costs nothing, while a commit per copy would write the same
// B-tree pages into the WAL again and again (a copy of 100,000 small
// files spent 20 % of its CPU time so).
const batchWindow = 100 * time.Millisecond

// collect returns first and the writes that follow it within batchWindow,
// up to maxBatch; a barrier (Flush) or the end of the queue closes it early.
func collect(ops <-chan op, first op) []op {
	batch := append(make([]op, 0, 256), first)
	if first.kind == opBarrier {
		return batch
	}
	t := time.NewTimer(batchWindow)
	defer t.Stop()
	for len(batch) < maxBatch {
		select {
		case o, ok := <-ops:
			if !ok {
				return batch
			}
			batch = append(batch, o)
			if o.kind == opBarrier {
				return batch
			}
		case <-t.C:
			return batch
		}
	}
	return batch
}

// batchWriter applies ops on the writer's connection.
type batchWriter struct {
	db    *DB
	conn  *sql.Conn
	dirs  map[string]int64  // folder path → id, as far as known
	multi map[int]*sql.Stmt // INSERTs of n records (see puts)

	put, del, dirID, newDir, getRec, fail, unfail *sql.Stmt
	delTree, delDirs, moveDirs                    *sql.Stmt
	unfinished, finishedAll                       *sql.Stmt
}

func (w *batchWriter) prepare(ctx context.Context) error {
	for _, s := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&w.put, `INSERT OR REPLACE INTO entries (dir, name, rec) VALUES (?, ?, ?)`},
		{&w.del, `DELETE FROM entries WHERE dir = ? AND name = ?`},
		{&w.dirID, `SELECT id FROM dirs WHERE path = ?`},
		{&w.newDir, `INSERT INTO dirs (path) VALUES (?)`},
		{&w.getRec, `SELECT rec FROM entries WHERE dir = ? AND name = ?`},
		{&w.fail, `INSERT INTO failures (path, op, err, since, last, attempts) VALUES (?, ?, ?, ?, ?, 1)
			ON CONFLICT (path) DO UPDATE SET op = excluded.op, err = excluded.err, last = excluded.last, attempts = attempts + 1`},
		{&w.unfail, `DELETE FROM failures WHERE path = ?`},
		{&w.unfinished, `INSERT OR IGNORE INTO pending (path, kind) VALUES (?, 1)`},
		{&w.finishedAll, `DELETE FROM pending`},
		// Folders below a path: "p/" <= path < "p0" ('0' follows '/').
		{&w.delTree, `DELETE FROM entries WHERE dir IN (SELECT id FROM dirs WHERE path = ? OR (path >= ? AND path < ?))`},
		{&w.delDirs, `DELETE FROM dirs WHERE path = ? OR (path >= ? AND path < ?)`},
		{&w.moveDirs, `UPDATE dirs SET path = CAST(? || substr(path, ?) AS BLOB) WHERE path = ? OR (path >= ? AND path < ?)`},
	} {
		st, err := w.conn.PrepareContext(ctx, s.sql)
		if err != nil {
			return err
		}
		*s.st = st
	}
	return nil
}

func (w *batchWriter) close() {
	for _, st := range w.multi {
		st.Close()
	}
	for _, st := range []*sql.Stmt{w.put, w.del, w.dirID, w.newDir, w.getRec, w.fail, w.unfail, w.delTree, w.delDirs, w.moveDirs, w.unfinished, w.finishedAll} {
		if st != nil {
			st.Close()
		}
	}
}

// commit applies one batch in one transaction. An error drops the batch
// (a lost record costs a comparison later, never data) and is logged.
func (w *batchWriter) commit(ctx context.Context, batch []op) {
	if w.db.broken.Load() {
		return
	}
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		w.failed(err)
		return
	}
	for i := 0; i < len(batch); i++ {
		o := batch[i]
		var err error
		switch o.kind {
		case opBarrier:
			continue
		case opPut:
			j := i + 1
			for j < len(batch) && j-i < putsPerStmt && batch[j].kind == opPut {
				j++
			}
			err = w.puts(ctx, batch[i:j])
			i = j - 1
		default:
			err = w.apply(ctx, o)
		}
		if err != nil {
			_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
			clear(w.dirs) // ids made in the rolled-back transaction are gone
			w.failed(err)
			return
		}
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
		clear(w.dirs)
		w.failed(err)
	}
}

func (w *batchWriter) failed(err error) {
	w.db.noteErr(err)
	if !w.db.broken.Load() {
		w.db.log.Warn("index writes lost; the paths concerned are compared in full next time", "index", w.db.path, "err", err)
	}
}

// putsPerStmt is how many records one INSERT writes: one statement per
// record spent most of the writer's time in the driver.
const putsPerStmt = 64

// puts writes consecutive puts with one statement.
func (w *batchWriter) puts(ctx context.Context, ops []op) error {
	if len(ops) == 1 {
		return w.apply(ctx, ops[0])
	}
	args := make([]any, 0, 3*len(ops))
	for _, o := range ops {
		dir, name := split(o.rel)
		id, err := w.dir(ctx, dir, true)
		if err != nil {
			return err
		}
		args = append(args, id, []byte(name), o.rec.encode())
	}
	st, err := w.multiPut(ctx, len(ops))
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// multiPut returns the prepared INSERT of n records.
func (w *batchWriter) multiPut(ctx context.Context, n int) (*sql.Stmt, error) {
	if st, ok := w.multi[n]; ok {
		return st, nil
	}
	q := `INSERT OR REPLACE INTO entries (dir, name, rec) VALUES (?, ?, ?)` + strings.Repeat(", (?, ?, ?)", n-1)
	st, err := w.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if w.multi == nil {
		w.multi = make(map[int]*sql.Stmt)
	}
	w.multi[n] = st
	return st, nil
}

func (w *batchWriter) apply(ctx context.Context, o op) error {
	switch o.kind {
	case opPut:
		dir, name := split(o.rel)
		id, err := w.dir(ctx, dir, true)
		if err != nil {
			return err
		}
		_, err = w.put.ExecContext(ctx, id, []byte(name), o.rec.encode())
		return err
	case opDelete:
		return w.delete(ctx, o.rel)
	case opMove:
		return w.move(ctx, o.rel, o.to)
	case opFail:
		f := o.fail
		_, err := w.fail.ExecContext(ctx, []byte(f.Path), f.Op, f.Err, f.Since.UnixNano(), f.Last.UnixNano())
		return err
	case opSucceeded:
		_, err := w.unfail.ExecContext(ctx, []byte(o.rel))
		return err
	case opUnfinished:
		_, err := w.unfinished.ExecContext(ctx, []byte(o.rel))
		return err
	case opFinishedAll:
		_, err := w.finishedAll.ExecContext(ctx)
		return err
	}
	return nil
}

// dir returns the id of folder rel, making one when make is set; 0 when
// there is none.
func (w *batchWriter) dir(ctx context.Context, rel string, make bool) (int64, error) {
	if id, ok := w.dirs[rel]; ok {
		return id, nil
	}
	var id int64
	err := w.dirID.QueryRowContext(ctx, []byte(rel)).Scan(&id)
	switch {
	case err == sql.ErrNoRows && !make:
		return 0, nil
	case err == sql.ErrNoRows:
		res, err := w.newDir.ExecContext(ctx, []byte(rel))
		if err != nil {
			return 0, err
		}
		if id, err = res.LastInsertId(); err != nil {
			return 0, err
		}
	case err != nil:
		return 0, err
	}
	w.dirs[rel] = id
	return id, nil
}

func (w *batchWriter) delete(ctx context.Context, rel string) error {
	dir, name := split(rel)
	id, err := w.dir(ctx, dir, false)
	if err != nil {
		return err
	}
	if id != 0 {
		if _, err := w.del.ExecContext(ctx, id, []byte(name)); err != nil {
			return err
		}
	}
	if rel == "" {
		return nil
	}
	lo, hi := below(rel)
	if _, err := w.delTree.ExecContext(ctx, []byte(rel), lo, hi); err != nil {
		return err
	}
	res, err := w.delDirs.ExecContext(ctx, []byte(rel), lo, hi)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		clear(w.dirs)
	}
	return nil
}

func (w *batchWriter) move(ctx context.Context, from, to string) error {
	if from == to || from == "" || to == "" {
		return nil
	}
	if err := w.delete(ctx, to); err != nil {
		return err
	}
	if err := w.moveRecord(ctx, from, to); err != nil {
		return err
	}
	// What is below from moves even when from itself has no record (a
	// folder recorded only once its scan is done, say).
	lo, hi := below(from)
	res, err := w.moveDirs.ExecContext(ctx, []byte(to), len(from)+1, []byte(from), lo, hi)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		clear(w.dirs)
	}
	return nil
}

// moveRecord moves the record of from itself, when there is one.
func (w *batchWriter) moveRecord(ctx context.Context, from, to string) error {
	fdir, fname := split(from)
	fid, err := w.dir(ctx, fdir, false)
	if err != nil || fid == 0 {
		return err
	}
	var rec []byte
	err = w.getRec.QueryRowContext(ctx, fid, []byte(fname)).Scan(&rec)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return err
	}
	tdir, tname := split(to)
	tid, err := w.dir(ctx, tdir, true)
	if err != nil {
		return err
	}
	if _, err := w.put.ExecContext(ctx, tid, []byte(tname), rec); err != nil {
		return err
	}
	_, err = w.del.ExecContext(ctx, fid, []byte(fname))
	return err
}

// split returns the folder and the name of a relative path.
func split(rel string) (dir, name string) {
	dir, name = path.Split(rel)
	if dir != "" {
		dir = dir[:len(dir)-1]
	}
	return dir, name
}

// below returns the bounds of the folder paths strictly below rel.
func below(rel string) (lo, hi []byte) {
	return []byte(rel + "/"), []byte(rel + "0")
}
