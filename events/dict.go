package events

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource/postgres"
)

// dictChannel is the PostgreSQL notification channel of the dictionaries
// (event types and trait types): a transaction that adds or removes
// entries notifies it, with the namespace as payload, and every process's
// stores over the database drop their cached listings.
const dictChannel = "strata_event_dictionaries"

// dictCacheKeys caps the listings a dictCache keeps of each kind.
const dictCacheKeys = 4096

// dictCache keeps the EventTypes and TraitTypes listings of one
// PostgreSQL database, so that they cost no round trip. It keeps them only
// while its watch of dictChannel is listening (postgres.DataSource.Watch),
// and drops them all on every notice: every change to the dictionaries
// notifies the channel in its transaction, and the process that made it
// drops its own listings after the commit, so it reads its own writes.
// Another process's change is seen once its notification arrives,
// normally within milliseconds of its commit. On SQLite, and over a pool
// that cannot be watched, nothing is kept.
type dictCache struct {
	start sync.Once

	mu     sync.Mutex
	live   bool   // between a NoticeListening and the next NoticeLost
	gen    uint64 // counts the drops, so a read that raced one is not kept
	types  map[string][]string
	traits map[[2]string][]TraitInfo
	// onNotice, when set (by tests), sees each notice after it was
	// applied; it must not block.
	onNotice func(postgres.Notice)
}

func (d *dictCache) notice(n postgres.Notice) {
	d.mu.Lock()
	switch n.State {
	case postgres.NoticeListening:
		d.live = true
	case postgres.NoticeLost:
		d.live = false
	}
	d.dropLocked()
	hook := d.onNotice
	d.mu.Unlock()
	if hook != nil {
		hook(n)
	}
}

// drop forgets every listing (after this process changed a dictionary).
func (d *dictCache) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropLocked()
}

func (d *dictCache) dropLocked() {
	d.gen++
	clear(d.types)
	clear(d.traits)
}

// dictionaries returns the database's dictionary cache, watching the
// dictionaries' channel from the first call on.
func (s *Store) dictionaries() *dictCache {
	d := &s.index().dict
	d.start.Do(func() {
		d.types, d.traits = map[string][]string{}, map[[2]string][]TraitInfo{}
		if s.watcher != nil {
			// Without a watch (a caller's pool) nothing is cached.
			_ = s.watcher.Watch(dictChannel, d.notice)
		}
	})
	return d
}

// cachedListing returns m[key], or the listing read returns, which it
// keeps in m when no drop happened during the read. Callers get their own
// copy.
func cachedListing[K comparable, V any](d *dictCache, m map[K][]V, key K, read func() ([]V, error)) ([]V, error) {
	d.mu.Lock()
	if v, ok := m[key]; ok && d.live {
		d.mu.Unlock()
		return slices.Clone(v), nil
	}
	gen, live := d.gen, d.live
	d.mu.Unlock()
	v, err := read()
	if err != nil || !live {
		return v, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen == gen && d.live {
		if len(m) >= dictCacheKeys {
			clear(m)
		}
		m[key] = slices.Clone(v)
	}
	return v, nil
}

// dictionariesChanged tells the other processes over a PostgreSQL
// database, in tx, that ns's dictionaries changed (every namespace's when
// ns is empty), and drops this process's listings once tx has ended.
func (s *Store) dictionariesChanged(ctx context.Context, tx *sqlx.Tx, ns string) error {
	if !s.pg {
		return nil
	}
	s.index().afterTx(tx, s.dictionaries().drop)
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, dictChannel, ns); err != nil {
		return fmt.Errorf("notify the dictionaries' change: %w", err)
	}
	return nil
}

// EventTypes returns the namespace's event types, sorted; none is an
// empty list.
func (s *Store) EventTypes(ctx context.Context) ([]string, error) {
	d := s.dictionaries()
	return cachedListing(d, d.types, s.ns, func() ([]string, error) {
		out := []string{}
		if err := s.selectRead(ctx, &out, `SELECT event_type FROM event_type WHERE namespace = ? ORDER BY event_type`, s.ns); err != nil {
			return nil, fmt.Errorf("event types of namespace %q: %w", s.ns, err)
		}
		return out, nil
	})
}

// TraitInfo is a trait name and type seen in events of one type.
type TraitInfo struct {
	Name string    `json:"name" db:"name"`
	Type TraitType `json:"type" db:"type"`
}

// TraitTypes returns the trait names and types of an event type, sorted
// by name; an unknown type has an empty list.
func (s *Store) TraitTypes(ctx context.Context, eventType string) ([]TraitInfo, error) {
	d := s.dictionaries()
	return cachedListing(d, d.traits, [2]string{s.ns, eventType}, func() ([]TraitInfo, error) {
		out := []TraitInfo{}
		if err := s.selectRead(ctx, &out, `SELECT name, type FROM event_type_trait WHERE namespace = ? AND event_type = ? ORDER BY name, type`, s.ns, eventType); err != nil {
			return nil, fmt.Errorf("trait types of event type %q in namespace %q: %w", eventType, s.ns, err)
		}
		return out, nil
	})
}
