package reaper

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/strata-dataspace/strata/datasource/postgres"
)

// AdvisoryLockKey is the PostgreSQL advisory lock key a reaper holds for
// the length of a run, so that only one reaper works on a database at a
// time. It spells "strata.r".
const AdvisoryLockKey int64 = 0x7374726174612e72

// lock takes the database-wide reaper lock. On PostgreSQL it is a
// session-level advisory lock on a connection of its own, released (or the
// connection discarded) by unlock; ok is false when another session holds
// it. Other backends need no lock: SQLite has one writer per file anyway.
func (r *Reaper) lock(ctx context.Context) (unlock func(), ok bool, err error) {
	pg, isPG := r.space.DataSource().(*postgres.DataSource)
	if !isPG {
		return func() {}, true, nil
	}
	conn, err := pg.DB().Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("reaper lock: connect: %w", err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, AdvisoryLockKey).Scan(&got); err != nil {
		discard(conn.Raw)
		conn.Close()
		return nil, false, fmt.Errorf("reaper lock: pg_try_advisory_lock: %w", err)
	}
	if !got {
		conn.Close()
		return nil, false, nil
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		var released bool
		err := conn.QueryRowContext(uctx, `SELECT pg_advisory_unlock($1)`, AdvisoryLockKey).Scan(&released)
		if err != nil || !released {
			// Closing the session is the other way to release it.
			r.log.Warn("could not release the reaper lock, dropping its connection", "error", err, "released", released)
			discard(conn.Raw)
		}
		conn.Close()
	}, true, nil
}

// discard makes database/sql close a connection instead of pooling it.
func discard(raw func(func(any) error) error) {
	_ = raw(func(any) error { return driver.ErrBadConn })
}
