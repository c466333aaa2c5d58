package settle

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestSettleQueue(t *testing.T) {
	t.Parallel()
	const settle, maxDelay = 250 * time.Millisecond, 2 * time.Second
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type event struct {
		ms   int
		rel  string
		kind Kind
		wr   Writer // writerOpen: a write by a writer that keeps the file open
	}
	type due struct {
		ms   int
		want []Work
	}
	tests := []struct {
		name   string
		events []event
		checks []due
		probe  func(string) bool // nil: a writer holds every file it wrote until it closes it
	}{
		{
			name:   "a path is due settle after its event",
			events: []event{{0, "f", Path, 0}},
			// Due hands out what falls due within maxDueSlack (10 ms here).
			checks: []due{{239, nil}, {240, []Work{{Rel: "f", Kind: Path}}}, {1000, nil}},
		},
		{
			name:   "each event restarts the settle time",
			events: []event{{0, "f", Path, 0}, {200, "f", Path, 0}, {400, "f", Path, 0}},
			checks: []due{{500, nil}, {650, []Work{{Rel: "f", Kind: Path}}}},
		},
		{
			name: "a path that keeps changing is due max_delay after its first event",
			events: func() []event {
				var ev []event
				for ms := 0; ms <= 3000; ms += 100 {
					ev = append(ev, event{ms, "growing", Path, 0})
				}
				return ev
			}(),
			checks: []due{{1989, nil}, {1990, []Work{{Rel: "growing", Kind: Path}}}},
		},
		{
			name:   "paths are handed out oldest first",
			events: []event{{0, "a", Path, 0}, {10, "b", Path, 0}, {20, "c", Path, 0}},
			checks: []due{{300, []Work{{Rel: "a", Kind: Path}, {Rel: "b", Kind: Path}, {Rel: "c", Kind: Path}}}},
		},
		{
			name:   "a tree scan absorbs the paths below it and keeps settling",
			events: []event{{0, "d", Tree, 0}, {100, "d/f", Path, 0}, {200, "d/e/g", Path, 0}, {300, "d/e", Tree, 0}},
			checks: []due{{500, nil}, {550, []Work{{Rel: "d", Kind: Tree}}}},
		},
		{
			name:   "a tree scan drops pending paths below it",
			events: []event{{0, "d/f", Path, 0}, {0, "d/e/g", Path, 0}, {0, "x", Path, 0}, {10, "d", Tree, 0}},
			checks: []due{{245, []Work{{Rel: "x", Kind: Path}}}, {260, []Work{{Rel: "d", Kind: Tree}}}},
		},
		{
			name:   "the halves of a rename settle together",
			events: []event{{0, "old", Path, 0}, {3, "new", Path, 0}},
			checks: []due{{250, []Work{{Rel: "old", Kind: Path}, {Rel: "new", Kind: Path}}}}, // the loop wakes when "old" is due
		},
		{
			name:   "a path that turns out to be a folder becomes a tree scan",
			events: []event{{0, "d", Path, 0}, {10, "d", Tree, 0}},
			checks: []due{{260, []Work{{Rel: "d", Kind: Tree}}}},
		},
		{
			name:   "a folder scan does not absorb a new subtree",
			events: []event{{0, "d", Folder, 0}, {10, "d/sub", Tree, 0}},
			checks: []due{{260, []Work{{Rel: "d", Kind: Folder}, {Rel: "d/sub", Kind: Tree}}}},
		},
		{
			name:   "a file its writer holds open waits for the close",
			events: []event{{0, "f", Path, Writing}, {800, "f", Path, Writing}, {1500, "f", Path, WriterDone}},
			checks: []due{{300, nil}, {1100, nil}, {1739, nil}, {1740, []Work{{Rel: "f", Kind: Path}}}},
		},
		{
			name:   "a writer that never closes gets a snapshot at max_delay",
			events: []event{{0, "log", Path, Writing}, {1900, "log", Path, Writing}},
			checks: []due{{1989, nil}, {1990, []Work{{Rel: "log", Kind: Path}}}},
		},
		{
			name:   "a name that goes ends the wait, and others settle meanwhile",
			events: []event{{0, "f", Path, Writing}, {10, "g", Path, 0}, {100, "f", Path, WriterDone}},
			checks: []due{{250, []Work{{Rel: "g", Kind: Path}}}, {340, []Work{{Rel: "f", Kind: Path}}}},
		},
		{
			name:   "a written file nobody holds open settles as usual",
			events: []event{{0, "f", Path, Writing}},
			checks: []due{{239, nil}, {240, []Work{{Rel: "f", Kind: Path}}}},
			probe:  func(string) bool { return false },
		},
		{
			name: "many paths in one folder roll up into a folder scan",
			events: func() []event {
				var ev []event
				for i := range rollupLimit + 1 {
					ev = append(ev, event{i, fmt.Sprintf("big/f%04d", i), Path, 0})
				}
				return append(ev, event{rollupLimit + 1, "big/sub/f", Path, 0}, event{rollupLimit + 2, "big/one-more", Path, 0})
			}(),
			checks: []due{{rollupLimit + 300, []Work{{Rel: "big/sub/f", Kind: Path}, {Rel: "big", Kind: Folder}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := New(settle, maxDelay)
			q.Probe = tt.probe
			if q.Probe == nil {
				q.Probe = func(string) bool { return true }
			}
			evs := tt.events
			for _, c := range tt.checks {
				for len(evs) > 0 && evs[0].ms <= c.ms {
					e := evs[0]
					q.addWriter(e.rel, e.kind, e.wr == Writing, e.wr, at(e.ms))
					evs = evs[1:]
				}
				got, _, _ := q.Due(at(c.ms))
				if got = workKeys(got); !slices.Equal(got, c.want) {
					t.Errorf("Due(+%dms) = %v, want %v", c.ms, got, c.want)
				}
			}
		})
	}
}

func TestSettleQueueNextDueAndMemory(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	q := New(250*time.Millisecond, 10*time.Second)
	if _, _, next := q.Due(t0); !next.IsZero() {
		t.Errorf("empty queue: next = %v, want zero", next)
	}
	// A million events on a hundred paths keep a hundred entries.
	for i := range 1_000_000 {
		q.addAt(fmt.Sprintf("d%d/f%d", i%10, i%100), Path, false, t0.Add(time.Duration(i)*time.Microsecond))
	}
	if n := q.Len(); n != 100 {
		t.Errorf("Len() = %d after 1e6 events on 100 paths, want 100", n)
	}
	last := t0.Add(999_999 * time.Microsecond)
	_, _, next := q.Due(last)
	if want := t0.Add(999_900*time.Microsecond + 250*time.Millisecond); !next.Equal(want) {
		t.Errorf("next = %v, want %v (oldest last event + settle)", next.Sub(t0), want.Sub(t0))
	}
	got, _, _ := q.Due(last.Add(time.Second))
	if len(got) != 100 || q.Len() != 0 {
		t.Errorf("Due after settling: %d entries, %d left; want 100 and 0", len(got), q.Len())
	}
}

func TestSettleQueueRescanAll(t *testing.T) {
	t.Parallel()
	q := New(0, 0)
	q.Add("a", Path)
	q.RescanAll()
	q.Add("b", Path) // covered by the full rescan
	select {
	case <-q.Wake():
	default:
		t.Fatal("RescanAll did not wake the consumer")
	}
	got, full, _ := q.Due(time.Now())
	if !full || len(got) != 0 {
		t.Errorf("Due() = %v, full %v; want nothing and full", got, full)
	}
	if _, full, _ := q.Due(time.Now()); full {
		t.Error("full reported twice")
	}
	q.Add("c", Path)
	if got, _, _ := q.Due(time.Now()); !slices.Equal(workKeys(got), []Work{{Rel: "c", Kind: Path}}) {
		t.Errorf("after the rescan was handed out: Due() = %v, want c", got)
	}
}

// workKeys drops what the tests do not compare (the first event's time).
func workKeys(work []Work) []Work {
	var out []Work
	for _, s := range work {
		out = append(out, s.Key())
	}
	return out
}

// TestSettleQueueCopied: a copy that started after the last event of a
// pending written path carries that write, so the path drops to the quick
// check; a write reported after the copy started keeps the forced copy.
func TestSettleQueueCopied(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name        string
		kind        Kind
		written     bool
		eventMs     int
		copyStartMs int
		want        Work
	}{
		{"write reported before the copy started", Path, true, 0, 5, Work{Rel: "f", Kind: Path}},
		{"write reported after the copy started", Path, true, 10, 5, Work{Rel: "f", Kind: Path, Written: true}},
		{"write reported as the copy started", Path, true, 5, 5, Work{Rel: "f", Kind: Path, Written: true}},
		{"not a write", Path, false, 0, 5, Work{Rel: "f", Kind: Path}},
		{"a folder scan stays", Folder, false, 0, 5, Work{Rel: "f", Kind: Folder}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := New(time.Millisecond, time.Second)
			q.addAt("f", tt.kind, tt.written, at(tt.eventMs))
			q.Copied("f", at(tt.copyStartMs))
			q.Copied("other", at(tt.copyStartMs)) // nothing pending: no effect
			work, _, _ := q.Due(at(100))
			for i := range work {
				work[i].First = time.Time{}
			}
			if !slices.Equal(work, []Work{tt.want}) {
				t.Errorf("due %+v, want %+v", work, []Work{tt.want})
			}
		})
	}
}

