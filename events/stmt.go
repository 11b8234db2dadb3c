package events

import (
	"context"
	"database/sql"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource/stmtcache"
)

// Read statements are prepared once per database and reused: parsing and
// planning cost more than running a query that reads one page of events.
// The cache is per *sqlx.DB (every Store over the same datasource shares
// it) and holds at most stmtCacheMax statements, since query texts vary
// with the filters; queries beyond that run unprepared. It is closed and
// released when the datasource closes, as is the index state (index.go).

const stmtCacheMax = 512

var stmtCaches sync.Map // *sqlx.DB → *stmtcache.Cache

func (s *Store) stmtCache() *stmtcache.Cache {
	c, ok := stmtCaches.Load(s.db)
	if !ok {
		mine := &stmtcache.Cache{Max: stmtCacheMax}
		var loaded bool
		if c, loaded = stmtCaches.LoadOrStore(s.db, mine); !loaded {
			db := s.db
			s.closer.OnClose(func() {
				stmtCaches.CompareAndDelete(db, mine)
				mine.Close()
			})
		}
	}
	return c.(*stmtcache.Cache)
}

// stmt returns the prepared statement of query (already rebound), or nil
// when the cache is full.
func (s *Store) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	return s.stmtCache().Get(ctx, s.db, query)
}

// cachedStmt returns the prepared statement of query (already rebound) if
// the cache holds it, else nil; it never prepares, so it is safe inside a
// transaction on SQLite's single writer connection.
func (s *Store) cachedStmt(query string) *sqlx.Stmt { return s.stmtCache().Lookup(query) }

// selectRead runs a many-row read through the statement cache.
func (s *Store) selectRead(ctx context.Context, dst any, query string, args ...any) error {
	query = s.db.Rebind(query)
	st, err := s.stmt(ctx, query)
	if err != nil {
		return err
	}
	if st == nil {
		return s.db.SelectContext(ctx, dst, query, args...)
	}
	return st.SelectContext(ctx, dst, args...)
}

// queryRows runs a read through the statement cache, for callers that
// scan its rows by hand.
func (s *Store) queryRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = s.db.Rebind(query)
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.db.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// getRead runs a one-row read through the statement cache.
func (s *Store) getRead(ctx context.Context, dst any, query string, args ...any) error {
	query = s.db.Rebind(query)
	st, err := s.stmt(ctx, query)
	if err != nil {
		return err
	}
	if st == nil {
		return s.db.GetContext(ctx, dst, query, args...)
	}
	return st.GetContext(ctx, dst, args...)
}
