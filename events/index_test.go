package events

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

func TestRunCodec(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ     TraitType
		entries []entry
	}{
		{TypeString, []entry{{s: "b", gen: 5, id: 1}, {s: "a", gen: 9, id: 2}, {s: "b", gen: 3, id: 3}, {s: "", gen: -4, id: 7}}},
		{TypeInteger, []entry{{n: 7, gen: 1, id: 10}, {n: -3, gen: 2, id: 11}, {n: 7, gen: 0, id: 12}}},
		{TypeFloat, []entry{{f: 2.5, gen: 1, id: 4}, {f: -1e300, gen: 2, id: 5}}},
		{TypeDatetime, []entry{{n: base.UnixMicro(), gen: 1, id: 20}, {n: 0, gen: 1, id: 19}}},
	}
	for _, c := range cases {
		t.Run(c.typ.String(), func(t *testing.T) {
			want := slices.Clone(c.entries)
			slices.SortFunc(want, compareEntries(c.typ))
			data := encodeRun(c.typ, want)
			r, err := decodeRun(42, data)
			require.NoError(t, err)
			var got []entry
			for i := range r.len() {
				got = append(got, r.entry(i))
			}
			require.Equal(t, want, got, "sorted by (value, generated, id)")
			built := buildRun(42, "x", c.typ, want, 0)
			require.Equal(t, r, built.run(), "a run cached as written is the run read back")
			var lists [][]entry
			for _, e := range slices.Backward(want) {
				lists = append(lists, []entry{e})
			}
			require.Equal(t, want, mergeSorted(lists, compareEntries(c.typ)))
			for i, e := range want {
				pos, ok := r.find(e.id)
				require.True(t, ok)
				require.Equal(t, i, pos)
			}
			_, ok := r.find(1000)
			require.False(t, ok)
			// Every truncation and a wrong version is an error, never a
			// panic or a wrong run.
			for n := range len(data) {
				_, err := decodeRun(42, data[:n])
				require.ErrorIs(t, err, datablock.ErrCodec, "truncated to %d bytes", n)
			}
			bad := slices.Clone(data)
			bad[0] = 9
			_, err = decodeRun(42, bad)
			require.ErrorIs(t, err, datablock.ErrCodec)
			_, err = decodeRun(42, append(slices.Clone(data), 0))
			require.ErrorIs(t, err, datablock.ErrCodec, "trailing bytes")
		})
	}
}

// runCount returns how many runs the store's namespace has for trait name.
func runCount(t *testing.T, s *Store, name string) (runs, entries int) {
	t.Helper()
	require.NoError(t, s.db.QueryRow(s.db.Rebind(`SELECT COUNT(*), COALESCE(SUM(entries), 0) FROM event_trait_run WHERE namespace = ? AND name = ?`), s.ns, name).Scan(&runs, &entries))
	return runs, entries
}

// batches records n batches of size events, with message ids prefix%04d
// and the traits of sample.
func batches(t *testing.T, s *Store, prefix string, n, size int) []*Event {
	t.Helper()
	var all []*Event
	for b := range n {
		evs := sample(size)
		for i, e := range evs {
			k := b*size + i
			e.MessageID = fmt.Sprintf("%s%04d", prefix, k)
			e.Generated = base.Add(time.Duration(k) * time.Second)
			e.Traits[0].Value = fmt.Sprintf("host%d", k%7)
			e.Traits[1].Value = int64(k)
		}
		record(t, s, evs)
		// Each merge ends before the next batch, as if they ran in line.
		waitMerges(s)
		all = append(all, evs...)
	}
	return all
}

// waitMerges returns once s's namespace has no background merge running.
func waitMerges(s *Store) { s.index().merges.wait(context.Background(), s.ns) }

