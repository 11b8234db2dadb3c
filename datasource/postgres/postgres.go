// Package postgres is the PostgreSQL backend of Strata, for production and
// for many hosts sharing one store: sqlx over github.com/lib/pq, a
// connection pool sized by Config or the URL, bulk writes through
// COPY ... FROM STDIN, and retries with backoff when the server restarts or a
// connection drops, for every operation that is safe to run again.
package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/datasource/stmtcache"
)

// Config tunes the PostgreSQL backend. The pool fields apply to the pool
// Open builds; New leaves the caller's pool as it is.
type Config struct {
	// MaxConns caps the pool's open connections. Zero means
	// MaxConnsDefault. URL parameter: pool_max_conns.
	MaxConns int
	// MaxIdleConns caps the connections kept open while idle. Zero means
	// MaxConns. URL parameter: pool_max_idle_conns.
	MaxIdleConns int
	// MaxConnLifetime closes connections older than this, so that a pool
	// follows a failover or a load balancer. Zero means
	// MaxConnLifetimeDefault. URL parameter: pool_max_conn_lifetime (a Go
	// duration such as 30m).
	MaxConnLifetime time.Duration

	// RetryAttempts is how many times an operation that is safe to repeat
	// (a read, or a whole transaction that did not reach its commit) is
	// tried when it fails transiently: connection refused or reset, server
	// shutting down, serialization failure, deadlock. Zero means
	// RetryAttemptsDefault; 1 turns retries off.
	RetryAttempts int
	// RetryMinDelay is the wait before the first retry; each later wait
	// doubles up to RetryMaxDelay. Zero means RetryMinDelayDefault.
	RetryMinDelay time.Duration
	// RetryMaxDelay caps the wait between retries. Zero means
	// RetryMaxDelayDefault.
	RetryMaxDelay time.Duration

	// Logger gets a line for each retry. Nil discards.
	Logger hclog.Logger
}

// Defaults for the zero fields of Config.
const (
	MaxConnsDefault        = 10
	MaxConnLifetimeDefault = 30 * time.Minute
	RetryAttemptsDefault   = 5
	RetryMinDelayDefault   = 50 * time.Millisecond
	RetryMaxDelayDefault   = time.Second
)

// defaultIdleConns is database/sql's own idle limit, restored by
// ResetConnections on a pool given to New when Config.MaxIdleConns is zero.
const defaultIdleConns = 2

// withDefaults returns a copy of c with its zero fields set, or an error
// wrapping datasource.ErrInvalid when a field is out of range.
func (c *Config) withDefaults() (Config, error) {
	var out Config
	if c != nil {
		out = *c
	}
	switch {
	case out.MaxConns < 0:
		return out, fmt.Errorf("postgres config: %w: MaxConns %d must not be negative", datasource.ErrInvalid, out.MaxConns)
	case out.MaxIdleConns < 0:
		return out, fmt.Errorf("postgres config: %w: MaxIdleConns %d must not be negative", datasource.ErrInvalid, out.MaxIdleConns)
	case out.MaxConnLifetime < 0:
		return out, fmt.Errorf("postgres config: %w: MaxConnLifetime %s must not be negative", datasource.ErrInvalid, out.MaxConnLifetime)
	case out.RetryAttempts < 0:
		return out, fmt.Errorf("postgres config: %w: RetryAttempts %d must not be negative", datasource.ErrInvalid, out.RetryAttempts)
	case out.RetryMinDelay < 0 || out.RetryMaxDelay < 0:
		return out, fmt.Errorf("postgres config: %w: retry delays must not be negative", datasource.ErrInvalid)
	}
	if out.MaxConns == 0 {
		out.MaxConns = MaxConnsDefault
	}
	if out.MaxIdleConns == 0 {
		out.MaxIdleConns = out.MaxConns
	}
	out.MaxIdleConns = min(out.MaxIdleConns, out.MaxConns)
	if out.MaxConnLifetime == 0 {
		out.MaxConnLifetime = MaxConnLifetimeDefault
	}
	if out.RetryAttempts == 0 {
		out.RetryAttempts = RetryAttemptsDefault
	}
	if out.RetryMinDelay == 0 {
		out.RetryMinDelay = RetryMinDelayDefault
	}
	if out.RetryMaxDelay == 0 {
		out.RetryMaxDelay = RetryMaxDelayDefault
	}
	out.RetryMaxDelay = max(out.RetryMaxDelay, out.RetryMinDelay)
	if out.Logger == nil {
		out.Logger = hclog.NewNullLogger()
	}
	return out, nil
}

