//go:build linux

package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Real programs as the workload: git checkout, tar -x, unzip -o, rsync,
// cp -a and SQLite change the source the way users' tools do (unlink and
// create, write to a temp and rename, truncate and rewrite in place,
// restore the old mtime, placeholders replaced by symlinks), and the
// destination must then hold the source's bytes under every name, its
// symlink targets and, with --delete, exactly its names (idrDiff). Each
// workload runs under `copyd run --delete` while it watches, and between
// two runs of `copyd sync --delete`.
// Helpers carry the prefix prog.

// progPackages names the Debian package of each program the tests run.
var progPackages = map[string]string{
	"git":     "git",
	"tar":     "tar",
	"unzip":   "unzip",
	"zip":     "zip",
	"rsync":   "rsync",
	"cp":      "coreutils",
	"sqlite3": "sqlite3",
}

// progCase is one workload: setup builds the source before copyd first
// sees it, work changes it. base holds src and room for other folders.
type progCase struct {
	name  string
	needs []string // programs on PATH
	setup func(t *testing.T, base, src string)
	work  func(t *testing.T, base, src string)
	// lookalike: the workload must give at least one file new bytes while
	// keeping its size and mtime, or the case no longer tests identity.
	lookalike bool
	// check runs on the converged trees (extra checks of the result).
	check func(t *testing.T, src, dst string)
}

func progCases() []progCase {
	return []progCase{
		{
			name:  "git checkout burst",
			needs: []string{"git"},
			setup: func(t *testing.T, _, src string) { progGitRepo(t, src) },
			work:  func(t *testing.T, _, src string) { progCheckouts(t, src, 0) },
		},
		{
			name:  "git checkout paced",
			needs: []string{"git"},
			setup: func(t *testing.T, _, src string) { progGitRepo(t, src) },
			// About the settle time apart, so that copies run between
			// and during checkouts.
			work: func(t *testing.T, _, src string) { progCheckouts(t, src, 60*time.Millisecond) },
		},
		{
			name:      "tar -xf",
			needs:     []string{"tar"},
			setup:     progReleaseSetup,
			work:      func(t *testing.T, base, src string) { progTarX(t, base, src) },
			lookalike: true,
		},
		{
			name:      "tar -x --overwrite",
			needs:     []string{"tar"},
			setup:     progReleaseSetup,
			work:      func(t *testing.T, base, src string) { progTarX(t, base, src, "--overwrite") },
			lookalike: true,
		},
		{
			name:  "unzip -o",
			needs: []string{"zip", "unzip"},
			setup: progReleaseSetup,
			work: func(t *testing.T, base, src string) {
				stage := progStage(t, base, "zip-v2", progRelease("v2"), idrMtime)
				archive := filepath.Join(base, "v2.zip")
				progCmd(t, stage, "zip", "-q", "-r", "-y", archive, ".")
				progCmd(t, "", "unzip", "-q", "-o", archive, "-d", src)
			},
			lookalike: true,
		},
		{
			name:  "rsync -a",
			needs: []string{"rsync"},
			setup: progRsyncSetup,
			work: func(t *testing.T, base, src string) {
				progRsync(t, base, src, time.Hour, "-a")
			},
		},
		{
			name:  "rsync -a --delete",
			needs: []string{"rsync"},
			setup: progRsyncSetup,
			work: func(t *testing.T, base, src string) {
				progRsync(t, base, src, time.Hour, "-a", "--delete")
				assertAbsent(t, filepath.Join(src, "obsolete"))
			},
		},
		{
			name:  "rsync -a -I",
			needs: []string{"rsync"},
			setup: progRsyncSetup,
			work: func(t *testing.T, base, src string) {
				progRsync(t, base, src, 0, "-a", "-I")
			},
			lookalike: true,
		},
		{
			// The same once copyd has long finished the first copy: as
			// the case above, but without hitting the moments after it.
			name:  "rsync -a -I a second later",
			needs: []string{"rsync"},
			setup: progRsyncSetup,
			work: func(t *testing.T, base, src string) {
				time.Sleep(time.Second) // realistic timing, not synchronisation
				progRsync(t, base, src, 0, "-a", "-I")
			},
			lookalike: true,
		},
		{
			name:  "rsync -a -I --inplace",
			needs: []string{"rsync"},
			setup: progRsyncSetup,
			work: func(t *testing.T, base, src string) {
				progRsync(t, base, src, 0, "-a", "-I", "--inplace")
			},
			lookalike: true,
		},
		{
			name:  "cp -a",
			needs: []string{"cp"},
			setup: progReleaseSetup,
			work: func(t *testing.T, base, src string) {
				other := progStage(t, base, "other", progRelease("v2"), idrMtime)
				progCmd(t, "", "cp", "-a", other+"/.", src+"/")
			},
			lookalike: true,
		},
		{
			name:  "cp -p",
			needs: []string{"cp"},
			setup: progReleaseSetup,
			work: func(t *testing.T, base, src string) {
				other := progStage(t, base, "other", progRelease("v2"), idrMtime)
				for _, rel := range slices.Sorted(maps.Keys(progRelease("v2").files)) {
					progCmd(t, "", "cp", "-p", filepath.Join(other, rel), filepath.Join(src, rel))
				}
			},
			lookalike: true,
		},
		{
			name:  "sqlite3 inserts",
			needs: []string{"sqlite3"},
			setup: progSQLiteSetup,
			work:  progSQLiteWork,
			check: progSQLiteCheck,
		},
	}
}