// TestTraitIndexMerges checks that runs merge in tiers as batches come,
// that a run about to become final drops the entries of deleted events,
// and that queries give the same answers throughout.
func TestTraitIndexMerges(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, _ := open(t, nil)
		s.runFinal = 200
		check := func(live []*Event) {
			t.Helper()
			live = slices.Clone(live)
			slices.SortFunc(live, func(a, b *Event) int {
				if c := a.Generated.Compare(b.Generated); c != 0 {
					return c
				}
				return strings.Compare(a.MessageID, b.MessageID)
			})
			want := []string{}
			for _, e := range live {
				if e.Traits[0].Value == "host3" && e.Traits[1].Value.(int64) >= 40 {
					want = append(want, e.MessageID)
				}
			}
			got, err := s.Query(ctx, &Query{Limit: 1000, Filter: Filter{Traits: []TraitFilter{
				{Name: "host", Value: "host3"}, {Name: "count", Op: OpGe, Type: TypeInteger, Value: int64(40)}}}})
			require.NoError(t, err)
			require.Equal(t, want, ids(got))
			desc, err := s.Query(ctx, &Query{Limit: 1000, Sort: []SortKey{{Field: FieldMessageID, Desc: true}}, Filter: Filter{Traits: []TraitFilter{
				{Name: "host", Value: "host3"}, {Name: "count", Op: OpGe, Type: TypeInteger, Value: int64(40)}}}})
			require.NoError(t, err)
			slices.Sort(want)
			slices.Reverse(want)
			require.Equal(t, want, ids(desc))
		}
		all := batches(t, s, "a", 24, 10)
		runs, entries := runCount(t, s, "host")
		require.Equal(t, 240, entries, "every event once")
		// 24 runs of 10: 16 merged into 2 of 80, then those 2 and 8 left.
		require.Less(t, runs, 24, "runs of one tier are merged")
		check(all)

		// Delete every third event; the merge that makes a run final
		// drops their entries.
		var kept []*Event
		for i, e := range all {
			if i%3 == 0 {
				_, err := s.Delete(ctx, &Filter{MessageID: e.MessageID})
				require.NoError(t, err)
				continue
			}
			kept = append(kept, e)
		}
		check(kept)
		kept = append(kept, batches(t, s, "b", 48, 10)...)
		check(kept)
		var finals, live int
		require.NoError(t, s.db.QueryRow(s.db.Rebind(`SELECT COUNT(*) FROM event_trait_run WHERE namespace = ? AND name = ? AND entries >= ?`), s.ns, "host", 200).Scan(&finals))
		require.Positive(t, finals, "runs reach the final size")
		_, entries = runCount(t, s, "host")
		require.NoError(t, s.db.QueryRow(`SELECT COUNT(*) FROM event`).Scan(&live))
		require.Less(t, entries, 240+480, "a final merge drops deleted events' entries")
		require.GreaterOrEqual(t, entries, live, "every live event keeps its entry")
	})
}

// TestEventIDsNotReused checks that an event recorded after the newest
// ones were deleted does not take their ids: the index still names them.
func TestEventIDsNotReused(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, _ := open(t, nil)
		record(t, s, sample(10))
		n, err := s.Delete(ctx, &Filter{Traits: []TraitFilter{{Name: "count", Op: OpGe, Type: TypeInteger, Value: int64(5)}}})
		require.NoError(t, err)
		require.EqualValues(t, 5, n)
		evs := sample(10)[5:]
		for _, e := range evs {
			e.MessageID = "new-" + e.MessageID
			e.Traits[1].Value = int64(100)
		}
		record(t, s, evs)
		got, err := s.Query(ctx, &Query{Filter: Filter{Traits: []TraitFilter{{Name: "count", Op: OpGe, Type: TypeInteger, Value: int64(5)}}}})
		require.NoError(t, err)
		require.Equal(t, []string{"new-m005", "new-m006", "new-m007", "new-m008", "new-m009"}, ids(got))
		got, err = s.Query(ctx, &Query{Filter: Filter{Traits: []TraitFilter{{Name: "count", Op: OpLt, Type: TypeInteger, Value: int64(100)}}}})
		require.NoError(t, err)
		require.Equal(t, []string{"m000", "m001", "m002", "m003", "m004"}, ids(got), "the deleted events' entries name no new event")
	})
}

