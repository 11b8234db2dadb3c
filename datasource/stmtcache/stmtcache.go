// Package stmtcache keeps the statements a backend prepares once on a pool
// and reuses, keyed by query text.
package stmtcache

import (
	"context"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Cache maps query text to its prepared statement. The zero value is ready
// to use; it is safe for concurrent use.
type Cache struct{ m sync.Map }

// Get returns q prepared on db, preparing it on first use. database/sql
// prepares it again on each connection that runs it.
func (c *Cache) Get(ctx context.Context, db *sqlx.DB, q string) (*sqlx.Stmt, error) {
	if st, ok := c.m.Load(q); ok {
		return st.(*sqlx.Stmt), nil
	}
	st, err := db.PreparexContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.m.LoadOrStore(q, st); loaded {
		_ = st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

// Close closes and forgets every statement.
func (c *Cache) Close() {
	c.m.Range(func(q, st any) bool {
		_ = st.(*sqlx.Stmt).Close()
		c.m.Delete(q)
		return true
	})
}