// TestProgramsRun runs each workload in the source while `copyd run
// --delete` watches it.
func TestProgramsRun(t *testing.T) {
	t.Parallel()
	for _, tc := range progCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			progNeed(t, tc.needs...)
			base, src, dst := dirs(t, nil)
			tc.setup(t, base, src)
			// Debug: a failure's log then shows every event and copy.
			d := runPaths(t, src, dst, "--delete", "--log-level", "debug")
			if err := idrWaitTree(d, src, dst, nil); err != nil {
				t.Fatalf("first copy: %v", err)
			}
			before := idrHashFiles(t, src)
			stats := progStats(t, src)
			tc.work(t, base, src)
			progCheckLookalike(t, tc, stats, src)
			if err := idrWaitTree(d, src, dst, before); err != nil {
				t.Fatalf("after %s: %v", tc.name, err)
			}
			d.finish(src, dst)
			if tc.check != nil {
				tc.check(t, src, dst)
			}
		})
	}
}

// TestProgramsSync runs each workload between two runs of `copyd sync
// --delete`.
func TestProgramsSync(t *testing.T) {
	t.Parallel()
	for _, tc := range progCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			progNeed(t, tc.needs...)
			base, src, dst := dirs(t, nil)
			tc.setup(t, base, src)
			idrSync(t, src, dst, "--delete")
			if err := idrDiff(src, dst, nil); err != nil {
				t.Fatalf("after the first sync: %v", err)
			}
			before := idrHashFiles(t, src)
			stats := progStats(t, src)
			tc.work(t, base, src)
			progCheckLookalike(t, tc, stats, src)
			idrSync(t, src, dst, "--delete")
			if err := idrDiff(src, dst, before); err != nil {
				t.Fatalf("%s, then a second sync: %v", tc.name, err)
			}
			assertNoTemps(t, dst)
			if tc.check != nil {
				tc.check(t, src, dst)
			}
		})
	}
}

// progNeed fails the test, naming the Debian package, unless every
// program is on PATH (.ci/run installs them all).
func progNeed(t *testing.T, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			msg := fmt.Sprintf("%s is not on PATH: install the Debian package %s (apt-get install -y %s)", p, progPackages[p], progPackages[p])
			t.Fatal(msg)
		}
	}
}

