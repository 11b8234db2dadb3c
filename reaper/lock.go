package reaper

import (
	"context"
	"database/sql/driver"
	"fmt"
	"os"
	"time"

	"github.com/strata-dataspace/strata/datasource/postgres"
	"github.com/strata-dataspace/strata/datasource/sqlite"
)

// AdvisoryLockKey is the PostgreSQL advisory lock key a reaper holds for
// the length of a run, so that only one reaper works on a database at a
// time. It spells "strata.r".
const AdvisoryLockKey int64 = 0x7374726174612e72

// LockFileSuffix is appended to a SQLite database's path to name the file
// a reaper locks for the length of a run, so that only one reaper works on
// the file at a time, whichever process it runs in. The file stays; the
// lock goes with the process that held it.
const LockFileSuffix = ".reaper-lock"

// lock takes the database-wide reaper lock; ok is false when another
// reaper holds it. On PostgreSQL it is a session-level advisory lock on a
// connection of its own, released (or the connection discarded) by
// unlock. On a SQLite file it is an flock on the file beside it named
// LockFileSuffix (never on the database file itself: closing a second
// descriptor of that would drop SQLite's own locks). A private in-memory
// database needs none.
func (r *Reaper) lock(ctx context.Context) (unlock func(), ok bool, err error) {
	switch ds := r.space.DataSource().(type) {
	case *postgres.DataSource:
		return r.lockAdvisory(ctx, ds)
	case *sqlite.DataSource:
		var path string
		if err := ds.DB().QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
			return nil, false, fmt.Errorf("reaper lock: database file: %w", err)
		}
		if path == "" {
			return func() {}, true, nil
		}
		return lockFile(path + LockFileSuffix)
	}
	return func() {}, true, nil
}

// lockFile takes an exclusive flock on path, creating the file if needed.
func lockFile(path string) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("reaper lock: %w", err)
	}
	got, err := tryLock(f)
	if err != nil || !got {
		f.Close()
		if err != nil {
			return nil, false, fmt.Errorf("reaper lock %s: %w", path, err)
		}
		return nil, false, nil
	}
	return func() { f.Close() }, true, nil // closing releases the flock
}

// lockAdvisory takes the PostgreSQL advisory lock.
func (r *Reaper) lockAdvisory(ctx context.Context, pg *postgres.DataSource) (unlock func(), ok bool, err error) {
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
