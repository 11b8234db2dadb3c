package events

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
)

// Read statements are prepared once per database and reused: parsing and
// planning cost more than running a query that reads one page of events.
// The cache is per *sqlx.DB (every Store over the same datasource shares
// it) and holds at most stmtCacheMax statements; queries beyond that run
// unprepared.

const stmtCacheMax = 512

type stmtCache struct {
	m sync.Map // query text → *sqlx.Stmt
	n atomic.Int64
}

var stmtCaches sync.Map // *sqlx.DB → *stmtCache

// stmt returns the prepared statement of query (already rebound), or nil
// when the cache is full.
func (s *Store) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	c, _ := stmtCaches.LoadOrStore(s.db, &stmtCache{})
	cache := c.(*stmtCache)
	if st, ok := cache.m.Load(query); ok {
		return st.(*sqlx.Stmt), nil
	}
	if cache.n.Load() >= stmtCacheMax {
		return nil, nil
	}
	st, err := s.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := cache.m.LoadOrStore(query, st); loaded {
		_ = st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	cache.n.Add(1)
	return st, nil
}

// cachedStmt returns the prepared statement of query (already rebound) if
// the cache holds it, else nil; it never prepares, so it is safe inside a
// transaction on SQLite's single writer connection.
func (s *Store) cachedStmt(query string) *sqlx.Stmt {
	c, ok := stmtCaches.Load(s.db)
	if !ok {
		return nil
	}
	if st, ok := c.(*stmtCache).m.Load(query); ok {
		return st.(*sqlx.Stmt)
	}
	return nil
}

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