// progEnv keeps the programs away from the user's and the system's
// configuration (~/.gitconfig, /etc/gitconfig, ~/.sqliterc).
var progEnv = []string{
	"HOME=/nonexistent",
	"XDG_CONFIG_HOME=/nonexistent",
	"GIT_CONFIG_NOSYSTEM=1",
	"GIT_CONFIG_GLOBAL=/dev/null",
	"GIT_TERMINAL_PROMPT=0",
	"LC_ALL=C",
	"TZ=UTC",
}

// progCmd runs name with args in dir ("" for the current folder) and
// fails the test if it fails; it returns the output.
func progCmd(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), progEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// progTree is a folder tree to write: files (mode 0644, or 0755 when
// listed in exec) and symlinks, by slash-separated path.
type progTree struct {
	files map[string]string // path → content
	exec  []string          // files with mode 0755
	links map[string]string // path → target
}

func (pt progTree) write(t *testing.T, dir string) {
	t.Helper()
	writeTree(t, dir, pt.files)
	for _, rel := range pt.exec {
		chmod(t, filepath.Join(dir, filepath.FromSlash(rel)), 0o755)
	}
	for rel, target := range pt.links {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		mkdir(t, filepath.Dir(p))
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
}

// progStamp gives every entry under dir, dir too, the times mtime,
// without following symlinks (idrStamp follows them).
func progStamp(t *testing.T, dir string, mtime time.Time) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// progStage writes tree into base/name with every entry at mtime and
// returns the folder.
func progStage(t *testing.T, base, name string, tree progTree, mtime time.Time) string {
	t.Helper()
	dir := filepath.Join(base, name)
	mkdir(t, dir)
	tree.write(t, dir)
	progStamp(t, dir, mtime)
	return dir
}

// progRelease is a software release whose files have the same names and
// sizes in every version and other bytes, plus symlinks (one of them
// leaves its folder, which GNU tar extracts as a placeholder file first)
// and a file named after the version.
func progRelease(v string) progTree {
	files := idrRelease(v)
	files["share/doc/NEWS-"+v] = "news of " + v + "\n"
	links := map[string]string{"lib/libtool.so.1": "libtool.so", "bin/run": "tool"}
	if v != "v1" {
		links["bin/run"] = "../lib/libtool.so"
	}
	return progTree{files: files, exec: []string{"bin/tool"}, links: links}
}

// progReleaseSetup puts release v1 in src, every entry at idrMtime.
func progReleaseSetup(t *testing.T, _, src string) {
	t.Helper()
	progRelease("v1").write(t, src)
	progStamp(t, src, idrMtime)
}

// progTarX extracts release v2, packed as a reproducible build (sorted,
// one owner, every entry at idrMtime), over src with tar -x flags.
func progTarX(t *testing.T, base, src string, flags ...string) {
	t.Helper()
	stage := progStage(t, base, "tar-v2", progRelease("v2"), idrMtime)
	tarball := filepath.Join(base, "v2.tar")
	progCmd(t, "", "tar", "--sort=name", fmt.Sprintf("--mtime=@%d", idrMtime.Unix()),
		"--owner=0", "--group=0", "--numeric-owner", "-C", stage, "-cf", tarball, ".")
	progCmd(t, "", "tar", append(append([]string{"-C", src}, flags...), "-xf", tarball)...)
}

// progRsyncSetup is release v1 plus files that release v2 lacks, for
// rsync --delete to remove.
func progRsyncSetup(t *testing.T, base, src string) {
	t.Helper()
	tree := progRelease("v1")
	tree.files["obsolete/old.txt"] = "obsolete\n"
	tree.files["obsolete/deeper/older.txt"] = "older\n"
	tree.files["stale.log"] = "stale\n"
	tree.write(t, src)
	progStamp(t, src, idrMtime)
}

// progRsync copies release v2, with every entry at idrMtime+shift, over
// src with rsync flags.
func progRsync(t *testing.T, base, src string, shift time.Duration, flags ...string) {
	t.Helper()
	other := progStage(t, base, "other", progRelease("v2"), idrMtime.Add(shift))
	progCmd(t, "", "rsync", append(flags, other+"/", src+"/")...)
}

// progGitMain and progGitTopic are the two branches of the repository:
// topic renames a file, replaces a file by a folder and a folder by a
// file, changes files keeping their size, swaps two files, deletes one,
// adds one, makes one executable and retargets symlinks.
func progGitMain() progTree {
	files := map[string]string{
		"README.md":       "readme\n",
		"src/old_name.go": idrFill("package src // moved\n", 900),
		"thing":           "thing is a file\n",
		"dir2/x.txt":      "x\n",
		"dir2/y.txt":      "y\n",
		"same.bin":        idrFill("main  ", 4096),
		"a.txt":           idrFill("A", 300),
		"b.txt":           idrFill("B", 300),
		"gone.txt":        "gone in topic\n",
		"tool.sh":         "#!/bin/sh\necho tool\n",
	}
	for i := range 20 {
		files[fmt.Sprintf("data/f%02d.txt", i)] = idrFill(fmt.Sprintf("main %02d ", i), 500)
	}
	return progTree{files: files, links: map[string]string{"link": "README.md", "deep/er/link": "../../src/old_name.go"}}
}

func progGitTopic() progTree {
	files := map[string]string{
		"README.md":       "readme\n",
		"src/new_name.go": idrFill("package src // moved\n", 900),
		"thing/a.txt":     "a\n",
		"thing/b/c.txt":   "c\n",
		"dir2":            "dir2 is a file now\n",
		"same.bin":        idrFill("topic ", 4096),
		"a.txt":           idrFill("B", 300),
		"b.txt":           idrFill("A", 300),
		"tool.sh":         "#!/bin/sh\necho tool\n",
		"only-topic.txt":  "new in topic\n",
	}
	for i := range 20 {
		v := "main"
		if i%2 == 0 {
			v = "topc"
		}
		files[fmt.Sprintf("data/f%02d.txt", i)] = idrFill(fmt.Sprintf("%s %02d ", v, i), 500)
	}
	return progTree{
		files: files,
		exec:  []string{"tool.sh"},
		links: map[string]string{"link": "src/new_name.go", "deep/er/link": "../../src/new_name.go"},
	}
}

// progGit runs git in dir without any user or system configuration.
func progGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	base := []string{"-C", dir,
		"-c", "user.email=t@t", "-c", "user.name=t",
		"-c", "init.defaultBranch=main",
		"-c", "gc.auto=0", "-c", "maintenance.auto=false", // nothing rewrites .git behind our back
		"-c", "core.autocrlf=false", "-c", "core.fsmonitor=false",
		"-c", "advice.detachedHead=false",
	}
	return progCmd(t, "", "git", append(base, args...)...)
}

