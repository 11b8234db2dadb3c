// Package pgtest gives tests a PostgreSQL database of their own.
//
// When STRATA_TEST_POSTGRES_URL is set (postgres://user@host:port/db?...),
// every test gets a fresh database on that server (the user needs CREATEDB).
// Otherwise the first test that asks starts one throwaway cluster per test
// binary from the installed server binaries: initdb and pg_ctl found on PATH
// or in the newest /usr/lib/postgresql/*/bin (STRATA_PG_BINDIR overrides
// both), in a temporary directory, trust authentication, listening on a free
// port of 127.0.0.1 only, fsync off. initdb and postgres refuse to run as
// root, so under root they run as the OS user postgres (created when absent)
// through runuser.
//
// Without server binaries the tests are skipped, except under CI=true where a
// missing PostgreSQL fails the test.
//
// A package that uses pgtest stops the cluster at the end of the test binary
// from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// A cluster left behind by a test binary that was killed is stopped and
// removed by the next one that starts a cluster.
package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq" // registers the "postgres" driver

	"github.com/strata-dataspace/strata/internal/testenv"
)

// Environment variables read by the harness.
const (
	// EnvURL points the tests at an existing server instead of a throwaway
	// cluster.
	EnvURL = "STRATA_TEST_POSTGRES_URL"
	// EnvBinDir names the directory holding initdb, pg_ctl and postgres; it
	// replaces the search of PATH and /usr/lib/postgresql. A directory
	// without them behaves as if PostgreSQL were not installed.
	EnvBinDir = "STRATA_PG_BINDIR"
	// EnvCI, when "true", turns a missing PostgreSQL into a test failure.
	EnvCI = testenv.EnvCI
)

// dirPrefix starts the name of every cluster directory, so that clusters
// left behind by killed test binaries can be found and removed.
const dirPrefix = "strata-pgtest-"

// ownerFile, inside a cluster directory, holds the pid of the test binary
// that owns the cluster.
const ownerFile = "owner.pid"

// ErrNoServer is wrapped by the error returned when no PostgreSQL server
// binaries are installed.
var ErrNoServer = errors.New("PostgreSQL server binaries not found; install postgresql (Debian: apt-get install postgresql) or set " + EnvURL)

var shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

var mainCalled atomic.Bool

// Main runs the tests and then stops the shared cluster, if one was started,
// and exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if shared.cluster != nil {
		if err := shared.cluster.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop cluster: %v\n", err)
		}
	}
	os.Exit(code)
}

// NewDatabase creates a fresh, empty database on the shared server and
// returns its URL (with sslmode=disable unless the server URL sets sslmode).
// The database is dropped, forcibly, when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return Shared(t).NewDatabase(t)
}

// Shared returns the server every test of this binary shares: the one named
// by STRATA_TEST_POSTGRES_URL, or the throwaway cluster, started on first
// use. It skips or fails t when no server is available (see the package
// doc).
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.once.Do(func() {
		if raw := os.Getenv(EnvURL); raw != "" {
			shared.cluster, shared.err = external(raw)
			return
		}
		if !mainCalled.Load() {
			t.Logf("pgtest: TestMain does not call pgtest.Main: the cluster outlives this test binary until the next run removes it")
		}
		shared.cluster, shared.err = startCluster()
	})
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	return shared.cluster
}

// NewCluster starts a private throwaway cluster for t, stopped and removed
// when t ends: for tests that stop or restart the server. It needs local
// server binaries even when STRATA_TEST_POSTGRES_URL is set.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := startCluster()
	if err != nil {
		if errors.Is(err, ErrNoServer) && os.Getenv(EnvURL) != "" {
			testenv.Missing(t, "pgtest: a private cluster needs local server binaries: %v", err)
		}
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("pgtest: stop private cluster: %v", err)
		}
	})
	return c
}

// unavailable ends t when no server can be had: a skip when binaries are
// missing outside CI, else a failure.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoServer) {
		testenv.Missing(t, "pgtest: %v", err)
	}
	t.Fatalf("pgtest: %v", err)
}

// requireServer reports whether a missing server is a failure: under CI.
func requireServer() bool { return testenv.CI() }

// Cluster is a PostgreSQL server the tests create databases on: a
// throwaway cluster this package started, or an external server.
type Cluster struct {
	base *url.URL // server URL; its path names the admin database
	seq  atomic.Int64

	// mu is held for reading by admin statements and for writing while the
	// server is stopped, started or shut down for good.
	mu     sync.RWMutex
	admin  *sql.DB
	closed bool
	down   bool // stopped by StopServer

	// Throwaway clusters only.
	dir    string // temporary directory: data/, socket, log
	binDir string
	port   int
	runAs  *user.User // nil: run the binaries as ourselves
}

