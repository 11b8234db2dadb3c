package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/datasource/datasourcetest"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// open opens and migrates a DataSource on url, closed when t ends.
func open(t *testing.T, url string, cfg *Config) *DataSource {
	t.Helper()
	ctx := context.Background()
	ds, err := Open(ctx, url, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	require.NoError(t, ds.Migrate(ctx))
	return ds
}

func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: t.Output(), Level: hclog.Debug})
}

func TestConformance(t *testing.T) {
	t.Parallel()
	datasourcetest.Run(t, func(t *testing.T) datasource.DataSource {
		return open(t, pgtest.NewDatabase(t), &Config{Logger: testLogger(t)})
	})
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		url     string
		wantDSN string
		want    Config
		wantErr string
	}{
		{
			name:    "Plain",
			url:     "postgres://u:pw@db:5432/strata?sslmode=disable",
			wantDSN: "postgres://u:pw@db:5432/strata?binary_parameters=yes&sslmode=disable&timezone=UTC",
		},
		{
			name:    "PostgresqlSchemeAndPoolParams",
			url:     "postgresql://db/strata?pool_max_conns=20&sslmode=require&pool_max_idle_conns=5&pool_max_conn_lifetime=90s",
			wantDSN: "postgresql://db/strata?binary_parameters=yes&sslmode=require&timezone=UTC",
			want:    Config{MaxConns: 20, MaxIdleConns: 5, MaxConnLifetime: 90 * time.Second},
		},
		{
			name:    "OwnTimezoneAndBinaryParameters",
			url:     "postgres://db/strata?timezone=Europe%2FParis&binary_parameters=no",
			wantDSN: "postgres://db/strata?binary_parameters=no&timezone=Europe%2FParis",
		},
		{name: "WrongScheme", url: "mysql://db/strata", wantErr: "want postgres://"},
		{name: "SQLiteURL", url: "sqlite:///tmp/x.db", wantErr: "want postgres://"},
		{name: "BadMaxConns", url: "postgres://db/s?pool_max_conns=0", wantErr: "pool_max_conns"},
		{name: "NotANumber", url: "postgres://db/s?pool_max_idle_conns=many", wantErr: "pool_max_idle_conns"},
		{name: "BadLifetime", url: "postgres://db/s?pool_max_conn_lifetime=10", wantErr: "pool_max_conn_lifetime"},
		{name: "PasswordIsRedacted", url: "mysql://u:secret@db/s", wantErr: "xxxxx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn, cfg, err := ParseURL(tc.url)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, datasource.ErrInvalid)
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), "secret")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantDSN, dsn)
			require.Equal(t, tc.want, *cfg)
		})
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cfg     *Config
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{name: "NilIsDefaults", cfg: nil, check: func(t *testing.T, c Config) {
			require.Equal(t, MaxConnsDefault, c.MaxConns)
			require.Equal(t, MaxConnsDefault, c.MaxIdleConns)
			require.Equal(t, MaxConnLifetimeDefault, c.MaxConnLifetime)
			require.Equal(t, RetryAttemptsDefault, c.RetryAttempts)
			require.Equal(t, RetryMinDelayDefault, c.RetryMinDelay)
			require.Equal(t, RetryMaxDelayDefault, c.RetryMaxDelay)
			require.NotNil(t, c.Logger)
		}},
		{name: "IdleFollowsMaxConns", cfg: &Config{MaxConns: 3}, check: func(t *testing.T, c Config) {
			require.Equal(t, 3, c.MaxIdleConns)
		}},
		{name: "IdleNeverAboveMaxConns", cfg: &Config{MaxConns: 3, MaxIdleConns: 8}, check: func(t *testing.T, c Config) {
			require.Equal(t, 3, c.MaxIdleConns)
		}},
		{name: "NegativeMaxConns", cfg: &Config{MaxConns: -1}, wantErr: "MaxConns"},
		{name: "NegativeRetryAttempts", cfg: &Config{RetryAttempts: -1}, wantErr: "RetryAttempts"},
		{name: "NegativeDelay", cfg: &Config{RetryMaxDelay: -time.Second}, wantErr: "delays"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := tc.cfg.withDefaults()
			if tc.wantErr != "" {
				require.ErrorIs(t, err, datasource.ErrInvalid)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

func TestOpenAppliesPoolSettings(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t) + "&pool_max_conns=3"
	ds := open(t, url, &Config{MaxConns: 7, MaxConnLifetime: time.Minute})
	require.Equal(t, 3, ds.DB().Stats().MaxOpenConnections, "the URL wins over Config")
	require.Equal(t, time.Minute, ds.cfg.MaxConnLifetime, "Config fills what the URL leaves out")
	require.Equal(t, 3, ds.idleConns)
}

func TestNewLeavesThePoolToItsOwner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlx.Open("postgres", pgtest.NewDatabase(t))
	require.NoError(t, err)
	defer db.Close()
	ds, err := New(db, nil)
	require.NoError(t, err)
	require.NoError(t, ds.Migrate(ctx))
	NewTM := datasourcetest.NewTaskManager(t, ds, "tm", datasourcetest.T0)

	require.NoError(t, ds.Close())
	require.NoError(t, ds.Close())
	_, err = ds.GenerationLatest(ctx, NewTM.SequenceID)
	require.ErrorIs(t, err, datasource.ErrClosed)
	require.ErrorIs(t, ds.ResetConnections(ctx), datasource.ErrClosed)
	require.NoError(t, db.PingContext(ctx), "Close leaves a pool given to New open")

	_, err = New(nil, nil)
	require.ErrorIs(t, err, datasource.ErrInvalid)
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ConcurrentMigrationsApplyOnce", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewDatabase(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			ds, err := Open(ctx, url, nil)
			require.NoError(t, err)
			defer ds.Close()
			wg.Go(func() { errs[i] = ds.Migrate(ctx) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		ds := open(t, url, nil)
		ms, err := migrations()
		require.NoError(t, err)
		var rows int
		require.NoError(t, ds.DB().GetContext(ctx, &rows, `SELECT COUNT(*) FROM schema_version`))
		require.Equal(t, len(ms), rows)
		v, err := ds.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, ms[len(ms)-1].Version, v)
	})

	t.Run("MigrateTwiceIsFine", func(t *testing.T) {
		t.Parallel()
		ds := open(t, pgtest.NewDatabase(t), nil)
		require.NoError(t, ds.Migrate(ctx))
		require.NoError(t, ds.Migrate(ctx))
	})

	t.Run("UnmigratedIsVersionZero", func(t *testing.T) {
		t.Parallel()
		ds, err := Open(ctx, pgtest.NewDatabase(t), nil)
		require.NoError(t, err)
		defer ds.Close()
		v, err := ds.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Zero(t, v)
		st, err := ds.Stats(ctx)
		require.NoError(t, err)
		require.Zero(t, st.SchemaVersion)
	})

	t.Run("NewerSchemaIsRefused", func(t *testing.T) {
		t.Parallel()
		ds := open(t, pgtest.NewDatabase(t), nil)
		_, err := ds.DB().ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (9999, 'future', now())`)
		require.NoError(t, err)
		require.ErrorIs(t, ds.Migrate(ctx), datasource.ErrSchemaTooNew)
	})
}

// TestRetriesTransientFailures stops the server under a read, starts it
// again once the read has failed, and checks that the read then succeeds;
// then that a write transaction goes through on the restarted server.
func TestRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster := pgtest.NewCluster(t)
	ds := open(t, cluster.NewDatabase(t), &Config{
		RetryAttempts: 100,
		RetryMinDelay: 10 * time.Millisecond,
		RetryMaxDelay: 200 * time.Millisecond,
		Logger:        testLogger(t),
	})
	tm := datasourcetest.NewTaskManager(t, ds, "tm", datasourcetest.T0)

	retried := make(chan error, 1)
	ds.onRetry = func(_ int, err error) {
		select {
		case retried <- err:
		default:
		}
	}
	cluster.StopServer(t)
	type result struct {
		last int64
		err  error
	}
	done := make(chan result, 1)
	go func() {
		last, err := ds.GenerationLatest(ctx, tm.SequenceID)
		done <- result{last, err}
	}()
	select {
	case err := <-retried:
		t.Logf("first transient error: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the read was not retried while the server was down")
	}
	cluster.StartServer(t)
	select {
	case r := <-done:
		require.NoError(t, r.err)
		require.Equal(t, int64(1), r.last)
	case <-time.After(60 * time.Second):
		t.Fatal("the read did not succeed after the server came back")
	}

	// Every pooled connection died with the old server.
	cluster.Restart(t)
	require.NoError(t, ds.ProductPut(ctx, &datasource.ProductPutParams{TaskManagerSeq: tm.SequenceID, Generation: 1,
		Products: []*datasource.Product{datasourcetest.NewProduct("a", []byte("1")), datasourcetest.NewProduct("b", []byte("2"))}}))
	p, err := ds.ProductGet(ctx, &datasource.ProductGetParams{TaskManagerSeq: tm.SequenceID, Generation: 1, Key: "b"})
	require.NoError(t, err)
	require.Equal(t, "2", string(p.Value))
}

func TestRetryGivesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster := pgtest.NewCluster(t)
	ds := open(t, cluster.NewDatabase(t), &Config{RetryAttempts: 3, RetryMinDelay: time.Millisecond})
	attempts := 0
	ds.onRetry = func(int, error) { attempts++ }
	cluster.StopServer(t)
	_, err := ds.GenerationLatest(ctx, 1)
	require.Error(t, err)
	require.Equal(t, 2, attempts, "three tries: two retries")

	cctx, cancel := context.WithCancel(ctx)
	ds.cfg.RetryMinDelay = time.Hour
	ds.onRetry = func(int, error) { cancel() }
	_, err = ds.GenerationLatest(cctx, 1)
	require.ErrorIs(t, err, context.Canceled, "a cancelled context stops the backoff")
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	pqErr := func(code pqerror.Code) error { return fmt.Errorf("query: %w", &pq.Error{Code: code, Message: "m"}) }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"ConnectionRefused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"ConnectionReset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"BadConn", driver.ErrBadConn, true},
		{"AdminShutdown", pqErr(pqerror.AdminShutdown), true},
		{"CannotConnectNow", pqErr(pqerror.CannotConnectNow), true},
		{"ConnectionFailure", pqErr(pqerror.ConnectionFailure), true},
		{"SerializationFailure", pqErr(pqerror.TRSerializationFailure), true},
		{"Deadlock", pqErr(pqerror.TRDeadlockDetected), true},
		{"SerializationFailureAtCommit", &commitError{pqErr(pqerror.TRSerializationFailure)}, true},
		{"ConnectionLostAtCommit", &commitError{driver.ErrBadConn}, false},
		{"Conflict", fmt.Errorf("%w: %w", errConflict, pqErr(pqerror.UniqueViolation)), true},
		{"UniqueViolation", pqErr(pqerror.UniqueViolation), false},
		{"CheckViolation", pqErr(pqerror.CheckViolation), false},
		{"Canceled", context.Canceled, false},
		{"QueryCanceled", pqErr(pqerror.QueryCanceled), false},
		{"Closed", datasource.ErrClosed, false},
		{"Other", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, retryable(tc.err))
		})
	}
}

func TestInterpretError(t *testing.T) {
	t.Parallel()
	pqErr := func(code pqerror.Code) error { return &pq.Error{Code: code, Message: "m"} }
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"UniqueViolation", pqErr(pqerror.UniqueViolation), datasource.ErrExists},
		{"CheckViolation", pqErr(pqerror.CheckViolation), datasource.ErrInvalid},
		{"NotNullViolation", pqErr(pqerror.NotNullViolation), datasource.ErrInvalid},
		{"BadEncoding", pqErr(pqerror.CharacterNotInRepertoire), datasource.ErrInvalid},
		{"ForeignKeyViolation", pqErr(pqerror.ForeignKeyViolation), datasource.ErrNotFound},
		{"DiskFull", pqErr(pqerror.DiskFull), datasource.ErrFull},
		{"Closed", errors.New("sql: database is closed"), datasource.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := interpretError(tc.err)
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, err, tc.err, "the driver error stays in the chain")
			require.Equal(t, err, interpretError(err), "mapping twice changes nothing")
		})
	}
	require.NoError(t, interpretError(nil))
}