// progGitRepo makes src a git work tree with branches main and topic,
// and main checked out.
func progGitRepo(t *testing.T, src string) {
	t.Helper()
	progGit(t, src, "init", "-q")
	progGitMain().write(t, src)
	progGit(t, src, "add", "-A")
	progGit(t, src, "commit", "-q", "-m", "main")
	progGit(t, src, "checkout", "-q", "-b", "topic")
	progGit(t, src, "rm", "-r", "-q", ".")
	progGitTopic().write(t, src)
	progGit(t, src, "add", "-A")
	progGit(t, src, "commit", "-q", "-m", "topic")
	progGit(t, src, "checkout", "-q", "main")
}

// progCheckouts switches src between the branches five times, pace apart,
// and ends on topic.
func progCheckouts(t *testing.T, src string, pace time.Duration) {
	t.Helper()
	for i, branch := range []string{"topic", "main", "topic", "main", "topic"} {
		if i > 0 && pace > 0 {
			time.Sleep(pace) // realistic timing, not synchronisation
		}
		progGit(t, src, "checkout", "-q", branch)
	}
	if head := strings.TrimSpace(progGit(t, src, "rev-parse", "--abbrev-ref", "HEAD")); head != "topic" {
		t.Fatalf("HEAD = %q after the checkouts, want topic", head)
	}
}