// URL returns the URL of the cluster's admin database (postgres on a
// throwaway cluster).
func (c *Cluster) URL() string { return c.base.String() }

// External reports whether the cluster is a server named by
// STRATA_TEST_POSTGRES_URL rather than one this package started.
func (c *Cluster) External() bool { return c.dir == "" }

// NewDatabase creates a fresh database on the cluster, returns its URL and
// drops it (WITH (FORCE)) when t ends.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("strata_test_%d_%d", os.Getpid(), c.seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := c.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		if errors.Is(err, errServerDown) {
			return // a stopped throwaway server is thrown away whole
		}
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u := *c.base
	u.Path = "/" + name
	return u.String()
}

// errServerDown is returned for statements sent while StopServer has the
// server down.
var errServerDown = errors.New("the server is stopped (StopServer)")

// exec runs one statement on the admin database, retrying briefly while the
// server restarts.
func (c *Cluster) exec(ctx context.Context, stmt string) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return errors.New("the cluster is shut down")
	}
	if c.down {
		return errServerDown
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if _, err = c.admin.ExecContext(ctx, stmt); err == nil {
			return nil
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
		}
	}
	return err
}

// StopServer shuts the throwaway server down, keeping its data, so that a
// test can watch clients fail and recover; StartServer brings it back on
// the same port. It fails t on an external server.
func (c *Cluster) StopServer(t testing.TB) {
	t.Helper()
	if c.External() {
		t.Fatalf("pgtest: cannot stop an external server")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if out, err := c.pgctl("-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		t.Fatalf("pgtest: stop server: %v\n%s", err, out)
	}
	c.down = true
}

// StartServer starts a server stopped by StopServer, on the same port.
func (c *Cluster) StartServer(t testing.TB) {
	t.Helper()
	if c.External() {
		t.Fatalf("pgtest: cannot start an external server")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.startServer(); err != nil {
		t.Fatalf("pgtest: start server: %v", err)
	}
	c.down = false
}

// Restart stops and starts the throwaway server: every open connection is
// dropped.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	c.StopServer(t)
	c.StartServer(t)
}

// external prepares the server named by raw.
func external(raw string) (*Cluster, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("%s=%q: want a URL such as postgres://user@127.0.0.1:5432/postgres?sslmode=disable", EnvURL, raw)
	}
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
		u.RawQuery = q.Encode()
	}
	c := &Cluster{base: u}
	if err := c.connectAdmin(); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	return c, nil
}

// connectAdmin opens and checks the admin pool.
func (c *Cluster) connectAdmin() error {
	db, err := sql.Open("postgres", c.base.String())
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("connect to %s: %w", redact(c.base), err)
	}
	c.admin = db
	return nil
}

func redact(u *url.URL) string { return u.Redacted() }