// TestUpgradeFromTraitRows checks that a database upgraded from schema
// version 2, whose trait index is one row per trait, has those rows moved
// into runs when the store opens.
func TestUpgradeFromTraitRows(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, b := open(t, nil)
		evs := sample(30)
		record(t, s, evs)
		// Turn the index back into version 2's rows.
		tx, err := s.db.Beginx()
		require.NoError(t, err)
		_, err = tx.Exec(`DELETE FROM event_trait_run`)
		require.NoError(t, err)
		for _, e := range evs {
			for _, tr := range e.Traits {
				vs, vi, vf := v2TraitColumns(tr)
				_, err := tx.Exec(tx.Rebind(`INSERT INTO event_trait (event_id, name, generated, type, v_string, v_int, v_float)
					SELECT id, ?, generated, ?, ?, ?, ? FROM event WHERE message_id = ?`), tr.Name, int64(tr.Type), vs, vi, vf, e.MessageID)
				require.NoError(t, err)
			}
		}
		require.NoError(t, tx.Commit())
		s.index().upgraded.Store(false)

		s2, err := Open(ctx, b.space, &Config{Clock: b.clock.Now})
		require.NoError(t, err)
		var left int
		require.NoError(t, s.db.Get(&left, `SELECT COUNT(*) FROM event_trait`))
		require.Zero(t, left, "the version-2 rows are moved")
		runs, entries := runCount(t, s2, "seen")
		require.Positive(t, runs)
		require.Equal(t, 30, entries)
		got, err := s2.Query(ctx, &Query{Filter: Filter{Traits: []TraitFilter{
			{Name: "host", Value: "host1"},
			{Name: "seen", Op: OpGe, Type: TypeDatetime, Value: base.Add(20 * time.Hour)},
			{Name: "load", Op: OpLt, Type: TypeFloat, Value: 7.0},
		}}})
		require.NoError(t, err)
		require.Equal(t, []string{"m022", "m025"}, ids(got))
		vals, err := s2.TraitValues(ctx, "type.a", "host", 0)
		require.NoError(t, err)
		require.Len(t, vals, 3)
	})
}

// TestBackgroundMerges checks that a Record does not wait for the merge
// its batch made due, that the Record which reaches runBacklog batches
// waits for it, and that closing the datasource stops a running merge,
// which changes nothing.
func TestBackgroundMerges(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, b := open(t, nil)
		started, release := make(chan struct{}, 1), make(chan struct{})
		canceled := make(chan struct{})
		s.beforeMerge = func(ctx context.Context) {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				close(canceled)
			}
		}
		waited := make(chan struct{}, 1)
		s.beforeMergeWait = func() { waited <- struct{}{} }
		record := func(k int) []*Event {
			evs := sample(10)
			for i, e := range evs {
				e.MessageID = fmt.Sprintf("b%04d", k*10+i)
				e.Traits[0].Value = fmt.Sprintf("host%d", (k*10+i)%7)
			}
			res, err := s.Record(ctx, evs)
			require.NoError(t, err)
			require.Equal(t, len(evs), res.Stored)
			return evs
		}
		var all []*Event
		for k := range runFanout {
			all = append(all, record(k)...)
		}
		<-started // the merge is held, yet Records go on
		for k := runFanout; k < runBacklog-1; k++ {
			all = append(all, record(k)...)
		}
		require.Empty(t, waited, "no Record waited below the backlog")
		runs, _ := runCount(t, s, "host")
		require.Equal(t, runBacklog-1, runs, "the held merge has changed nothing")

		// The batch that reaches the backlog waits for the merge.
		done := make(chan []*Event)
		go func() { done <- record(runBacklog - 1) }()
		<-waited
		close(release)
		all = append(all, <-done...)
		waitMerges(s)
		<-started // the merge the last batch started
		waitMerges(s)
		runs, entries := runCount(t, s, "host")
		require.Equal(t, len(all), entries, "every event's entry once")
		require.Less(t, runs, runFanout, "the runs were merged")
		n, err := s.Count(ctx, &Filter{Traits: []TraitFilter{{Name: "host", Value: "host3"}}})
		require.NoError(t, err)
		var want int64
		for _, e := range all {
			if e.Traits[0].Value == "host3" {
				want++
			}
		}
		require.Equal(t, want, n)

		// Closing stops a held merge; it changes nothing.
		release = make(chan struct{})
		for k := runBacklog; k < runBacklog+runFanout; k++ {
			record(k)
		}
		<-started
		before, _ := runCount(t, s, "host")
		require.NoError(t, b.space.Close())
		<-canceled
		after, _ := runCount(t, openOn(t, b.url, nil), "host")
		require.Equal(t, before, after, "the stopped merge changed nothing")
	})
}