// DataSource is the PostgreSQL implementation of datasource.DataSource.
type DataSource struct {
	db        *sqlx.DB
	ownsPool  bool // Open built the pool: Close closes it
	idleConns int  // idle limit ResetConnections restores
	cfg       Config
	log       hclog.Logger

	stmts stmtcache.Cache // statements prepared once on the pool

	dsn     string // lib/pq's connection string, when Open built the pool
	watchMu sync.Mutex
	watches []*watch

	closed    atomic.Bool
	hooks     datasource.CloseHooks // run by Close, before the pools close
	closeOnce sync.Once
	closeErr  error

	// onRetry, when set (by tests), is called before each retry.
	onRetry func(attempt int, err error)
}

var _ datasource.DataSource = (*DataSource)(nil)

// ParseURL splits a postgres:// or postgresql:// URL into the connection
// string for lib/pq and the pool settings of its query parameters
// pool_max_conns, pool_max_idle_conns and pool_max_conn_lifetime, which are
// removed from the connection string. Unless the URL sets them, the
// connection string gets timezone=UTC and binary_parameters=yes (values
// travel as raw bytes, and a query with parameters takes one round trip).
// Every other parameter is passed to lib/pq untouched.
func ParseURL(raw string) (string, *Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, fmt.Errorf("postgres url: %w: %v", datasource.ErrInvalid, err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", nil, fmt.Errorf("postgres url %q: %w: want postgres://user:password@host:port/dbname?sslmode=disable", u.Redacted(), datasource.ErrInvalid)
	}
	q := u.Query()
	cfg := &Config{}
	for _, p := range []struct {
		name  string
		parse func(v string) error
	}{
		{"pool_max_conns", func(v string) (err error) { cfg.MaxConns, err = positiveInt(v); return err }},
		{"pool_max_idle_conns", func(v string) (err error) { cfg.MaxIdleConns, err = positiveInt(v); return err }},
		{"pool_max_conn_lifetime", func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return errors.New("want a positive Go duration such as 30m")
			}
			cfg.MaxConnLifetime = d
			return nil
		}},
	} {
		if !q.Has(p.name) {
			continue
		}
		v := q.Get(p.name)
		if err := p.parse(v); err != nil {
			return "", nil, fmt.Errorf("postgres url %q: %w: %s=%q: %v", u.Redacted(), datasource.ErrInvalid, p.name, v, err)
		}
		q.Del(p.name)
	}
	if !q.Has("timezone") {
		q.Set("timezone", "UTC")
	}
	if !q.Has("binary_parameters") {
		q.Set("binary_parameters", "yes")
	}
	u.RawQuery = q.Encode()
	return u.String(), cfg, nil
}

func positiveInt(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errors.New("want a positive integer")
	}
	return n, nil
}

