package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The instances below are for tests that stop, freeze or restart a service:
// each is the test's own, on a free loopback port, so that the shared
// servers are never disturbed. The binaries are the ones scripts/services.sh
// installs (initdb, pg_ctl and postgres from PATH or /usr/local/bin,
// redis-server from PATH).

// PostgresInstance is a Postgres server of the test's own.
type PostgresInstance struct {
	tb   testing.TB
	dir  string
	port int
	proc int // postmaster pid while running
}

// StartPostgres initialises a data directory (as the postgres user, since
// initdb refuses root), starts a server on a free port with trust auth, and
// stops it and removes the directory when the test ends.
func StartPostgres(tb testing.TB) *PostgresInstance {
	tb.Helper()
	dir, err := os.MkdirTemp("", "clerksync-pg-")
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	p := &PostgresInstance{tb: tb, dir: dir, port: freePort(tb)}
	tb.Cleanup(func() {
		p.Thaw()
		p.run("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("testenv: running as root needs a postgres user for initdb: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
	}
	if out, err := p.run("initdb", "-D", p.data(), "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		tb.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	p.Start()
	return p
}

func (p *PostgresInstance) data() string { return filepath.Join(p.dir, "data") }

// run runs a Postgres binary, as the postgres user when this process is root.
func (p *PostgresInstance) run(name string, args ...string) (string, error) {
	bin := name
	if _, err := exec.LookPath(name); err != nil {
		bin = filepath.Join("/usr/local/bin", name)
	}
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		cmd = exec.Command("su", "postgres", "-s", "/bin/sh", "-c", bin+" "+strings.Join(quoted, " "))
	} else {
		cmd = exec.Command(bin, args...)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// URL is the server's maintenance database.
func (p *PostgresInstance) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// Start starts the server (again, on the same port and data) and waits until
// it answers.
func (p *PostgresInstance) Start() {
	p.tb.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=100", p.port, p.dir)
	if out, err := p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "log"), "-o", opts, "-w", "start"); err != nil {
		p.tb.Fatalf("testenv: pg_ctl start: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(p.data(), "postmaster.pid"))
	if err != nil {
		p.tb.Fatalf("testenv: %v", err)
	}
	p.proc, _ = strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	db, err := sql.Open("postgres", p.URL())
	if err != nil {
		p.tb.Fatalf("testenv: %v", err)
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for db.Ping() != nil {
		if time.Now().After(deadline) {
			p.tb.Fatalf("testenv: own Postgres on port %d did not answer", p.port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server at once (its clients see their connections cut).
func (p *PostgresInstance) Stop() {
	p.tb.Helper()
	if out, err := p.run("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop"); err != nil {
		p.tb.Fatalf("testenv: pg_ctl stop: %v\n%s", err, out)
	}
	p.proc = 0
}

// Freeze stops every process of the server (SIGSTOP): connections stay
// open and nothing answers, as with a hung host.
func (p *PostgresInstance) Freeze() { p.signalAll(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (p *PostgresInstance) Thaw() { p.signalAll(syscall.SIGCONT) }

// signalAll signals the postmaster and its children (the backends).
func (p *PostgresInstance) signalAll(sig syscall.Signal) {
	if p.proc == 0 {
		return
	}
	pids := []int{p.proc}
	if out, err := exec.Command("pgrep", "-P", strconv.Itoa(p.proc)).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
	}
	for _, pid := range pids {
		syscall.Kill(pid, sig)
	}
}

// CreateDatabase creates an empty database on the instance and returns its URL.
func (p *PostgresInstance) CreateDatabase(name string) string {
	p.tb.Helper()
	db, err := sql.Open("postgres", p.URL())
	if err != nil {
		p.tb.Fatalf("testenv: %v", err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		p.tb.Fatalf("testenv: create database: %v", err)
	}
	return strings.Replace(p.URL(), "/postgres?", "/"+name+"?", 1)
}

// RedisInstance is a redis-server of the test's own.
type RedisInstance struct {
	tb   testing.TB
	cmd  *exec.Cmd
	Addr string
}

// StartRedis starts redis-server on a free port with the given extra
// arguments (e.g. "--appendonly", "no") and stops it when the test ends.
func StartRedis(tb testing.TB, args ...string) *RedisInstance {
	tb.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(tb))
	_, port, _ := net.SplitHostPort(addr)
	all := append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", tb.TempDir(), "--save", ""}, args...)
	cmd := exec.Command("redis-server", all...)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("testenv: redis-server: %v", err)
	}
	r := &RedisInstance{tb: tb, cmd: cmd, Addr: addr}
	tb.Cleanup(func() {
		r.Thaw()
		cmd.Process.Kill()
		cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			tb.Fatalf("testenv: own redis-server on %s did not answer", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

// URL is the instance's DB 0.
func (r *RedisInstance) URL() string { return "redis://" + r.Addr + "/0" }

// Freeze stops the server (SIGSTOP): connections stay open, nothing answers.
func (r *RedisInstance) Freeze() { r.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (r *RedisInstance) Thaw() { r.cmd.Process.Signal(syscall.SIGCONT) }

// freePort asks the kernel for a free loopback port.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