// TestMergeOfVanishedRun checks that a merge whose runs another process
// merged or dropped first changes nothing.
func TestMergeOfVanishedRun(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, _ := open(t, nil)
		batches(t, s, "a", 3, 5)
		var metas []runMeta
		require.NoError(t, s.db.Select(&metas, s.db.Rebind(`SELECT `+runMetaColumns+` FROM event_trait_run WHERE name = ? ORDER BY id`), "host"))
		require.Len(t, metas, 3)
		gone := metas[2]
		gone.ID = 1 << 40
		err := s.merge(ctx, [][]runMeta{{metas[0], metas[1], gone}})
		require.ErrorIs(t, err, errMerged)
		runs, entries := runCount(t, s, "host")
		require.Equal(t, 3, runs)
		require.Equal(t, 15, entries)
	})
}

// TestCheckOverlappingRuns checks that a candidate's trait is found in
// whichever run holds it when runs' id ranges overlap (concurrent writers
// on PostgreSQL take ids from one sequence).
func TestCheckOverlappingRuns(t *testing.T) {
	t.Parallel()
	mk := func(id int64, es ...entry) *run {
		slices.SortFunc(es, compareEntries(TypeInteger))
		nr := buildRun(id, "n", TypeInteger, es, 0)
		return nr.run()
	}
	runs := []*run{
		mk(3, entry{n: 30, id: 30}),
		mk(1, entry{n: 1, id: 1}, entry{n: 50, id: 50}),
		mk(2, entry{n: 10, id: 10}, entry{n: 20, id: 20}),
	}
	c := newCheck(&traitFilter{name: "n", typ: TypeInteger, op: OpGe, n: 0}, runs)
	for _, id := range []int64{1, 10, 20, 30, 50} {
		require.True(t, c.ok(id), "event %d", id)
	}
	for _, id := range []int64{0, 5, 25, 40, 60} {
		require.False(t, c.ok(id), "event %d has no entry", id)
	}
}

// TestConcurrentWritersMerge checks that writers in separate pools (as
// separate processes are) recording into one namespace at once, each
// merging runs after its batches, lose and duplicate no index entry.
func TestConcurrentWritersMerge(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		first, b := open(t, nil)
		const writers, rounds, size = 3, 12, 10
		stores := []*Store{first}
		for range writers - 1 {
			stores = append(stores, openOn(t, b.url, &Config{Clock: b.clock.Now}))
		}
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for w, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					evs := sample(size)
					for i, e := range evs {
						e.MessageID = fmt.Sprintf("w%d-%02d-%02d", w, r, i)
						e.Traits[0].Value = fmt.Sprintf("w%d", w)
					}
					if _, err := s.Record(ctx, evs); err != nil {
						errs[w] = err
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		for _, s := range stores {
			waitMerges(s)
		}
		for _, s := range stores {
			require.NoError(t, s.compact(ctx))
		}
		runs, entries := runCount(t, first, "host")
		require.Equal(t, writers*rounds*size, entries, "every event's entry once")
		require.Less(t, runs, writers*rounds, "the runs were merged")
		for w := range writers {
			n, err := first.Count(ctx, &Filter{Traits: []TraitFilter{{Name: "host", Value: fmt.Sprintf("w%d", w)}}})
			require.NoError(t, err)
			require.EqualValues(t, rounds*size, n, "writer %d", w)
		}
	})
}