// startCluster creates and starts a throwaway cluster.
func startCluster() (*Cluster, error) {
	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{binDir: binDir}
	if os.Geteuid() == 0 {
		if c.runAs, err = ensureUser("postgres"); err != nil {
			return nil, err
		}
	}
	base := tempBase(c.runAs != nil)
	reapOrphans(base, binDir)
	if c.dir, err = os.MkdirTemp(base, dirPrefix); err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			c.removeDir()
		}
	}()
	if err := os.WriteFile(filepath.Join(c.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	if c.runAs != nil {
		uid, _ := strconv.Atoi(c.runAs.Uid)
		gid, _ := strconv.Atoi(c.runAs.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return nil, fmt.Errorf("give cluster directory to user %s: %w", c.runAs.Username, err)
		}
	}
	if out, err := c.run(filepath.Join(binDir, "initdb"), "-D", c.dataDir(), "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// Another process may take the port between our probe and the
	// server's bind: try a few.
	for attempt := 1; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
		if err = c.startServer(); err == nil {
			break
		}
		if attempt == 5 {
			return nil, err
		}
	}
	c.base = &url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	if err := c.connectAdmin(); err != nil {
		c.pgctl("-m", "immediate", "-w", "stop")
		return nil, err
	}
	ok = true
	return c, nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *Cluster) logFile() string { return filepath.Join(c.dir, "postgres.log") }

// startServer starts postgres on c.port and waits until it accepts
// connections.
func (c *Cluster) startServer() error {
	opts := strings.Join([]string{
		"-h 127.0.0.1",
		"-p " + strconv.Itoa(c.port),
		"-k " + c.dir,
		"-F",
		"-c fsync=off",
		"-c synchronous_commit=off",
		"-c full_page_writes=off",
		"-c max_connections=200",
		"-c shared_buffers=64MB",
		"-c max_wal_size=1GB",
		"-c log_min_messages=warning",
	}, " ")
	out, err := c.pgctl("-l", c.logFile(), "-o", opts, "-w", "-t", "120", "start")
	if err != nil {
		log, _ := os.ReadFile(c.logFile())
		return fmt.Errorf("pg_ctl start on port %d: %w\n%s\n%s", c.port, err, out, tail(log, 20))
	}
	return nil
}

// stop stops the server (no clean shutdown: the data is thrown away) and
// removes the cluster directory. It is a no-op on an external server.
func (c *Cluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if c.admin != nil {
		errs = append(errs, c.admin.Close())
	}
	if c.External() || c.closed {
		return errors.Join(errs...)
	}
	c.closed = true
	if _, err := os.Stat(filepath.Join(c.dataDir(), "postmaster.pid")); err == nil {
		if out, err := c.pgctl("-m", "immediate", "-w", "-t", "60", "stop"); err != nil {
			errs = append(errs, fmt.Errorf("pg_ctl stop: %w\n%s", err, out))
		}
	}
	errs = append(errs, c.removeDir())
	return errors.Join(errs...)
}

func (c *Cluster) removeDir() error {
	if c.dir == "" {
		return nil
	}
	return os.RemoveAll(c.dir)
}

// pgctl runs pg_ctl on the cluster's data directory.
func (c *Cluster) pgctl(args ...string) ([]byte, error) {
	return c.run(filepath.Join(c.binDir, "pg_ctl"), append([]string{"-D", c.dataDir()}, args...)...)
}

// run runs a server binary, as the postgres user when we are root, in the
// cluster directory with a clean environment.
func (c *Cluster) run(bin string, args ...string) ([]byte, error) {
	return runAs(c.runAs, c.dir, bin, args...)
}

func runAs(u *user.User, dir, bin string, args ...string) ([]byte, error) {
	name := bin
	if u != nil {
		name = sbin("runuser")
		args = append([]string{"-u", u.Username, "--", bin}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + filepath.Dir(bin) + ":/usr/sbin:/usr/bin:/sbin:/bin",
		"LC_ALL=C",
		"TZ=UTC",
	}
	if u != nil {
		cmd.Env = append(cmd.Env, "HOME="+dir)
	} else if home, err := os.UserHomeDir(); err == nil {
		cmd.Env = append(cmd.Env, "HOME="+home)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// pg_ctl start leaves postgres running with its output in the log
	// file; never wait for it to close ours.
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

// findBinDir returns the directory holding initdb and pg_ctl.
func findBinDir() (string, error) {
	has := func(dir string) bool {
		for _, bin := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, bin)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if dir, ok := os.LookupEnv(EnvBinDir); ok {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%s=%s holds no initdb, pg_ctl and postgres: %w", EnvBinDir, dir, ErrNoServer)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if dir := filepath.Dir(p); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no initdb on PATH or in /usr/lib/postgresql/*/bin: %w", ErrNoServer)
}

// versionOf returns the major version in /usr/lib/postgresql/VERSION/bin.
func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// ensureUser returns the OS user name, creating it when absent. Test
// binaries running at once may race to create it.
func ensureUser(name string) (*user.User, error) {
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		u, err := user.Lookup(name)
		if err == nil {
			return u, nil
		}
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return nil, fmt.Errorf("look up user %s: %w", name, err)
		}
		out, err := exec.Command(sbin("useradd"), "--system", "--no-create-home", "--home-dir", "/nonexistent",
			"--shell", "/usr/sbin/nologin", "--user-group", name).CombinedOutput()
		if err == nil {
			continue
		}
		// Exit 9: created meanwhile by another process; 10: passwd locked.
		lastErr = fmt.Errorf("useradd %s: %w: %s", name, err, bytes.TrimSpace(out))
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
	return nil, fmt.Errorf("create OS user %s to run PostgreSQL (it refuses to run as root): %w", name, lastErr)
}

// sbin finds a system tool that may live outside PATH.
func sbin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	return name
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// tempBase returns the directory clusters are made in. The postgres user
// must be able to reach it, so under root a private TMPDIR falls back to
// /tmp.
func tempBase(otherUser bool) string {
	base := os.TempDir()
	if !otherUser {
		return base
	}
	for dir := base; ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if dir == filepath.Dir(dir) {
			return base
		}
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// reapOrphans stops and removes clusters whose test binary is gone (killed
// by a timeout, say), so that they do not pile up.
func reapOrphans(base, binDir string) {
	dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // being created, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() || alive(pid) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			var u *user.User
			if os.Geteuid() == 0 {
				u, _ = user.Lookup("postgres")
			}
			runAs(u, dir, filepath.Join(binDir, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "-t", "30", "stop")
		}
		os.RemoveAll(dir)
	}
}

// alive reports whether a process exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
