// Package stmtcache keeps the statements a backend prepares once on a pool
// and reuses, keyed by query text.
package stmtcache

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
)

// Cache maps query text to its prepared statement. The zero value is ready
// to use and holds any number of statements; it is safe for concurrent
// use.
type Cache struct {
	// Max, when positive, bounds the statements kept: once full, Get
	// returns a nil statement for a new query, which the caller runs
	// unprepared. For callers whose query texts vary with their input.
	Max int64

	m sync.Map // query text → *sqlx.Stmt
	n atomic.Int64
}

// Get returns q prepared on db, preparing it on first use; nil when the
// cache is full. database/sql prepares it again on each connection that
// runs it.
func (c *Cache) Get(ctx context.Context, db *sqlx.DB, q string) (*sqlx.Stmt, error) {
	if st := c.Lookup(q); st != nil {
		return st, nil
	}
	if c.Max > 0 && c.n.Load() >= c.Max {
		return nil, nil
	}
	st, err := db.PreparexContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.m.LoadOrStore(q, st); loaded {
		_ = st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	c.n.Add(1)
	return st, nil
}

// Lookup returns the statement of q if the cache holds it, else nil. It
// never prepares, so it is safe where preparing would wait for the
// caller's own connection (inside a transaction on SQLite's single
// writer).
func (c *Cache) Lookup(q string) *sqlx.Stmt {
	if st, ok := c.m.Load(q); ok {
		return st.(*sqlx.Stmt)
	}
	return nil
}

// Close closes and forgets every statement.
func (c *Cache) Close() {
	c.m.Range(func(q, st any) bool {
		_ = st.(*sqlx.Stmt).Close()
		c.m.Delete(q)
		c.n.Add(-1)
		return true
	})
}
