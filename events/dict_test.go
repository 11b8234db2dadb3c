package events

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datasource/postgres"
	"github.com/strata-dataspace/strata/internal/pgtest"
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
			evs := sampleAs(prefix, 4)
			for _, e := range evs {
				e.EventType = typ
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

		// The skip itself: behind the count's back (no trigger), a
		// deleted row the writer has seen is not written again.
		_, err = s.db.Exec(`DROP TRIGGER event_type_trait_deleted` + map[bool]string{true: ` ON event_type_trait`}[s.pg])
		require.NoError(t, err)
		_, err = s.db.Exec(`DELETE FROM event_type_trait WHERE event_type = 'type.b' AND name = 'host'`)
		require.NoError(t, err)
		record(t, s, batch("e", "type.b"))
		require.Equal(t, 3, rows("event_type_trait", "type.b"), "seen rows are skipped")
	})
}

// On PostgreSQL, a Record that meets a prune in progress waits for it, then
// writes the rows it deleted, though it had seen them.
func TestDictionaryRowsDuringAPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, other := openOn(t, url, nil), openOn(t, url, nil)
	evs := sample(4)
	record(t, s, evs)
	typ := evs[0].EventType
	traits := func() (n int) {
		t.Helper()
		require.NoError(t, s.db.Get(&n, `SELECT COUNT(*) FROM event_type_trait WHERE event_type = $1`, typ))
		return n
	}
	want := traits()
	require.Positive(t, want)

	// A prune, as another process runs it: the dictionary lock taken,
	// then a deletion, not yet committed.
	tx, err := other.db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.Exec(`SELECT strata_event_dict_lock()`)
	require.NoError(t, err)
	_, err = tx.Exec(`DELETE FROM event_type_trait WHERE event_type = $1 AND name = 'host'`, typ)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := s.Record(ctx, sampleAs("again-", 4))
		done <- err
	}()
	waitForLockWaiter(t, s.db)
	require.NoError(t, tx.Commit())
	require.NoError(t, <-done)
	require.Equal(t, want, traits(), "the Record wrote the row the prune deleted")
}

// On PostgreSQL, a prune that meets a Record in progress waits for it, and
// keeps the type of the Record's events, though they were its only ones.
func TestPruneDuringARecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, other := openOn(t, url, nil), openOn(t, url, nil)
	evs := sample(2)
	record(t, s, evs[:1])
	typ := evs[0].EventType

	// A Record of another event of the type, held before its commit. It
	// skips the type's rows: it has seen them.
	entered, release := make(chan struct{}), make(chan struct{})
	s.beforeRecordCommit = func() {
		close(entered)
		<-release
	}
	recorded := make(chan error, 1)
	go func() {
		_, err := s.Record(ctx, []*Event{{MessageID: "later", EventType: typ, Generated: evs[0].Generated, Traits: evs[0].Traits}})
		recorded <- err
	}()
	<-entered
	// Another process deletes the type's committed event, then prunes.
	deleted := make(chan error, 1)
	go func() {
		_, err := other.Delete(ctx, &Filter{MessageID: evs[0].MessageID})
		deleted <- err
	}()
	waitForLockWaiter(t, s.db)
	close(release)
	require.NoError(t, <-recorded)
	require.NoError(t, <-deleted)

	var types int
	require.NoError(t, s.db.Get(&types, `SELECT COUNT(*) FROM event_type WHERE event_type = $1`, typ))
	require.Equal(t, 1, types, "the type of the event recorded during the prune is kept")
	got, err := s.EventTypes(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{typ}, got)
}

// waitForLockWaiter returns once a session of db's database waits for a
// lock another holds. It polls the server, which has no other way to say.
func waitForLockWaiter(t *testing.T, db *sqlx.DB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`))
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no session waited for the lock within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// On PostgreSQL, deletes applied with session_replication_role = replica,
// as a logical replication subscriber or pg_restore applies them, move
// the counts of deletions all the same.
func TestCountsMoveUnderReplicationRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openOnPostgres(t, nil)
	record(t, s, sample(4))
	before := deletionCounts(t, s)
	tx, err := s.db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	for _, stmt := range []string{
		`SET LOCAL session_replication_role = replica`,
		`DELETE FROM event WHERE message_id = 'm000'`,
		`DELETE FROM event_type_trait WHERE name = 'host'`,
	} {
		_, err := tx.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, tx.Commit())
	after := deletionCounts(t, s)
	require.Greater(t, after[0], before[0], "event deletions counted")
	require.Greater(t, after[1], before[1], "dictionary deletions counted")
}

// TestBatchDictionariesSorted checks that a batch's dictionary rows come
// sorted, so that concurrent Records insert shared rows in one order.
func TestBatchDictionariesSorted(t *testing.T) {
	ev := func(typ string, traits ...Trait) *pending {
		return &pending{ev: &Event{EventType: typ, Traits: traits}}
	}
	types, tt := batchDictionaries([]*pending{
		ev("b", Trait{Name: "z", Type: TypeString}, Trait{Name: "y", Type: TypeInteger}),
		ev("a", Trait{Name: "z", Type: TypeFloat}, Trait{Name: "z", Type: TypeString}),
		ev("b", Trait{Name: "y", Type: TypeInteger}),
	})
	require.Equal(t, []string{"a", "b"}, types)
	require.Equal(t, []traitTypeRow{{"a", "z", TypeString}, {"a", "z", TypeFloat}, {"b", "y", TypeInteger}, {"b", "z", TypeString}}, tt)
}
