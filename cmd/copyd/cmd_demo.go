package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/copyd/copyd/config"
	copysync "github.com/copyd/copyd/sync"
	"github.com/rivo/uniseg"
)

// demoLessons are the sample library's lessons, named like the original
// copier's python教学视频 folder.
var demoLessons = []string{
	"第01讲 Python简介与环境搭建.mp4",
	"第02讲 变量与数据类型.mp4",
	"第03讲 条件与循环.mp4",
	"第04讲 函数.mp4",
	"第05讲 模块与包.mp4",
	"第06讲 文件读写.mp4",
	"第07讲 异常处理.mp4",
	"第08讲 面向对象.mp4",
	"第09讲 多线程.mp4",
	"第10讲 多进程.mp4",
	"第11讲 网络编程.mp4",
	"第12讲 高并发文件拷贝器.mp4",
}

// demoWait bounds how long the demo waits for one change to arrive.
const demoWait = 15 * time.Second

// cmdDemo shows copyd at work on a sample library in a temp folder: the
// real daemon copies it, then each change made to the source is timed
// until it is complete in the destination. It cleans up and exits 0.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		return usageError(stdout, stderr, fmt.Errorf("demo takes no arguments, not %q", args))
	}
	tmp, err := os.MkdirTemp("", "copyd-demo-")
	if err != nil {
		fmt.Fprintf(stderr, "copyd: make a temp folder: %v\n", err)
		return exitFailed
	}
	defer os.RemoveAll(tmp)
	if err := runDemo(ctx, tmp, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "copyd demo: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func runDemo(ctx context.Context, tmp string, out, stderr io.Writer) error {
	src := filepath.Join(tmp, "python教学视频")
	dst := filepath.Join(tmp, "backup", "python教学视频")
	rng := rand.New(rand.NewPCG(1, 2))
	size := int64(0)
	for i, name := range demoLessons {
		n := (1 + i%3) << 20 // 1–3 MiB: small enough to be quick, big enough to be files
		if err := demoWrite(filepath.Join(src, name), n, rng); err != nil {
			return err
		}
		size += int64(n)
	}
	for _, name := range []string{"课件/第01讲.pdf", "课件/第02讲.pdf", "课件/第03讲.pdf"} {
		if err := demoWrite(filepath.Join(src, name), 200<<10, rng); err != nil {
			return err
		}
		size += 200 << 10
	}
	fmt.Fprintf(out, "copyd demo: a sample library in %s\n", tmp)
	fmt.Fprintf(out, "  source      %s (%d lessons and 3 slides, %s)\n", src, len(demoLessons), humanBytes(size))
	fmt.Fprintf(out, "  destination %s\n\n", dst)

	cfg, err := config.ForPaths(src, dst)
	if err != nil {
		return err
	}
	cfg.Pairs[0].Delete = true
	cfg.Pairs[0].Name = "python教学视频"
	ready := make(chan struct{})
	d := copysync.NewDaemon(copysync.DaemonOptions{
		// The daemon's own log: only what goes wrong.
		Log:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Ready: func() { close(ready) },
	})
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- d.Run(ctx, cfg) }()
	defer func() { stop(); <-done }()
	select {
	case <-ready: // watching; the initial copy runs
	case err := <-done:
		return fmt.Errorf("daemon stopped: %v", err)
	case <-time.After(demoWait):
		return errors.New("the daemon did not start")
	}
	if err := demoWaitInStep(ctx, src, dst, done); err != nil {
		return fmt.Errorf("initial copy: %w", err)
	}
	fmt.Fprintf(out, "initial copy: %s in %s; now watching (settle %s: a file is copied once it has not changed for that long)\n\n",
		humanBytes(size), time.Since(start).Round(time.Millisecond), cfg.Settle)

	steps := []struct {
		what   string
		change func() error
	}{
		{"+ add     第13讲 协程与asyncio.mp4", func() error {
			return demoWrite(filepath.Join(src, "第13讲 协程与asyncio.mp4"), 2<<20, rng)
		}},
		{"~ edit    第02讲 变量与数据类型.mp4 (appended)", func() error {
			f, err := os.OpenFile(filepath.Join(src, demoLessons[1]), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			_, err = f.Write(bytes.Repeat([]byte("新增内容"), 4096))
			return errors.Join(err, f.Close())
		}},
		{"> rename  第03讲 条件与循环.mp4 → 第03讲 条件与循环(重录).mp4", func() error {
			return os.Rename(filepath.Join(src, demoLessons[2]), filepath.Join(src, "第03讲 条件与循环(重录).mp4"))
		}},
		{"- delete  第04讲 函数.mp4", func() error { return os.Remove(filepath.Join(src, demoLessons[3])) }},
		{"+ add     作业/第1周/ (a folder with 3 exercises)", func() error {
			for i := 1; i <= 3; i++ {
				p := filepath.Join(src, "作业", "第1周", fmt.Sprintf("练习%d.py", i))
				if err := demoWrite(p, 2<<10, rng); err != nil {
					return err
				}
			}
			return nil
		}},
		{"- delete  课件/ (the slides folder)", func() error { return os.RemoveAll(filepath.Join(src, "课件")) }},
	}
	var lat []time.Duration
	for _, s := range steps {
		t0 := time.Now()
		if err := s.change(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		if err := demoWaitInStep(ctx, src, dst, done); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		l := time.Since(t0)
		lat = append(lat, l)
		pad := max(0, 62-uniseg.StringWidth(s.what)) // Chinese characters take two columns
		fmt.Fprintf(out, "  %s%*s arrived after %4d ms\n", s.what, pad, "", l.Milliseconds())
	}
	if !demoSame(src, dst, true) {
		return errors.New("the destination's contents differ from the source's")
	}
	slices.Sort(lat)
	fmt.Fprintf(out, "\n%d changes, all in the destination; median %d ms, slowest %d ms.\n",
		len(lat), lat[len(lat)/2].Milliseconds(), lat[len(lat)-1].Milliseconds())
	fmt.Fprintf(out, "Each waits the %s settle time; a deletion waits a second more, in case it is half of a rename.\n", cfg.Settle)
	fmt.Fprintln(out, "The destination matches the source, file by file. Cleaning up.")
	fmt.Fprintln(out, "\nTo keep your own folders in step: copyd run SRC DST   (or copyd run -c config.yaml; see README.md)")
	return nil
}

// demoWrite writes n random bytes to p, making its folder.
func demoWrite(p string, n int, rng *rand.Rand) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return os.WriteFile(p, b, 0o644)
}

// demoWaitInStep polls until dst holds the same files with the same
// contents as src.
func demoWaitInStep(ctx context.Context, src, dst string, done <-chan error) error {
	deadline := time.Now().Add(demoWait)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if demoSame(src, dst, false) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not in the destination after %v", demoWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-done:
			return fmt.Errorf("daemon stopped: %v", err)
		case <-tick.C:
		}
	}
}

// demoSame reports whether two trees hold the same paths, and files of
// the same size and modification time (with content, the file's hash).
func demoSame(a, b string, content bool) bool {
	ha, erra := demoList(a, content)
	hb, errb := demoList(b, content)
	if erra != nil || errb != nil || len(ha) != len(hb) {
		return false
	}
	for k, v := range ha {
		if hb[k] != v {
			return false
		}
	}
	return true
}

// demoList maps every path under root to what demoSame compares.
func demoList(root string, content bool) (map[string]string, error) {
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			m[rel+"/"] = ""
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		m[rel] = fmt.Sprintf("%d %d", fi.Size(), fi.ModTime().UnixNano())
		if content {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[rel] += fmt.Sprintf(" %x", sha256.Sum256(data))
		}
		return nil
	})
	return m, err
}
