package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

func TestWatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	ds := open(t, url, &Config{Logger: testLogger(t)})
	notices := make(chan Notice, 64)
	require.NoError(t, ds.Watch("strata_test", func(n Notice) { notices <- n }))
	next := func() Notice {
		t.Helper()
		select {
		case n := <-notices:
			return n
		case <-time.After(30 * time.Second):
			t.Fatal("no notice within 30s")
			return Notice{}
		}
	}
	notify := func(payload string) {
		t.Helper()
		_, err := ds.DB().ExecContext(ctx, `SELECT pg_notify('strata_test', $1)`, payload)
		require.NoError(t, err)
	}

	require.Equal(t, Notice{State: NoticeListening}, next())
	notify("one")
	require.Equal(t, Notice{State: NoticePayload, Payload: "one"}, next())

	// A dropped connection is reported, opened again and listening again.
	var killed int
	require.NoError(t, ds.DB().GetContext(ctx, &killed, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%') k`))
	require.Equal(t, 1, killed)
	require.Equal(t, Notice{State: NoticeLost}, next())
	require.Equal(t, Notice{State: NoticeListening}, next())
	notify("two")
	require.Equal(t, Notice{State: NoticePayload, Payload: "two"}, next())

	// Close ends the watch, and no watch starts after it.
	require.NoError(t, ds.Close())
	require.Equal(t, Notice{State: NoticeLost}, next())
	require.ErrorIs(t, ds.Watch("strata_test", func(Notice) {}), datasource.ErrClosed)

	// A DataSource over a caller's pool cannot open a connection of its own.
	db, err := sqlx.Open("postgres", url)
	require.NoError(t, err)
	defer db.Close()
	other, err := New(db, nil)
	require.NoError(t, err)
	require.True(t, errors.Is(other.Watch("strata_test", func(Notice) {}), ErrNoWatch))
}
