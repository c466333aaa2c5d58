// Command livebench is the file-making helper of bench/live.sh (the watch
// daemon benchmark). It is not part of copyd. Two subcommands:
//
//	livebench tree  -dir D [-dirs 100000 -files 10 -workers 4]
//	livebench burst -src S [-dst D] [-n 10000 -dirs 10 -min 1024 -max 4096 -seed 1 -poll 10ms -timeout 10m]
//
// tree makes the scale tree: -dirs folders, each with -files empty files
// (D/dNNN/ top-level folders, one per 1,000 folders, the rest spread over
// them as D/dNNN/eNNNNNN/), written by -workers goroutines. Prints
// "dirs=N files=N seconds=S".
//
// burst writes -n new files of -min..-max bytes (sizes and contents fixed by
// -seed) into -dirs folders S/dNN/fNNNNN (made first unless they exist), one
// after another as fast as it can. With -dst it then polls D until every file is there with its full
// size — each poll lists every folder that still misses files and lstat()s
// only names it has not confirmed yet — and prints
// "files=N bytes=N write_s=S converge_s=S lost=N" where both times start
// just before the first mkdir. lost counts files still missing at -timeout
// (the command then exits 1). Without -dst it only writes (the one-shot
// copy's source) and prints "files=N bytes=N write_s=S".
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"time"
)

func die(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "livebench: "+f+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		die("usage: livebench tree|burst [flags] (see the package comment)")
	}
	switch os.Args[1] {
	case "tree":
		tree(os.Args[2:])
	case "burst":
		burst(os.Args[2:])
	default:
		die("unknown subcommand %q (tree, burst)", os.Args[1])
	}
}

func tree(args []string) {
	fl := flag.NewFlagSet("tree", flag.ExitOnError)
	dir := fl.String("dir", "", "root of the tree (created; must not exist)")
	ndirs := fl.Int("dirs", 100000, "folders below the root")
	nfiles := fl.Int("files", 10, "empty files in each folder")
	workers := fl.Int("workers", 4, "concurrent writers")
	fl.Parse(args)
	if *dir == "" || *ndirs < 1 || *nfiles < 0 || *workers < 1 {
		die("tree: need -dir, -dirs >= 1, -files >= 0, -workers >= 1")
	}
	if err := os.Mkdir(*dir, 0o755); err != nil {
		die("%v", err)
	}
	top := (*ndirs + 999) / 1000
	t0 := time.Now()
	// Top-level folder t gets the subfolders numbered t, t+top, t+2*top, ...
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range jobs {
				td := filepath.Join(*dir, fmt.Sprintf("d%03d", t))
				mkdirFiles(td, *nfiles)
				for s := t; s < *ndirs-top; s += top {
					mkdirFiles(filepath.Join(td, fmt.Sprintf("e%06d", s)), *nfiles)
				}
			}
		}()
	}
	for t := 0; t < top; t++ {
		jobs <- t
	}
	close(jobs)
	wg.Wait()
	fmt.Printf("dirs=%d files=%d seconds=%.1f\n", *ndirs, *ndirs**nfiles, time.Since(t0).Seconds())
}

func mkdirFiles(d string, n int) {
	if err := os.Mkdir(d, 0o755); err != nil {
		die("%v", err)
	}
	for i := 0; i < n; i++ {
		f, err := os.OpenFile(filepath.Join(d, fmt.Sprintf("f%02d", i)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			die("%v", err)
		}
		f.Close()
	}
}

type file struct {
	dir, name string
	size      int64
	done      bool
}

func burst(args []string) {
	fl := flag.NewFlagSet("burst", flag.ExitOnError)
	src := fl.String("src", "", "folder to write into (must exist)")
	dst := fl.String("dst", "", "mirror of -src to wait for (empty: only write)")
	n := fl.Int("n", 10000, "files")
	ndirs := fl.Int("dirs", 10, "new folders to spread them over")
	minB := fl.Int("min", 1024, "smallest file, bytes")
	maxB := fl.Int("max", 4096, "largest file, bytes")
	seed := fl.Int64("seed", 1, "fixes sizes and contents")
	poll := fl.Duration("poll", 10*time.Millisecond, "pause between two polls of -dst")
	timeout := fl.Duration("timeout", 10*time.Minute, "give up waiting for -dst after this")
	fl.Parse(args)
	if *src == "" || *n < 1 || *ndirs < 1 || *minB < 1 || *maxB < *minB {
		die("burst: need -src, -n >= 1, -dirs >= 1, 1 <= -min <= -max")
	}
	rng := rand.New(rand.NewSource(*seed))
	data := make([]byte, *maxB+4096)
	rng.Read(data)
	files := make([]file, *n)
	var total int64
	for i := range files {
		files[i] = file{dir: fmt.Sprintf("d%02d", i%*ndirs), name: fmt.Sprintf("f%05d", i),
			size: int64(*minB + rng.Intn(*maxB-*minB+1))}
		total += files[i].size
	}

	t0 := time.Now()
	for d := 0; d < *ndirs; d++ {
		if err := os.Mkdir(filepath.Join(*src, fmt.Sprintf("d%02d", d)), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			die("%v", err)
		}
	}
	for i, f := range files {
		off := (i * 61) % 4096
		if err := os.WriteFile(filepath.Join(*src, f.dir, f.name), data[off:off+int(f.size)], 0o644); err != nil {
			die("%v", err)
		}
	}
	tw := time.Since(t0)
	if *dst == "" {
		fmt.Printf("files=%d bytes=%d write_s=%.3f\n", *n, total, tw.Seconds())
		return
	}

	byDir := map[string]map[string]*file{}
	for i := range files {
		f := &files[i]
		if byDir[f.dir] == nil {
			byDir[f.dir] = map[string]*file{}
		}
		byDir[f.dir][f.name] = f
	}
	left := *n
	deadline := t0.Add(*timeout)
	var tc time.Duration
	for {
		for d, want := range byDir {
			if len(want) == 0 {
				continue
			}
			names, err := readNames(filepath.Join(*dst, d))
			if err != nil {
				continue // not there yet
			}
			for _, name := range names {
				f := want[name]
				if f == nil {
					continue // a temp file, or confirmed already
				}
				fi, err := os.Lstat(filepath.Join(*dst, d, name))
				if err == nil && fi.Mode().IsRegular() && fi.Size() == f.size {
					delete(want, name)
					left--
				}
			}
		}
		now := time.Now()
		if left == 0 {
			tc = now.Sub(t0)
			break
		}
		if now.After(deadline) {
			fmt.Printf("files=%d bytes=%d write_s=%.3f converge_s=- lost=%d\n", *n, total, tw.Seconds(), left)
			os.Exit(1)
		}
		time.Sleep(*poll)
	}
	fmt.Printf("files=%d bytes=%d write_s=%.3f converge_s=%.3f lost=0\n", *n, total, tw.Seconds(), tc.Seconds())
}

func readNames(d string) ([]string, error) {
	f, err := os.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return names, err
	}
	return names, nil
}
