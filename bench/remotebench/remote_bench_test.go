//go:build remotebench && linux

package remotebench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/internal/testserver"
	"github.com/copyd/copyd/remote"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// env returns the integer in the environment variable name, or def.
func env(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// dataset is a source tree made once per run.
type dataset struct {
	name string
	dir  string
}

// makeSmall writes n files of 1–16 KiB in n/100 folders, from a fixed seed.
func makeSmall(t *testing.T, dir string, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 16<<10)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("d%03d", i%max(n/100, 1)), fmt.Sprintf("f%05d.dat", i))
		if i < max(n/100, 1) {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		size := 1<<10 + rng.IntN(15<<10)
		for j := range size {
			buf[j] = byte(rng.Uint32())
		}
		if err := os.WriteFile(p, buf[:size], 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// makeBig writes n files of mib MiB of random bytes.
func makeBig(t *testing.T, dir string, n, mib int) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 1<<20)
	for i := range n {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("video%02d.mp4", i)))
		if err != nil {
			t.Fatal(err)
		}
		for range mib {
			for j := 0; j < len(buf); j += 8 {
				v := rng.Uint64()
				for k := range 8 {
					buf[j+k] = byte(v >> (8 * k))
				}
			}
			if _, err := f.Write(buf); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// tool is one way to copy a data set to a fresh destination.
type tool struct {
	name string
	// prepare returns the command for a copy of src into destination
	// number round; the same command run again is the no-op re-run.
	prepare func(t *testing.T, src string, round int) *exec.Cmd
}

// timeRun runs cmd and returns its wall time; it fails the test on error.
func timeRun(t *testing.T, cmd *exec.Cmd) time.Duration {
	t.Helper()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return d
}

type sample struct {
	set, backend, tool, what string
	d                        time.Duration
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestRemote runs every data set through every tool on both servers,
// ROUNDS rounds in alternating order, and prints the report.
func TestRemote(t *testing.T) {
	rounds := env("ROUNDS", 3)
	smallN := env("SMALL_FILES", 10000)
	bigN, bigMiB := env("BIG_FILES", 10), env("BIG_MIB", 200)
	latN := env("LAT_N", 50)
	base := t.TempDir()
	bin := filepath.Join(base, "copyd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/copyd").CombinedOutput(); err != nil {
		t.Fatalf("build copyd: %v\n%s", err, out)
	}
	rclone, err := exec.LookPath("rclone")
	if err != nil {
		t.Fatal("rclone is missing: apt-get install -y rclone")
	}
	sets := []dataset{{"small", filepath.Join(base, "small")}, {"big", filepath.Join(base, "big")}}
	makeSmall(t, sets[0].dir, smallN)
	makeBig(t, sets[1].dir, bigN, bigMiB)

	mio := testserver.StartMinIO(t)
	cl, err := minio.New(mio.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(mio.AccessKey, mio.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	ssh := testserver.StartSSHD(t)
	s3env := []string{"AWS_ACCESS_KEY_ID=" + mio.AccessKey, "AWS_SECRET_ACCESS_KEY=" + mio.SecretKey}
	rcloneEnv := append(slices.Clone(s3env),
		"RCLONE_CONFIG_MINIO_TYPE=s3", "RCLONE_CONFIG_MINIO_PROVIDER=Minio", "RCLONE_CONFIG_MINIO_ENV_AUTH=true",
		"RCLONE_CONFIG_MINIO_ENDPOINT=http://"+mio.Endpoint,
		"RCLONE_CONFIG_SSH_TYPE=sftp", "RCLONE_CONFIG_SSH_HOST="+ssh.Host, "RCLONE_CONFIG_SSH_PORT="+strconv.Itoa(ssh.Port),
		"RCLONE_CONFIG_SSH_USER="+ssh.User, "RCLONE_CONFIG_SSH_KEY_FILE="+ssh.KeyFile, "RCLONE_CONFIG_SSH_KNOWN_HOSTS_FILE="+ssh.KnownHosts,
		// No remote shell commands: the test sshd serves SFTP, and rclone
		// 1.60 otherwise waits on its shell-type probe (32 s for 300 files).
		"RCLONE_CONFIG_SSH_SHELL_TYPE=none",
		"RCLONE_CONFIG=/dev/null")
	sshCmd := fmt.Sprintf("ssh -i %s -p %d -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes", ssh.KeyFile, ssh.Port, ssh.KnownHosts)

	ctx := context.Background()
	// Every destination is removed once its tool was measured: 12 GiB
	// copies of the big set per round would fill the disk.
	var cleanups []func()
	bucketFor := func(set, tool string, round int) string {
		b := fmt.Sprintf("%s-%s-%d", set, strings.ReplaceAll(tool, "_", "-"), round)
		if err := cl.MakeBucket(ctx, b, minio.MakeBucketOptions{}); err != nil {
			if ok, _ := cl.BucketExists(ctx, b); !ok {
				t.Fatal(err)
			}
		}
		cleanups = append(cleanups, func() {
			objs := cl.ListObjects(ctx, b, minio.ListObjectsOptions{Recursive: true})
			for e := range cl.RemoveObjects(ctx, b, objs, minio.RemoveObjectsOptions{}) {
				t.Logf("remove %s: %v", e.ObjectName, e.Err)
			}
		})
		return b
	}
	folderFor := func(set, tool string, round int) string {
		d := filepath.Join(ssh.Root, fmt.Sprintf("%s-%s-%d", set, tool, round))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		cleanups = append(cleanups, func() { os.RemoveAll(d) })
		return d
	}
	copydCmd := func(set, src, destLine, block string, round int) *exec.Cmd {
		dir := filepath.Join(base, "cfg", fmt.Sprintf("%s-%d-%d", set, round, time.Now().UnixNano()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, "copyd.yaml")
		yaml := fmt.Sprintf("state_dir: %s\nlog:\n  level: warn\npairs:\n  - name: b\n    source: %s\n    destination: %s\n%s", filepath.Join(dir, "state"), src, destLine, block)
		if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "sync", "-c", cfg, "--progress", "never")
		cmd.Env = append(os.Environ(), s3env...)
		return cmd
	}
	s3block := fmt.Sprintf("    s3:\n      endpoint: http://%s\n      path_style: true\n", mio.Endpoint)
	sftpBlock := fmt.Sprintf("    sftp:\n      key_file: %s\n      known_hosts: %s\n", ssh.KeyFile, ssh.KnownHosts)
	rcl := func(args ...string) *exec.Cmd {
		cmd := exec.Command(rclone, args...)
		// rclone 1.60 fails on plain-HTTP endpoints when AWS_CA_BUNDLE
		// is set (its transport cannot take a CA bundle): leave it out.
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_CA_BUNDLE=") }), rcloneEnv...)
		return cmd
	}
	backends := map[string][]tool{
		"s3": {
			{"copyd", func(t *testing.T, src string, r int) *exec.Cmd {
				return copydCmd("s3", src, "s3://"+bucketFor(filepath.Base(src), "copyd", r)+"/x", s3block, r)
			}},
			{"rclone --transfers 4", func(t *testing.T, src string, r int) *exec.Cmd {
				return rcl("copy", src, "minio:"+bucketFor(filepath.Base(src), "rclone4", r)+"/x")
			}},
			{"rclone --transfers 16", func(t *testing.T, src string, r int) *exec.Cmd {
				return rcl("copy", "--transfers", "16", "--checkers", "16", src, "minio:"+bucketFor(filepath.Base(src), "rclone16", r)+"/x")
			}},
		},
		"sftp": {
			{"copyd", func(t *testing.T, src string, r int) *exec.Cmd {
				return copydCmd("sftp", src, ssh.URL(strings.TrimPrefix(folderFor(filepath.Base(src), "copyd", r), ssh.Root)), sftpBlock, r)
			}},
			{"copyd, fsync: false", func(t *testing.T, src string, r int) *exec.Cmd {
				return copydCmd("sftp", src, ssh.URL(strings.TrimPrefix(folderFor(filepath.Base(src), "copyd-nofsync", r), ssh.Root)), sftpBlock+"    fsync: false\n", r)
			}},
			{"rsync -a over ssh", func(t *testing.T, src string, r int) *exec.Cmd {
				d := folderFor(filepath.Base(src), "rsync", r)
				return exec.Command("rsync", "-a", "-e", sshCmd, src+"/", fmt.Sprintf("%s@%s:%s/", ssh.User, ssh.Host, d))
			}},
			{"rclone --transfers 4", func(t *testing.T, src string, r int) *exec.Cmd {
				return rcl("copy", src, "ssh:"+folderFor(filepath.Base(src), "rclone4", r))
			}},
			{"rclone --transfers 8", func(t *testing.T, src string, r int) *exec.Cmd {
				return rcl("copy", "--transfers", "8", "--checkers", "8", src, "ssh:"+folderFor(filepath.Base(src), "rclone8", r))
			}},
		},
	}
	var samples []sample
	for _, be := range strings.Fields(cmpOr(os.Getenv("BACKENDS"), "s3 sftp")) {
		for _, set := range sets {
			for r := range rounds {
				tools := slices.Clone(backends[be])
				if r%2 == 1 {
					slices.Reverse(tools)
				}
				for _, tl := range tools {
					cmd := tl.prepare(t, set.dir, r)
					again := exec.Command(cmd.Args[0], cmd.Args[1:]...)
					again.Env = cmd.Env
					full := timeRun(t, cmd)
					noop := timeRun(t, again)
					t.Logf("%s %s round %d %s: copy %v, no-op %v", be, set.name, r, tl.name, full.Round(time.Millisecond), noop.Round(time.Millisecond))
					samples = append(samples, sample{set.name, be, tl.name, "copy", full}, sample{set.name, be, tl.name, "no-op", noop})
					for _, c := range cleanups {
						c()
					}
					cleanups = nil
				}
			}
			// Free the server's disk between data sets.
			os.RemoveAll(filepath.Join(ssh.Root))
			os.MkdirAll(ssh.Root, 0o755)
		}
	}

	// Propagation of one new 4 KiB file under copyd run.
	lat := map[string][]time.Duration{}
	for _, be := range strings.Fields(cmpOr(os.Getenv("BACKENDS"), "s3 sftp")) {
		src := filepath.Join(base, "lat-"+be)
		os.MkdirAll(src, 0o755)
		var p config.Pair
		var destLine, block string
		if be == "s3" {
			b := bucketFor("lat", "copyd", 0)
			destLine, block = "s3://"+b+"/x", s3block
			p = config.Pair{Destination: destLine, S3: config.S3{Endpoint: "http://" + mio.Endpoint, PathStyle: true}}
		} else {
			d := folderFor("lat", "copyd", 0)
			destLine, block = ssh.URL(strings.TrimPrefix(d, ssh.Root)), sftpBlock
			p = config.Pair{Destination: destLine, SFTP: config.SFTP{KeyFile: ssh.KeyFile, KnownHosts: ssh.KnownHosts}}
		}
		cmd := copydCmd("lat-"+be, src, destLine, block, 0)
		cmd.Args[1] = "run"
		cmd.Args = cmd.Args[:4]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for _, kv := range s3env {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		d, err := remote.Connect(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // watching
		data := make([]byte, 4096)
		for i := range latN {
			name := fmt.Sprintf("f%04d", i)
			if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for {
				if e, err := d.Stat(ctx, name); err == nil && e.Size == 4096 {
					break
				}
				if time.Since(start) > 30*time.Second {
					t.Fatalf("%s: %s did not arrive in 30 s", be, name)
				}
				time.Sleep(2 * time.Millisecond)
			}
			lat[be] = append(lat[be], time.Since(start))
			time.Sleep(100 * time.Millisecond)
		}
		d.Close()
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
	report(t, samples, lat, rounds, smallN, bigN, bigMiB)
}

// report prints the Markdown tables for BENCHMARKS.md.
func report(t *testing.T, samples []sample, lat map[string][]time.Duration, rounds, smallN, bigN, bigMiB int) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nData: small = %d files of 1–16 KiB in %d folders; big = %d × %d MiB. %d rounds, alternating order; median (min–max) wall seconds; ratio = tool / copyd (> 1: copyd faster).\n\n", smallN, max(smallN/100, 1), bigN, bigMiB, rounds)
	for _, be := range []string{"s3", "sftp"} {
		var names []string
		for _, s := range samples {
			if s.backend == be && !slices.Contains(names, s.tool) {
				names = append(names, s.tool)
			}
		}
		if len(names) == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s | data | copy | ratio | no-op re-run | ratio |\n| --- | --- | --- | --- | --- | --- |\n", be)
		for _, set := range []string{"small", "big"} {
			get := func(tool, what string) []time.Duration {
				var ds []time.Duration
				for _, s := range samples {
					if s.backend == be && s.set == set && s.tool == tool && s.what == what {
						ds = append(ds, s.d)
					}
				}
				return ds
			}
			for _, n := range names {
				c, o := get(n, "copy"), get(n, "no-op")
				cc, co := median(get("copyd", "copy")), median(get("copyd", "no-op"))
				fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %s | %.2f |\n", n, set, spread(c), median(c).Seconds()/cc.Seconds(), spread(o), median(o).Seconds()/co.Seconds())
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("| propagation of one new 4 KiB file (copyd run, settle 250 ms) | p50 | p99 | max |\n| --- | --- | --- | --- |\n")
	for _, be := range []string{"s3", "sftp"} {
		ds := slices.Clone(lat[be])
		slices.Sort(ds)
		if len(ds) == 0 {
			continue
		}
		p99 := ds[min(len(ds)-1, len(ds)*99/100)]
		fmt.Fprintf(&b, "| %s | %d ms | %d ms | %d ms |\n", be, ds[len(ds)/2].Milliseconds(), p99.Milliseconds(), ds[len(ds)-1].Milliseconds())
	}
	t.Log(b.String())
	if out := os.Getenv("REPORT"); out != "" {
		os.WriteFile(out, []byte(b.String()), 0o644)
	}
}

func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%.2f (%.2f–%.2f)", median(s).Seconds(), s[0].Seconds(), s[len(s)-1].Seconds())
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