// TestSettleQueueRollUpKeepsWrites: a roll-up stands for the Written
// events it replaces, those before it, the one that triggers it and those
// it absorbs later, so its scan copies those files as their path jobs
// would have; a copy that started after a write carries it.
func TestSettleQueueRollUpKeepsWrites(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type event struct {
		ms      int
		rel     string
		written bool
	}
	// fill makes rollupLimit pending paths in big, every tenth written.
	fill := func() []event {
		var ev []event
		for i := range rollupLimit {
			ev = append(ev, event{i, fmt.Sprintf("big/f%04d", i), i%10 == 0})
		}
		return ev
	}
	var tenth []string
	for i := 0; i < rollupLimit; i += 10 {
		tenth = append(tenth, fmt.Sprintf("big/f%04d", i))
	}
	tests := []struct {
		name   string
		events []event
		copied map[string]int // path → start of a copy that succeeded, ms
		want   []string       // the written files of the folder scan of big
	}{
		{"no writes", []event{{0, "big/x", false}}, nil, nil},
		{"writes before the roll-up", append(fill(), event{300, "big/last", false}), nil, tenth},
		{"the write that rolls up", append(fill(), event{300, "big/last", true}), nil, append(slices.Clone(tenth), "big/last")},
		{"writes absorbed after it", append(fill(), event{300, "big/last", false}, event{310, "big/f0001", true}, event{320, "big/new", true}),
			nil, append(slices.Clone(tenth), "big/f0001", "big/new")},
		{"the folder's own event becomes the scan", append(append([]event{{0, "big", false}}, fill()...), event{300, "big/last", false}), nil, tenth},
		{"a copy started after a write carries it", append(fill(), event{300, "big/last", true}),
			map[string]int{"big/f0000": 400, "big/last": 299}, append(slices.Clone(tenth[1:]), "big/last")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := New(time.Second, time.Minute)
			for _, e := range tt.events {
				q.addAt(e.rel, Path, e.written, at(e.ms))
			}
			for rel, ms := range tt.copied {
				q.Copied(rel, at(ms))
			}
			work, _, _ := q.Due(at(10_000))
			var got []string
			for _, s := range work {
				if s.Rel == "big" && s.Kind == Folder && s.Writes != nil {
					for rel := range s.Writes.at {
						got = append(got, rel)
					}
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("written files of the scan of big = %v, want %v (%d work items)", got, want, len(work))
			}
		})
	}
}

