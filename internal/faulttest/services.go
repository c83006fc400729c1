package faulttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// envRequire is the variable CI sets to turn a missing service into a
// failure instead of a skip.
const envRequire = "PALISADE_TEST_REQUIRE_SERVICES"

func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv(envRequire) == "1" {
		t.Fatalf("%s is required (%s=1) but not usable", what, envRequire)
	}
	t.Skipf("%s not usable; set %s=1 to require it", what, envRequire)
}

// pgBinDir is where Debian's postgresql package puts the server binaries.
func pgBinDir(t testing.TB) string {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		missing(t, "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/pg_ctl)")
	}
	return filepath.Dir(matches[len(matches)-1])
}

// Postgres is a PostgreSQL cluster of the harness's own, on a spare port,
// run by the postgres user (initdb refuses root), stopped and removed when
// the test ends.
type Postgres struct {
	t    testing.TB
	bin  string
	dir  string
	Port int
	cred *syscall.Credential
}

// StartPostgres creates and starts a cluster with trust authentication on
// 127.0.0.1.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p := &Postgres{t: t, bin: pgBinDir(t)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing(t, "the postgres user (to run initdb, which refuses root)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not under t.TempDir: its parents are private to root, and the
	// server runs as postgres.
	dir, err := os.MkdirTemp("", "palisade-faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if p.cred != nil {
		if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		p.run("pg_ctl", "stop", "-D", p.data(), "-m", "immediate", "-w", "-t", "30")
		os.RemoveAll(dir)
	})
	if out, err := p.run("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale", "C"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Port = freePort(t)
	p.Start()
	return p
}

func (p *Postgres) data() string { return filepath.Join(p.dir, "data") }

func (p *Postgres) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return cmd.CombinedOutput()
}

// URL is the superuser's URL of database db.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, db)
}

// Start starts the (stopped) cluster and waits until it accepts
// connections.
func (p *Postgres) Start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off", p.Port, p.dir)
	if out, err := p.run("pg_ctl", "start", "-D", p.data(), "-w", "-t", "60", "-l", filepath.Join(p.dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		p.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the cluster: mode "immediate" is a crash (no checkpoint,
// connections cut), "fast" a clean shutdown that still cuts connections.
func (p *Postgres) Stop(mode string) {
	p.t.Helper()
	if out, err := p.run("pg_ctl", "stop", "-D", p.data(), "-m", mode, "-w", "-t", "60"); err != nil {
		p.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// CreateDatabase creates db, owned by the superuser.
func (p *Postgres) CreateDatabase(db string) {
	p.t.Helper()
	if out, err := p.run("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", "postgres", db); err != nil {
		p.t.Fatalf("createdb: %v\n%s", err, out)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	_, port, err := net.SplitHostPort(FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return n
}

// Redis is a redis-server of the harness's own on a spare port, without
// persistence, stopped when the test ends.
type Redis struct {
	t      testing.TB
	bin    string
	Port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartRedis starts a redis-server and waits until it answers.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "redis-server")
	}
	r := &Redis{t: t, bin: bin, Port: freePort(t)}
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// URL is the server's URL.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Start starts the (stopped) server on its port.
func (r *Redis) Start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("starting redis-server: %v", err)
	}
	r.cmd, r.exited = cmd, make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(cmd, r.exited)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.Port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not start: %v", err)
		}
	}
}

// Stop kills the server (SIGKILL: an outage, not a maintenance stop).
func (r *Redis) Stop() {
	if r.cmd == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.exited
	r.cmd = nil
}

// MountTmpfs mounts a tmpfs of size (mount's syntax: "48m") on dir, which
// must exist, and unmounts it when the test ends (register it before
// starting anything that writes there). It reports false when this
// machine does not let the test mount (not root, or a container without
// the capability).
func MountTmpfs(t testing.TB, dir, size string) bool {
	t.Helper()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Logf("cannot mount a tmpfs on %s: %v: %s", dir, err, out)
		return false
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return true
}

// FillDisk writes a file at path until the file system refuses with
// ENOSPC, and returns how many bytes it wrote.
func FillDisk(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int64
	for _, chunk := range []int{1 << 20, 4 << 10, 512} {
		buf := make([]byte, chunk)
		for {
			w, err := f.Write(buf)
			n += int64(w)
			if err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling the disk: %v", err)
				}
				break
			}
		}
	}
	return n
}
