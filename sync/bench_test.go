package sync

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/copyd/copyd/config"
)

// BenchmarkCopyFile copies one file over its previous copy, without fsync
// (which would measure the disk's cache flush, not copyd).
func BenchmarkCopyFile(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"4KiB", 4 << 10}, {"1MiB", 1 << 20}, {"64MiB", 64 << 20}} {
		b.Run("size="+size.name, func(b *testing.B) {
			dir := b.TempDir()
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			if err := os.WriteFile(src, randomBytes(size.n), 0o644); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := copyFile(b.Context(), src, dst, writeOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchTree writes the benchmark tree (2,000 files of 4 KiB in 20 folders)
// under a fresh folder and returns it with its file count and bytes.
func benchTree(b *testing.B) (src string, files, bytes int) {
	b.Helper()
	const folders, perFolder, size = 20, 100, 4 << 10
	src = filepath.Join(b.TempDir(), "src")
	data := randomBytes(size)
	for d := range folders {
		dir := filepath.Join(src, fmt.Sprintf("folder%02d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range perFolder {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%03d.bin", f)), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	return src, folders * perFolder, folders * perFolder * size
}

func benchOptions() Options {
	return Options{Workers: max(4, 2*runtime.NumCPU())} // config's default
}

// BenchmarkSync copies the benchmark tree into a fresh destination per
// iteration, with fsync off and on (batched syncfs on Linux).
func BenchmarkSync(b *testing.B) {
	for _, fsync := range []bool{false, true} {
		b.Run(fsyncName(fsync), func(b *testing.B) {
			src, files, size := benchTree(b)
			base := b.TempDir()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p := config.Pair{Name: "bench", Source: src, Destination: filepath.Join(base, strconv.Itoa(i)), Fsync: fsync}
				i++
				sum, err := Sync(b.Context(), []config.Pair{p}, benchOptions())
				if err != nil || sum.Copied != int64(files) {
					b.Fatalf("Sync() = copied %d, error %v; want %d", sum.Copied, err, files)
				}
			}
			b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
		})
	}
}

// BenchmarkSyncNoop syncs the benchmark tree into a destination that
// already holds it: the cost of a rescan that finds nothing to do.
func BenchmarkSyncNoop(b *testing.B) {
	src, files, _ := benchTree(b)
	p := config.Pair{Name: "bench", Source: src, Destination: filepath.Join(b.TempDir(), "dst")}
	if sum, err := Sync(b.Context(), []config.Pair{p}, benchOptions()); err != nil || sum.Copied != int64(files) {
		b.Fatalf("first Sync() = copied %d, error %v; want %d", sum.Copied, err, files)
	}
	b.ReportAllocs()
	for b.Loop() {
		sum, err := Sync(b.Context(), []config.Pair{p}, benchOptions())
		if err != nil || sum.Copied != 0 || sum.UpToDate != int64(files) {
			b.Fatalf("Sync() = copied %d, up to date %d, error %v; want 0, %d", sum.Copied, sum.UpToDate, err, files)
		}
	}
	b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
}

// randomBytes returns n bytes that do not compress or dedupe.
func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	buf.Grow(n)
	for buf.Len() < n {
		var w [8]byte
		v := r.Uint64()
		for i := range w {
			w[i] = byte(v >> (8 * i))
		}
		buf.Write(w[:min(8, n-buf.Len())])
	}
	return buf.Bytes()
}