// TestTraitPagesInChunks checks pages whose candidates are read in
// chunks. Events share their generated time in tens, with message_ids
// descending within each ten, so a chunk that ended inside a ten would
// miss the ten's first events by message_id; with a type filter that keeps
// one event in ten, a page needs several chunks. Paging with the marker,
// ascending and descending, returns every match once, in order.
func TestTraitPagesInChunks(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, _ := open(t, nil)
		var all []*Event
		for b := range 6 {
			evs := sample(50)
			for i, e := range evs {
				k := b*50 + i
				e.MessageID = fmt.Sprintf("m%03d", 299-k)
				e.Generated = base.Add(time.Duration(k/10) * time.Minute)
				e.EventType = fmt.Sprintf("type.%d", k%10)
				e.Traits[0].Value = "same"
			}
			record(t, s, evs)
			all = append(all, evs...)
		}
		slices.SortFunc(all, func(a, b *Event) int {
			if c := a.Generated.Compare(b.Generated); c != 0 {
				return c
			}
			return strings.Compare(a.MessageID, b.MessageID)
		})
		for _, eventType := range []string{"", "type.4"} {
			var want []string
			for _, e := range all {
				if eventType == "" || e.EventType == eventType {
					want = append(want, e.MessageID)
				}
			}
			for _, desc := range []bool{false, true} {
				exp := slices.Clone(want)
				var sort []SortKey
				if desc {
					slices.Reverse(exp)
					sort = []SortKey{{Field: FieldGenerated, Desc: true}, {Field: FieldMessageID, Desc: true}}
				}
				var got []string
				marker := ""
				for range 100 {
					page, err := s.Query(ctx, &Query{Limit: 4, Sort: sort, Marker: marker,
						Filter: Filter{EventType: eventType, Traits: []TraitFilter{{Name: "host", Value: "same"}}}})
					require.NoError(t, err)
					if len(page) == 0 {
						break
					}
					got = append(got, ids(page)...)
					marker = page[len(page)-1].MessageID
				}
				require.Equal(t, exp, got, "type %q, desc %v", eventType, desc)
			}
		}
	})
}

// TestPositionsByID checks the order a decoded run finds its events in:
// every position once, in ascending id order, whatever the shape of the
// ids (ascending per value, random, repeated, descending).
func TestPositionsByID(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	perValue := func(n, values int) []int64 {
		var es []entry
		for i := range n {
			es = append(es, entry{n: int64(r.IntN(values)), id: int64(i*3 + r.IntN(3))})
		}
		slices.SortFunc(es, compareEntries(TypeInteger))
		ids := make([]int64, n)
		for i, e := range es {
			ids[i] = e.id
		}
		return ids
	}
	random := make([]int64, 1000)
	for i := range random {
		random[i] = r.Int64N(500)
	}
	desc := make([]int64, 100)
	for i := range desc {
		desc[i] = int64(100 - i)
	}
	sparse := make([]int64, 300)
	for i := range sparse {
		sparse[i] = r.Int64N(1 << 40)
	}
	for name, ids := range map[string][]int64{
		"One": {42}, "Two": {9, 3}, "Sorted": {1, 2, 3, 4}, "Descending": desc,
		"PerValue": perValue(5000, 100), "FewValues": perValue(777, 3), "Random": random, "Sparse": sparse,
	} {
		t.Run(name, func(t *testing.T) {
			pos := positionsByID(ids)
			require.Len(t, pos, len(ids))
			seen := make([]bool, len(ids))
			for i, p := range pos {
				require.False(t, seen[p], "position %d twice", p)
				seen[p] = true
				if i > 0 {
					require.LessOrEqual(t, ids[pos[i-1]], ids[p], "at %d", i)
				}
			}
		})
	}
	require.Equal(t, []int32{1, 3, 0, 2}, positionsByID([]int64{5, 3, 5, 3}), "equal ids keep their order")
	require.Equal(t, []int32{1, 3, 0, 2}, positionsByID([]int64{1 << 50, 3, 1 << 50, 3}), "also when sorted")
	require.Empty(t, positionsByID(nil))
}