// TestSettleQueueProbeDoesNotBlockAdd checks that the watcher's Add never
// waits for a writer probe: the probe opens a file, which may be slow (a
// busy disk, FUSE), and the watcher must keep reading events meanwhile.
// Both probes of Due run: before max_delay and at it.
func TestSettleQueueProbeDoesNotBlockAdd(t *testing.T) {
	t.Parallel()
	const settle, maxDelay = 250 * time.Millisecond, 2 * time.Second
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	for _, ms := range []int{300, 2100} {
		t.Run(fmt.Sprintf("due at +%dms", ms), func(t *testing.T) {
			t.Parallel()
			q := New(settle, maxDelay)
			now := t0.Add(time.Duration(ms) * time.Millisecond)
			probed := 0
			q.Probe = func(string) bool {
				probed++
				added := make(chan struct{})
				go func() { q.addAt("other", Path, false, now); close(added) }()
				select {
				case <-added:
				case <-time.After(5 * time.Second):
					t.Fatal("Add waited for the writer probe")
				}
				return true
			}
			q.addWriter("f", Path, true, Writing, t0)
			q.Due(now)
			if probed == 0 {
				t.Fatal("the probe never ran")
			}
			if q.Len() != 2 {
				t.Errorf("pending after Due: %d, want f (still open) and other", q.Len())
			}
		})
	}
}
