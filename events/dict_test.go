package events

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datasource/postgres"
)

func TestDictCacheKeepsOnlyWhileListening(t *testing.T) {
	d := &dictCache{types: map[string][]string{}}
	reads := 0
	list := func() []string {
		t.Helper()
		v, err := cachedListing(d, d.types, "ns", func() ([]string, error) {
			reads++
			return []string{"a"}, nil
		})
		require.NoError(t, err)
		require.Equal(t, []string{"a"}, v)
		return v
	}

	list()
	list()
	require.Equal(t, 2, reads, "kept before the watch listens")

	d.notice(postgres.Notice{State: postgres.NoticeListening})
	list()
	list()[0] = "changed by the caller"
	list()
	require.Equal(t, 3, reads, "not kept while listening, or the caller's copy is the cache's")

	d.notice(postgres.Notice{State: postgres.NoticePayload, Payload: "ns"})
	list()
	require.Equal(t, 4, reads, "kept after a notification")

	d.drop()
	list()
	require.Equal(t, 5, reads, "kept after this process changed the dictionaries")

	// A read that overlaps a drop is not kept: it may predate the change.
	_, err := cachedListing(d, d.types, "other", func() ([]string, error) {
		reads++
		d.drop()
		return []string{"b"}, nil
	})
	require.NoError(t, err)
	_, err = cachedListing(d, d.types, "other", func() ([]string, error) { reads++; return []string{"b"}, nil })
	require.NoError(t, err)
	require.Equal(t, 7, reads, "a read that raced a drop was kept")

	d.notice(postgres.Notice{State: postgres.NoticeLost})
	list()
	list()
	require.Equal(t, 9, reads, "kept after the watch lost its connection")

	// Errors are not kept.
	d.notice(postgres.Notice{State: postgres.NoticeListening})
	_, err = cachedListing(d, d.types, "ns", func() ([]string, error) { return nil, errors.New("down") })
	require.Error(t, err)
	list()
	require.Equal(t, 10, reads)
}

// TestDictionariesAcrossProcesses checks that the dictionaries' listings
// of one process follow the writes of another (a second pool over the same
// database), at once for the writer's own listings.
func TestDictionariesAcrossProcesses(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		a, b := open(t, nil)
		other := openOn(t, b.url, &Config{Clock: b.clock.Now})

		// On PostgreSQL, each store's notices, from its first listing on.
		watch := func(s *Store) chan postgres.Notice {
			ch := make(chan postgres.Notice, 256)
			d := &s.index().dict
			d.mu.Lock()
			d.onNotice = func(n postgres.Notice) { ch <- n }
			d.mu.Unlock()
			s.dictionaries()
			return ch
		}
		await := func(ch chan postgres.Notice, want postgres.NoticeState) {
			t.Helper()
			if !a.pg {
				return
			}
			for {
				select {
				case n := <-ch:
					if n.State == want {
						return
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("no notice %d within 30s", want)
				}
			}
		}
		an, on := watch(a), watch(other)
		await(an, postgres.NoticeListening)
		await(on, postgres.NoticeListening)

		types := func(s *Store) []string {
			t.Helper()
			v, err := s.EventTypes(ctx)
			require.NoError(t, err)
			return v
		}
		traits := func(s *Store, typ string) []TraitInfo {
			t.Helper()
			v, err := s.TraitTypes(ctx, typ)
			require.NoError(t, err)
			return v
		}
		require.Empty(t, types(a))
		require.Empty(t, types(other))
		require.Empty(t, traits(a, "type.a"))
		require.Empty(t, traits(other, "type.a"))

		record(t, other, sample(2))
		require.Equal(t, []string{"type.a", "type.b"}, types(other), "the writer's own listing")
		require.Len(t, traits(other, "type.a"), 4)
		await(an, postgres.NoticePayload)
		require.Equal(t, []string{"type.a", "type.b"}, types(a), "the other process's listing")
		require.Len(t, traits(a, "type.a"), 4)

		if a.pg {
			// The listing is kept: a change that does not notify is
			// not seen until a notification comes.
			_, err := a.db.ExecContext(ctx, `INSERT INTO event_type (namespace, event_type) VALUES ($1, 'type.quiet')`, a.ns)
			require.NoError(t, err)
			require.Equal(t, []string{"type.a", "type.b"}, types(a))
			_, err = a.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, dictChannel, a.ns)
			require.NoError(t, err)
			await(an, postgres.NoticePayload)
			require.Equal(t, []string{"type.a", "type.b", "type.quiet"}, types(a))
		}

		// Deleting the last event of a type prunes it, for both.
		n, err := other.Delete(ctx, &Filter{EventType: "type.b"})
		require.NoError(t, err)
		require.Equal(t, int64(1), n)
		require.Equal(t, []string{"type.a"}, types(other))
		require.Empty(t, traits(other, "type.b"))
		await(an, postgres.NoticePayload)
		require.Equal(t, []string{"type.a"}, types(a))

		// Expiry prunes too.
		b.clock.Set(base.Add(100 * 24 * time.Hour))
		rows, _, err := other.Expire(ctx, b.clock.Now(), 0, false)
		require.NoError(t, err)
		require.Equal(t, int64(1), rows)
		require.Empty(t, types(other))
		await(an, postgres.NoticePayload)
		require.Empty(t, types(a))
		require.Empty(t, traits(a, "type.a"))
	})
}