// TestIDBlocks checks that on PostgreSQL a process numbers the events of
// its batches from a block of the id sequence it took alone, one batch
// after another, and that another process takes another block.
func TestIDBlocks(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	a, b := openOn(t, url, nil), openOn(t, url, nil)
	ids := func(prefix string) []int64 {
		t.Helper()
		var out []int64
		require.NoError(t, a.db.Select(&out, `SELECT id FROM event WHERE message_id LIKE $1 ORDER BY id`, prefix+"%"))
		require.Len(t, out, 10)
		return out
	}
	record(t, a, sampleAs("a1-", 10))
	record(t, b, sampleAs("b1-", 10))
	record(t, a, sampleAs("a2-", 10))
	a1, b1, a2 := ids("a1-"), ids("b1-"), ids("a2-")
	require.Equal(t, a1[9]+1, a2[0], "a's second batch follows its first in its block")
	require.Equal(t, a1[0]+9, a1[9], "a batch's ids are consecutive")
	require.GreaterOrEqual(t, max(a1[0], b1[0])-min(a1[0], b1[0]), int64(1024), "b took another block")

	var step int64
	require.NoError(t, a.db.Get(&step, `SELECT seqincrement FROM pg_sequence WHERE seqrelid = 'event_id_seq'::regclass`))
	require.EqualValues(t, 1024, step)

	// Past the end of a block, a process takes the next one.
	for i := range 110 {
		record(t, a, sampleAs(fmt.Sprintf("x%03d-", i), 10))
	}
	var n, distinct int
	require.NoError(t, a.db.Get(&n, `SELECT COUNT(*) FROM event`))
	require.NoError(t, a.db.Get(&distinct, `SELECT COUNT(DISTINCT id) FROM event`))
	require.Equal(t, 10*113, n)
	require.Equal(t, n, distinct)

	// Two processes taking ids in turn never get the same one.
	var p, q idBlocks
	seen := map[int64]bool{}
	for range 3 {
		for _, blocks := range []*idBlocks{&p, &q} {
			got, err := blocks.take(context.Background(), a.db, "event_id_seq", 700)
			require.NoError(t, err)
			require.Len(t, got, 700)
			for _, id := range got {
				require.False(t, seen[id], "id %d handed out twice", id)
				seen[id] = true
			}
		}
	}
}

// BenchmarkBatchRuns measures building the trait index runs of a batch of
// 100 events of 8 traits, as a Record does.
func BenchmarkBatchRuns(b *testing.B) {
	evs := sample(100)
	for _, e := range evs {
		e.Traits = append(e.Traits,
			Trait{Name: "user", Type: TypeString, Value: "u" + e.MessageID},
			Trait{Name: "state", Type: TypeString, Value: e.EventType},
			Trait{Name: "memory_mb", Type: TypeInteger, Value: int64(len(e.MessageID) * 512)},
			Trait{Name: "disk_gb", Type: TypeFloat, Value: 2.5})
	}
	kept := make([]*pending, len(evs))
	for i, e := range evs {
		e.Expires = e.Generated.Add(time.Hour)
		kept[i] = &pending{ev: e, id: int64(i + 1)}
	}
	ids := make([]int64, countRuns(kept))
	b.ReportAllocs()
	for b.Loop() {
		if runs := batchRuns(kept, ids); len(runs) != 8 {
			b.Fatalf("%d runs", len(runs))
		}
	}
}

// TestRunBuilderKeys checks that the run builder groups entries by trait
// name and type, in the order keys first appear, both while it compares
// keys and once it has switched to a map (past runBuilderScan keys).
func TestRunBuilderKeys(t *testing.T) {
	for _, keys := range []int{3, runBuilderScan, 3 * runBuilderScan} {
		var b runBuilder
		want := map[runKey][]int64{}
		wantExp := map[runKey]int64{}
		var order []runKey
		for id := range int64(10 * keys) {
			// Two types per name, so that a key is its name and its type.
			k := runKey{fmt.Sprintf("n%d", id%int64(keys)/2), TraitType(1 + id%2)}
			if _, ok := want[k]; !ok {
				order = append(order, k)
			}
			want[k] = append(want[k], id)
			wantExp[k] = max(wantExp[k], 1000-id)
			b.add(k, entry{n: id, gen: id, id: id}, 1000-id)
		}
		runs := b.build(make([]int64, len(b.keys)))
		require.Equal(t, order, b.keys, "%d keys", keys)
		require.Len(t, runs, len(order))
		for i, r := range runs {
			k := order[i]
			require.Equal(t, k, runKey{r.name, r.typ})
			var got []int64
			for _, e := range r.entries {
				got = append(got, e.id)
			}
			require.Equal(t, want[k], got, "run %v of %d keys", k, keys)
			require.Equal(t, wantExp[k], r.maxExpires)
		}
		require.Equal(t, keys > runBuilderScan, b.byKey != nil, "%d keys", keys)
	}
}