// progSQLiteDBs are the databases of the SQLite workload: one in WAL mode
// and one with a rollback journal.
var progSQLiteDBs = []string{"db/wal.db", "db/journal.db"}

func progSQLite(t *testing.T, db, sql string) string {
	t.Helper()
	return progCmd(t, "", "sqlite3", "-batch", "-init", "/dev/null", db, sql)
}

func progSQLiteSetup(t *testing.T, _, src string) {
	t.Helper()
	mkdir(t, filepath.Join(src, "db"))
	progSQLite(t, filepath.Join(src, "db/wal.db"), "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);")
	progSQLite(t, filepath.Join(src, "db/journal.db"), "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);")
}

// progSQLiteWork inserts in a loop into each database: first through one
// long-lived sqlite3 fed statement by statement, then with one sqlite3 per
// transaction that also updates and deletes rows.
func progSQLiteWork(t *testing.T, _, src string) {
	t.Helper()
	for _, rel := range progSQLiteDBs {
		db := filepath.Join(src, rel)
		cmd := exec.CommandContext(t.Context(), "sqlite3", "-batch", "-init", "/dev/null", db)
		cmd.Env = append(os.Environ(), progEnv...)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sqlite3: %v", err)
		}
		for i := range 150 {
			if _, err := io.WriteString(in, "INSERT INTO t(v) VALUES (hex(randomblob(200)));\n"); err != nil {
				t.Fatalf("write to sqlite3: %v\n%s", err, out.String())
			}
			if i%10 == 9 {
				time.Sleep(15 * time.Millisecond) // realistic timing: writes keep coming
			}
		}
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("sqlite3 %s: %v\n%s", db, err, out.String())
		}
		for i := range 8 {
			progSQLite(t, db, strings.Repeat("INSERT INTO t(v) VALUES (hex(randomblob(300)));", 20)+
				fmt.Sprintf("UPDATE t SET v = lower(v) WHERE id %% 7 = %d; DELETE FROM t WHERE id %% 11 = %d;", i%7, i%11))
		}
	}
}

// progSQLiteCheck opens a copy of each destination database: it must pass
// the integrity check and hold the source's rows.
func progSQLiteCheck(t *testing.T, src, dst string) {
	t.Helper()
	tmp := t.TempDir()
	for i, rel := range progSQLiteDBs {
		var got [2]string
		for j, root := range []string{src, dst} {
			// A copy outside both trees: reading a WAL database writes beside it.
			b, err := os.ReadFile(filepath.Join(root, rel))
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(tmp, fmt.Sprintf("%d-%d.db", i, j))
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			got[j] = progSQLite(t, p, "PRAGMA integrity_check; SELECT count(*), sum(length(v)) FROM t;")
		}
		if !strings.HasPrefix(got[1], "ok\n") || got[0] != got[1] {
			t.Errorf("destination %s: integrity check and rows %q, want %q", rel, got[1], got[0])
		}
	}
}

// progStat is what a quick check compares, and the bytes.
type progStat struct {
	size  int64
	mtime time.Time
	sum   [32]byte
}

// progStats returns the progStat of every regular file under root.
func progStats(t *testing.T, root string) map[string]progStat {
	t.Helper()
	m := map[string]progStat{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		m[filepath.ToSlash(rel)] = progStat{fi.Size(), fi.ModTime(), sha256.Sum256(b)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// progCheckLookalike fails the test when tc is a lookalike case but its
// workload gave no file new bytes under the same size and mtime.
func progCheckLookalike(t *testing.T, tc progCase, before map[string]progStat, src string) {
	t.Helper()
	if !tc.lookalike {
		return
	}
	after := progStats(t, src)
	for rel, b := range before {
		if a, ok := after[rel]; ok && a.size == b.size && a.mtime.Equal(b.mtime) && a.sum != b.sum {
			return
		}
	}
	t.Fatalf("%s changed no file while keeping its size and mtime, so the case tests nothing", tc.name)
}