// Open connects to the database at rawURL (see ParseURL) with a pool of
// its own, closed by Close. Pool settings in the URL win over cfg's. It
// checks the connection but does not migrate: call Migrate.
func Open(ctx context.Context, rawURL string, cfg *Config) (*DataSource, error) {
	dsn, fromURL, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	merged := Config{}
	if cfg != nil {
		merged = *cfg
	}
	if fromURL.MaxConns != 0 {
		merged.MaxConns = fromURL.MaxConns
	}
	if fromURL.MaxIdleConns != 0 {
		merged.MaxIdleConns = fromURL.MaxIdleConns
	}
	if fromURL.MaxConnLifetime != 0 {
		merged.MaxConnLifetime = fromURL.MaxConnLifetime
	}
	full, err := merged.withDefaults()
	if err != nil {
		return nil, err
	}
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres database: %w", err)
	}
	db.SetMaxOpenConns(full.MaxConns)
	db.SetMaxIdleConns(full.MaxIdleConns)
	db.SetConnMaxLifetime(full.MaxConnLifetime)
	s := newDataSource(db, full)
	s.ownsPool = true
	s.dsn = dsn
	s.idleConns = full.MaxIdleConns
	if err := s.retry(ctx, "connect", func() error { return db.PingContext(ctx) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres database %s: %w", redacted(rawURL), interpretError(err))
	}
	return s, nil
}

// New uses a pool the caller owns (and closes); the pool fields of cfg do
// not change it. ResetConnections restores its idle limit to
// cfg.MaxIdleConns, or to database/sql's default of 2 when that is zero.
func New(db *sqlx.DB, cfg *Config) (*DataSource, error) {
	if db == nil {
		return nil, fmt.Errorf("postgres: %w: nil pool", datasource.ErrInvalid)
	}
	full, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := newDataSource(db, full)
	s.idleConns = defaultIdleConns
	if cfg != nil && cfg.MaxIdleConns > 0 {
		s.idleConns = cfg.MaxIdleConns
	}
	return s, nil
}

func newDataSource(db *sqlx.DB, cfg Config) *DataSource {
	return &DataSource{db: db, cfg: cfg, log: cfg.Logger.Named("postgres")}
}

func redacted(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable url)"
}

// OnClose registers fn to run when the DataSource closes, before its pools
// do (at once when it is closed already): for layers that keep state per
// pool, such as prepared statements and caches.
func (s *DataSource) OnClose(fn func()) { s.hooks.OnClose(fn) }

// DB returns the pool, for benchmarks and tools that need raw SQL.
func (s *DataSource) DB() *sqlx.DB { return s.db }

// Close closes the pool when Open built it; after Close every method fails
// with datasource.ErrClosed. It is safe to call twice.
func (s *DataSource) Close() error {
	s.closeOnce.Do(func() {
		s.hooks.Run()
		s.closeWatches()
		s.stmts.Close()
		if s.ownsPool {
			s.closeErr = s.db.Close()
		}
	})
	return s.closeErr
}

// stmt returns q prepared once on the pool (database/sql prepares it again
// on each connection that runs it): a hot statement then skips the
// server's parse and plan.
func (s *DataSource) stmt(ctx context.Context, q string) (*sqlx.Stmt, error) {
	return s.stmts.Get(ctx, s.db, q)
}

// get runs a one-row read through a prepared statement.
func (s *DataSource) get(ctx context.Context, dst any, q string, args ...any) error {
	st, err := s.stmt(ctx, q)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dst, args...)
}

// ResetConnections closes the idle connections; the next calls open fresh
// ones.
func (s *DataSource) ResetConnections(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("reset connections: %w", datasource.ErrClosed)
	}
	s.db.SetMaxIdleConns(0)
	s.db.SetMaxIdleConns(s.idleConns)
	return nil
}

// retry runs op, and runs it again after a transient failure, waiting
// RetryMinDelay, then twice as long each time up to RetryMaxDelay (with
// some jitter), RetryAttempts tries in all. op must be safe to repeat.
func (s *DataSource) retry(ctx context.Context, what string, op func() error) error {
	delay := s.cfg.RetryMinDelay
	for attempt := 1; ; attempt++ {
		if s.closed.Load() {
			return datasource.ErrClosed
		}
		err := op()
		if err == nil || attempt >= s.cfg.RetryAttempts || ctx.Err() != nil || !retryable(err) {
			return err
		}
		wait := delay/2 + rand.N(delay/2+1)
		s.log.Info("transient database error, retrying", "op", what, "attempt", attempt, "wait", wait, "error", err)
		if s.onRetry != nil {
			s.onRetry(attempt, err)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w (gave up retrying: %w)", err, ctx.Err())
		case <-timer.C:
		}
		delay = min(2*delay, s.cfg.RetryMaxDelay)
	}
}