// TestDictionaryRowsAfterDeletes checks that a type pruned by another
// process, or a dictionary row deleted by hand, is written again by the
// next batch that carries it, although the writer has seen it before (on
// SQLite a Record skips the rows it has seen while no dictionary row has
// been deleted since).
func TestDictionaryRowsAfterDeletes(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, b := open(t, nil)
		other := openOn(t, b.url, &Config{Clock: b.clock.Now})
		// What the tables hold, read past every cache.
		rows := func(table, typ string) (n int) {
			t.Helper()
			require.NoError(t, s.db.Get(&n, s.db.Rebind(`SELECT COUNT(*) FROM `+table+` WHERE event_type = ?`), typ))
			return n
		}
		batch := func(prefix string, typ string) []*Event {
			evs := sample(4)
			for i, e := range evs {
				e.MessageID, e.EventType = fmt.Sprintf("%s%d", prefix, i), typ
			}
			return evs
		}
		record(t, s, batch("a", "type.a"))
		record(t, s, batch("b", "type.b"))
		require.Equal(t, 1, rows("event_type", "type.a"))
		require.Equal(t, 4, rows("event_type_trait", "type.a"))

		// Another process deletes type.a's events, and prunes the type.
		n, err := other.Delete(ctx, &Filter{EventType: "type.a"})
		require.NoError(t, err)
		require.EqualValues(t, 4, n)
		require.Zero(t, rows("event_type", "type.a"))
		require.Zero(t, rows("event_type_trait", "type.a"))
		record(t, s, batch("c", "type.a"))
		require.Equal(t, 1, rows("event_type", "type.a"), "the pruned type is back")
		require.Equal(t, 4, rows("event_type_trait", "type.a"), "and its trait types")

		// A row deleted by hand is back too.
		_, err = s.db.Exec(s.db.Rebind(`DELETE FROM event_type_trait WHERE event_type = ? AND name = ?`), "type.b", "host")
		require.NoError(t, err)
		record(t, s, batch("d", "type.b"))
		require.Equal(t, 4, rows("event_type_trait", "type.b"))

		if s.pg {
			return
		}
		// The skip itself: behind the count's back (no trigger), a
		// deleted row the writer has seen is not written again.
		_, err = s.db.Exec(`DROP TRIGGER event_type_trait_deleted`)
		require.NoError(t, err)
		_, err = s.db.Exec(`DELETE FROM event_type_trait WHERE event_type = 'type.b' AND name = 'host'`)
		require.NoError(t, err)
		record(t, s, batch("e", "type.b"))
		require.Equal(t, 3, rows("event_type_trait", "type.b"), "seen rows are skipped")
	})
}
