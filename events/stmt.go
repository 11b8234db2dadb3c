package events

import (
	"context"
	"database/sql"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource/stmtcache"
)

// Reads run on the readers' pool: on SQLite, connections of their own
// beside the one writer, so that reads do not wait for writes. Writes and
// transactions run on the writer's pool. Statements are prepared once per
// pool and reused: parsing and planning cost more than running a query
// that reads one page of events. A pool's cache is shared by every Store
// over it and holds at most stmtCacheMax statements, since query texts
// vary with the filters; queries beyond that run unprepared. It is closed
// and released when the datasource closes, as is the index state
// (index.go).

const stmtCacheMax = 512

var stmtCaches sync.Map // *sqlx.DB → *stmtcache.Cache

func stmtCacheOf(db *sqlx.DB, closer interface{ OnClose(func()) }) *stmtcache.Cache {
	c, ok := stmtCaches.Load(db)
	if !ok {
		mine := &stmtcache.Cache{Max: stmtCacheMax}
		var loaded bool
		if c, loaded = stmtCaches.LoadOrStore(db, mine); !loaded {
			closer.OnClose(func() {
				stmtCaches.CompareAndDelete(db, mine)
				mine.Close()
			})
		}
	}
	return c.(*stmtcache.Cache)
}

// stmt returns the prepared statement of query (already rebound) on the
// writer's pool, or nil when the cache is full.
func (s *Store) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	return stmtCacheOf(s.db, s.closer).Get(ctx, s.db, query)
}

// cachedStmt returns the prepared statement of query (already rebound) if
// the cache holds it, else nil; it never prepares, so it is safe inside a
// transaction on SQLite's single writer connection.
func (s *Store) cachedStmt(query string) *sqlx.Stmt { return stmtCacheOf(s.db, s.closer).Lookup(query) }

// readStmt returns the prepared statement of query (already rebound) on
// the readers' pool, or nil when the cache is full.
func (s *Store) readStmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	return stmtCacheOf(s.rdb, s.closer).Get(ctx, s.rdb, query)
}

// selectRead runs a many-row read through the statement cache.
func (s *Store) selectRead(ctx context.Context, dst any, query string, args ...any) error {
	query = s.rdb.Rebind(query)
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return err
	}
	if st == nil {
		return s.rdb.SelectContext(ctx, dst, query, args...)
	}
	return st.SelectContext(ctx, dst, args...)
}

// queryRows runs a read through the statement cache, for callers that
// scan its rows by hand.
func (s *Store) queryRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = s.rdb.Rebind(query)
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.rdb.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// readIDs runs a read of one integer column through the statement cache
// and returns its values, scanned by hand: a page's ids are read on every
// query, and reflection cost more than their scan.
func (s *Store) readIDs(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := s.queryRows(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// getRead runs a one-row read through the statement cache.
func (s *Store) getRead(ctx context.Context, dst any, query string, args ...any) error {
	query = s.rdb.Rebind(query)
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return err
	}
	if st == nil {
		return s.rdb.GetContext(ctx, dst, query, args...)
	}
	return st.GetContext(ctx, dst, args...)
}