// inTx runs fn in one transaction, and runs the whole transaction again
// after a transient failure before its commit (see retry).
func (s *DataSource) inTx(ctx context.Context, what string, fn func(tx *sqlx.Tx) error) error {
	return s.retry(ctx, what, func() error {
		tx, err := s.db.BeginTxx(ctx, nil)
		if err != nil {
			return interpretError(err)
		}
		if err := fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return &commitError{interpretError(err)}
		}
		return nil
	})
}

// commitError marks a failed COMMIT: unless the server reports that it
// rolled the transaction back, we cannot know whether it committed, so it
// is not retried.
type commitError struct{ err error }

func (e *commitError) Error() string { return e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// errConflict marks a write that lost a race with a concurrent one and is
// safe to run again (it will see the other's committed rows).
var errConflict = errors.New("concurrent write conflict")

// retryable reports whether an operation that failed with err may be run
// again.
func retryable(err error) bool {
	if errors.Is(err, datasource.ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if pqErr := pq.As(err); pqErr != nil {
		switch pqErr.Code {
		case pqerror.TRSerializationFailure, pqerror.TRDeadlockDetected:
			return true // the server rolled the transaction back
		}
	}
	var ce *commitError
	if errors.As(err, &ce) {
		return false
	}
	if errors.Is(err, errConflict) {
		return true
	}
	if pqErr := pq.As(err); pqErr != nil {
		switch pqErr.Code {
		case pqerror.AdminShutdown, pqerror.CrashShutdown, pqerror.CannotConnectNow, pqerror.TooManyConnections:
			return true
		}
		return pqErr.Code.Class() == "08" // connection exception
	}
	var opErr *net.OpError
	return errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &opErr)
}

// IsFull reports whether err is PostgreSQL's disk_full, for callers that
// run their own statements on DB.
func IsFull(err error) bool { return pq.As(err, pqerror.DiskFull) != nil }

// interpretError maps driver errors onto the datasource sentinels, keeping
// the original error in the chain. Errors already mapped pass unchanged.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	for _, sentinel := range []error{datasource.ErrNotFound, datasource.ErrSealed, datasource.ErrInvalid,
		datasource.ErrExists, datasource.ErrClosed, datasource.ErrFull, datasource.ErrSchemaTooNew} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	if pqErr := pq.As(err); pqErr != nil {
		switch {
		case pqErr.Code == pqerror.UniqueViolation:
			return fmt.Errorf("%w: %w", datasource.ErrExists, err)
		case pqErr.Code == pqerror.ForeignKeyViolation:
			return fmt.Errorf("%w: %w", datasource.ErrNotFound, err)
		case IsFull(err):
			return fmt.Errorf("%w: %w", datasource.ErrFull, err)
		case pqErr.Code == pqerror.CheckViolation, pqErr.Code == pqerror.NotNullViolation,
			pqErr.Code.Class() == "22": // data exception: NUL in text, bad UTF-8, out of range
			return fmt.Errorf("%w: %w", datasource.ErrInvalid, err)
		}
		return err
	}
	if err.Error() == "sql: database is closed" {
		return fmt.Errorf("%w: %w", datasource.ErrClosed, err)
	}
	return err
}

// ts is how a time is stored: UTC, microsecond precision (PostgreSQL would
// round; Go truncates).
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// fromTS is the inverse of ts for a time read back.
func fromTS(t time.Time) time.Time { return t.UTC() }
