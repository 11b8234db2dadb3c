package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(recorderURLEnv); url != "" {
		os.Exit(recorder(url, os.Getenv(recorderDieEnv)))
	}
	pgtest.Main(m)
}

// base is the time the test events are generated around.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

type bundle struct {
	space *dataspace.DataSpace
	clock *testClock
	url   string
}

// openOn opens a store with cfg on the database at url, over a
// dataspace of its own (as another process would), closed when t ends.
func openOn(t *testing.T, url string, cfg *Config) *Store {
	t.Helper()
	ctx := context.Background()
	space, err := dataspace.Open(ctx, url, nil)
	require.NoError(t, err)
	t.Cleanup(func() { space.Close() })
	s, err := Open(ctx, space, cfg)
	require.NoError(t, err)
	return s
}

// backends runs fn once per backend with a factory of fresh stores.
func backends(t *testing.T, fn func(t *testing.T, open func(t *testing.T, cfg *Config) (*Store, *bundle))) {
	t.Helper()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			fn(t, func(t *testing.T, cfg *Config) (*Store, *bundle) {
				t.Helper()
				url := "sqlite://" + filepath.Join(t.TempDir(), "events.db")
				if backend == "postgres" {
					url = pgtest.NewDatabase(t)
				}
				ctx := context.Background()
				space, err := dataspace.Open(ctx, url, nil)
				require.NoError(t, err)
				t.Cleanup(func() { space.Close() })
				var c Config
				if cfg != nil {
					c = *cfg
				}
				clock := &testClock{now: base.Add(48 * time.Hour)}
				if c.Clock == nil {
					c.Clock = clock.Now
				}
				s, err := Open(ctx, space, &c)
				require.NoError(t, err)
				return s, &bundle{space: space, clock: clock, url: url}
			})
		})
	}
}

// sample returns n events of types a and b, one minute apart from base,
// with one trait of each type.
func sample(n int) []*Event {
	out := make([]*Event, n)
	for i := range n {
		typ := "type.a"
		if i%2 == 1 {
			typ = "type.b"
		}
		out[i] = &Event{
			MessageID: fmt.Sprintf("m%03d", i),
			EventType: typ,
			Generated: base.Add(time.Duration(i) * time.Minute),
			Traits: []Trait{
				{Name: "host", Type: TypeString, Value: fmt.Sprintf("host%d", i%3)},
				{Name: "count", Type: TypeInteger, Value: int64(i)},
				{Name: "load", Type: TypeFloat, Value: float64(i) / 4},
				{Name: "seen", Type: TypeDatetime, Value: base.Add(time.Duration(i) * time.Hour)},
			},
			Raw: json.RawMessage(fmt.Sprintf(`{"i": %d}`, i)),
		}
	}
	return out
}

// sampleAs returns sample(n) with message ids prefix0, prefix1, ….
func sampleAs(prefix string, n int) []*Event {
	evs := sample(n)
	for i, e := range evs {
		e.MessageID = fmt.Sprintf("%s%d", prefix, i)
	}
	return evs
}

func ids(evs []*Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.MessageID
	}
	return out
}

func record(t *testing.T, s *Store, evs []*Event) {
	t.Helper()
	res, err := s.Record(context.Background(), evs)
	require.NoError(t, err)
	require.Equal(t, len(evs), res.Stored, "%+v", res.Outcomes)
}

func TestRecord(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		t.Run("RoundTripsEveryTraitType", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			ctx := context.Background()
			evs := sample(3)
			record(t, s, evs)
			got, err := s.Get(ctx, "m002")
			require.NoError(t, err)
			require.Equal(t, "type.a", got.EventType)
			require.Equal(t, base.Add(2*time.Minute), got.Generated)
			require.Equal(t, base.Add(2*time.Minute+TTLDefault), got.Expires)
			require.Equal(t, "default", got.Source)
			require.Equal(t, evs[2].Traits, got.Traits)
			require.JSONEq(t, `{"i": 2}`, string(got.Raw))
			h := got.Header()
			require.Equal(t, got.Generated, h.CreateTime)
			require.Equal(t, got.Expires, h.ExpirationTime)
		})
		t.Run("CompressesLargeValues", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			big := fmt.Sprintf(`{"payload": %q}`, string(make([]byte, 0))+fmt.Sprintf("%01000d", 7))
			record(t, s, []*Event{{MessageID: "big", EventType: "t", Raw: json.RawMessage(big)}})
			var c int
			require.NoError(t, s.db.Get(&c, `SELECT compression FROM event WHERE message_id = 'big'`))
			require.Equal(t, 1, c)
			got, err := s.Get(context.Background(), "big")
			require.NoError(t, err)
			require.JSONEq(t, big, string(got.Raw))
		})
		t.Run("ClustersABatchByType", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			ctx := context.Background()
			// Types interleaved, and a type's times out of order.
			evs := sample(6)
			evs[0].Generated, evs[4].Generated = evs[4].Generated, evs[0].Generated
			evs = append(evs, &Event{MessageID: "dup", EventType: "type.b"}, &Event{MessageID: "m001", EventType: "type.c"})
			res, err := s.Record(ctx, evs[:len(evs)-1])
			require.NoError(t, err)
			for i, o := range res.Outcomes {
				require.Equal(t, evs[i].MessageID, o.MessageID, "outcomes keep the batch's order")
			}
			res, err = s.Record(ctx, []*Event{evs[len(evs)-1], {MessageID: "m100", EventType: "type.a"}})
			require.NoError(t, err)
			require.Equal(t, []Status{StatusDuplicate, StatusStored}, []Status{res.Outcomes[0].Status, res.Outcomes[1].Status})
			var rows []struct {
				ID        int64  `db:"id"`
				MessageID string `db:"message_id"`
			}
			require.NoError(t, s.db.Select(&rows, `SELECT id, message_id FROM event ORDER BY id`))
			var inIDOrder []string
			for _, r := range rows {
				inIDOrder = append(inIDOrder, r.MessageID)
			}
			// type.a by time (m004's time is m000's), then type.b; then the
			// second batch.
			require.Equal(t, []string{"m004", "m002", "m000", "m001", "m003", "m005", "dup", "m100"}, inIDOrder,
				"a batch's events take their ids by type, then time")
			got, err := s.Query(ctx, &Query{Filter: Filter{EventType: "type.a"}})
			require.NoError(t, err)
			require.Equal(t, []string{"m004", "m002", "m000", "m100"}, ids(got), "queries keep their order")
		})
		t.Run("AssignsTimeSortableIDs", func(t *testing.T) {
			t.Parallel()
			s, b := open(t, nil)
			evs := []*Event{
				{EventType: "t", Generated: base.Add(2 * time.Hour)},
				{EventType: "t", Generated: base},
				{EventType: "t"},
			}
			record(t, s, evs)
			require.Less(t, evs[1].MessageID, evs[0].MessageID)
			require.Less(t, evs[0].MessageID, evs[2].MessageID)
			require.Equal(t, b.clock.Now().Truncate(time.Microsecond), evs[2].Generated)
		})
		t.Run("ReportsDuplicatesAndRejectsPerEvent", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			ctx := context.Background()
			record(t, s, []*Event{{MessageID: "old", EventType: "t"}})
			res, err := s.Record(ctx, []*Event{
				{MessageID: "new1", EventType: "t"},
				{MessageID: "old", EventType: "t"},
				{MessageID: "notype"},
				{MessageID: "badvalue", EventType: "t", Traits: []Trait{{Name: "n", Type: TypeInteger, Value: "x"}}},
				{MessageID: "badtype", EventType: "t", Traits: []Trait{{Name: "n", Type: 9, Value: "x"}}},
				{MessageID: "badraw", EventType: "t", Raw: json.RawMessage(`{`)},
				{MessageID: "twice", EventType: "t", Traits: []Trait{{Name: "a", Value: "1"}, {Name: "a", Value: "2"}}},
				{MessageID: "new1", EventType: "t"},
				{MessageID: "new2", EventType: "t", Traits: []Trait{{Name: "f", Type: TypeFloat, Value: 3}}},
			})
			require.NoError(t, err)
			var st []Status
			for _, o := range res.Outcomes {
				st = append(st, o.Status)
			}
			require.Equal(t, []Status{StatusStored, StatusDuplicate, StatusRejected, StatusRejected, StatusRejected,
				StatusRejected, StatusRejected, StatusDuplicate, StatusStored}, st)
			require.Equal(t, 2, res.Stored)
			require.Equal(t, 2, res.Duplicates)
			require.Equal(t, 5, res.Rejected)
			require.ErrorIs(t, res.Outcomes[1].Err, ErrDuplicate)
			require.ErrorIs(t, res.Outcomes[3].Err, ErrInvalid)
			require.ErrorContains(t, res.Outcomes[2].Err, "no event_type")
			require.ErrorContains(t, res.Outcomes[3].Err, `"x" is not an integer`)
			n, err := s.Count(ctx, nil)
			require.NoError(t, err)
			require.EqualValues(t, 3, n)
		})
		t.Run("LargeBatchOfManyTypes", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			var evs []*Event
			for i := range 1200 {
				evs = append(evs, &Event{EventType: fmt.Sprintf("type.%04d", i), Traits: []Trait{{Name: fmt.Sprintf("t%d", i%700), Value: "v"}}})
			}
			record(t, s, evs)
			types, err := s.EventTypes(context.Background())
			require.NoError(t, err)
			require.Len(t, types, 1200)
		})
		t.Run("NamespacesAreSeparate", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			other := s.WithNamespace("other")
			record(t, s, []*Event{{MessageID: "x", EventType: "t"}})
			record(t, other, []*Event{{MessageID: "x", EventType: "u"}})
			got, err := other.Get(context.Background(), "x")
			require.NoError(t, err)
			require.Equal(t, "u", got.EventType)
			types, err := s.EventTypes(context.Background())
			require.NoError(t, err)
			require.Equal(t, []string{"t"}, types)
		})
		t.Run("GetUnknownIsNotFound", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			_, err := s.Get(context.Background(), "nope")
			require.ErrorIs(t, err, ErrNotFound)
		})
		t.Run("ConcurrentRecordsOfOneID", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			var wg sync.WaitGroup
			results := make([]*RecordResult, 4)
			errs := make([]error, 4)
			for i := range results {
				wg.Go(func() {
					results[i], errs[i] = s.Record(context.Background(), []*Event{{MessageID: "same", EventType: "t"}, {EventType: "t"}})
				})
			}
			wg.Wait()
			stored := 0
			for i, r := range results {
				require.NoError(t, errs[i])
				stored += r.Stored
			}
			require.Equal(t, 5, stored)
		})
	})
}

func TestQuery(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		t.Run("Filters", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			record(t, s, sample(12))
			seen := func(i int) time.Time { return base.Add(time.Duration(i) * time.Hour) }
			for _, tc := range []struct {
				name string
				f    Filter
				want []string
			}{
				{"All", Filter{}, []string{"m000", "m001", "m002", "m003", "m004", "m005", "m006", "m007", "m008", "m009", "m010", "m011"}},
				{"StartInclusiveEndExclusive", Filter{Start: base.Add(2 * time.Minute), End: base.Add(5 * time.Minute)}, []string{"m002", "m003", "m004"}},
				{"EventType", Filter{EventType: "type.b", End: base.Add(6 * time.Minute)}, []string{"m001", "m003", "m005"}},
				{"MessageID", Filter{MessageID: "m007"}, []string{"m007"}},
				{"StringEq", Filter{Traits: []TraitFilter{{Name: "host", Op: OpEq, Value: "host1"}}}, []string{"m001", "m004", "m007", "m010"}},
				{"StringNe", Filter{Traits: []TraitFilter{{Name: "host", Op: OpNe, Value: "host1"}}, End: base.Add(4 * time.Minute)}, []string{"m000", "m002", "m003"}},
				{"StringLt", Filter{Traits: []TraitFilter{{Name: "host", Op: OpLt, Type: TypeString, Value: "host1"}}, End: base.Add(4 * time.Minute)}, []string{"m000", "m003"}},
				{"StringGe", Filter{Traits: []TraitFilter{{Name: "host", Op: OpGe, Value: "host2"}}}, []string{"m002", "m005", "m008", "m011"}},
				{"IntegerEq", Filter{Traits: []TraitFilter{{Name: "count", Op: OpEq, Type: TypeInteger, Value: "5"}}}, []string{"m005"}},
				{"IntegerNe", Filter{Traits: []TraitFilter{{Name: "count", Op: OpNe, Type: TypeInteger, Value: int64(5)}}, End: base.Add(7 * time.Minute)}, []string{"m000", "m001", "m002", "m003", "m004", "m006"}},
				{"IntegerLt", Filter{Traits: []TraitFilter{{Name: "count", Op: OpLt, Type: TypeInteger, Value: "2"}}}, []string{"m000", "m001"}},
				{"IntegerLe", Filter{Traits: []TraitFilter{{Name: "count", Op: OpLe, Type: TypeInteger, Value: "2"}}}, []string{"m000", "m001", "m002"}},
				{"IntegerGt", Filter{Traits: []TraitFilter{{Name: "count", Op: OpGt, Type: TypeInteger, Value: "9"}}}, []string{"m010", "m011"}},
				{"IntegerGe", Filter{Traits: []TraitFilter{{Name: "count", Op: OpGe, Type: TypeInteger, Value: "10"}}}, []string{"m010", "m011"}},
				{"FloatGt", Filter{Traits: []TraitFilter{{Name: "load", Op: OpGt, Type: TypeFloat, Value: "2.5"}}}, []string{"m011"}},
				{"FloatLe", Filter{Traits: []TraitFilter{{Name: "load", Op: OpLe, Type: TypeFloat, Value: 0.25}}}, []string{"m000", "m001"}},
				{"FloatEq", Filter{Traits: []TraitFilter{{Name: "load", Op: OpEq, Type: TypeFloat, Value: "0.5"}}}, []string{"m002"}},
				{"DatetimeGe", Filter{Traits: []TraitFilter{{Name: "seen", Op: OpGe, Type: TypeDatetime, Value: FormatTime(seen(10))}}}, []string{"m010", "m011"}},
				{"DatetimeLt", Filter{Traits: []TraitFilter{{Name: "seen", Op: OpLt, Type: TypeDatetime, Value: seen(1)}}}, []string{"m000"}},
				{"DatetimeEq", Filter{Traits: []TraitFilter{{Name: "seen", Type: TypeDatetime, Value: "2026-03-01T15:00:00Z"}}}, []string{"m003"}},
				{"WrongTypeMatchesNothing", Filter{Traits: []TraitFilter{{Name: "count", Value: "5"}}}, nil},
				{"SeveralAreANDed", Filter{EventType: "type.a", Traits: []TraitFilter{
					{Name: "host", Value: "host1"},
					{Name: "count", Op: OpGt, Type: TypeInteger, Value: "1"},
				}}, []string{"m004", "m010"}},
			} {
				got, err := s.Query(ctx, &Query{Filter: tc.f})
				require.NoError(t, err, tc.name)
				if tc.want == nil {
					tc.want = []string{}
				}
				require.Equal(t, tc.want, ids(got), tc.name)
				n, err := s.Count(ctx, &tc.f)
				require.NoError(t, err, tc.name)
				require.EqualValues(t, len(tc.want), n, tc.name)
			}
		})
		t.Run("Sorts", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			evs := []*Event{
				{MessageID: "c", EventType: "t", Generated: base},
				{MessageID: "a", EventType: "t", Generated: base.Add(time.Minute)},
				{MessageID: "b", EventType: "t", Generated: base},
			}
			record(t, s, evs)
			for _, tc := range []struct {
				sort []string
				want []string
			}{
				{nil, []string{"b", "c", "a"}},
				{[]string{"generated:desc"}, []string{"a", "b", "c"}},
				{[]string{"generated:desc", "message_id:desc"}, []string{"a", "c", "b"}},
				{[]string{"message_id"}, []string{"a", "b", "c"}},
				{[]string{"message_id:desc"}, []string{"c", "b", "a"}},
			} {
				var keys []SortKey
				for _, k := range tc.sort {
					sk, err := ParseSort(k)
					require.NoError(t, err)
					keys = append(keys, sk)
				}
				got, err := s.Query(ctx, &Query{Sort: keys})
				require.NoError(t, err)
				require.Equal(t, tc.want, ids(got), "%v", tc.sort)
				// Pages of one give the same order.
				var paged []string
				marker := ""
				for {
					page, err := s.Query(ctx, &Query{Sort: keys, Limit: 1, Marker: marker})
					require.NoError(t, err)
					if len(page) == 0 {
						break
					}
					paged = append(paged, page[0].MessageID)
					marker = page[0].MessageID
				}
				require.Equal(t, tc.want, paged, "paged %v", tc.sort)
			}
		})
		t.Run("PagesOfAnIndexedTraitFilter", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			evs := sample(40)
			// Two events at the same time: message_id breaks the tie.
			evs[5].Generated, evs[8].Generated = evs[4].Generated, evs[4].Generated
			evs[5].Traits[0].Value, evs[8].Traits[0].Value, evs[4].Traits[0].Value = "host1", "host1", "host1"
			record(t, s, evs)
			for _, desc := range []bool{false, true} {
				keys := []SortKey{{Field: FieldGenerated, Desc: desc}}
				filter := Filter{Traits: []TraitFilter{{Name: "host", Value: "host1"}, {Name: "count", Op: OpLt, Type: TypeInteger, Value: "30"}}}
				all, err := s.Query(ctx, &Query{Filter: filter, Sort: keys})
				require.NoError(t, err)
				require.Len(t, all, 12)
				var paged []string
				marker := ""
				for {
					page, err := s.Query(ctx, &Query{Filter: filter, Sort: keys, Limit: 3, Marker: marker})
					require.NoError(t, err)
					paged = append(paged, ids(page)...)
					if len(page) < 3 {
						break
					}
					marker = page[len(page)-1].MessageID
				}
				require.Equal(t, ids(all), paged, "desc=%v", desc)
				if desc {
					require.Equal(t, "m028", paged[0])
				} else {
					require.Equal(t, []string{"m001", "m004", "m005", "m008", "m007"}, paged[:5])
				}
			}
		})
		t.Run("LimitDefaultAndMaximum", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, &Config{MaxLimit: 150})
			record(t, s, sample(120))
			got, err := s.Query(ctx, nil)
			require.NoError(t, err)
			require.Len(t, got, LimitDefault)
			got, err = s.Query(ctx, &Query{Limit: 150})
			require.NoError(t, err)
			require.Len(t, got, 120)
			_, err = s.Query(ctx, &Query{Limit: 151})
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, "maximum of 150")
			_, err = s.Query(ctx, &Query{Limit: -1})
			require.ErrorIs(t, err, ErrInvalid)
		})
		t.Run("BadInputIsInvalid", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			for name, q := range map[string]*Query{
				"UnknownMarker": {Marker: "nope"},
				"BadOp":         {Filter: Filter{Traits: []TraitFilter{{Name: "a", Op: "like", Value: "x"}}}},
				"BadType":       {Filter: Filter{Traits: []TraitFilter{{Name: "a", Type: 7, Value: "x"}}}},
				"BadValue":      {Filter: Filter{Traits: []TraitFilter{{Name: "a", Type: TypeFloat, Value: "abc"}}}},
				"NoName":        {Filter: Filter{Traits: []TraitFilter{{Value: "x"}}}},
				"BadSort":       {Sort: []SortKey{{Field: "traits"}}},
			} {
				_, err := s.Query(ctx, q)
				require.ErrorIs(t, err, ErrInvalid, name)
			}
			_, err := s.Query(ctx, &Query{Marker: "nope"})
			require.ErrorIs(t, err, ErrUnknownMarker)
			_, err = ParseSort("generated:sideways")
			require.ErrorIs(t, err, ErrInvalid)
			_, err = ParseOp("like")
			require.ErrorIs(t, err, ErrInvalid)
			_, err = ParseTraitType("blob")
			require.ErrorIs(t, err, ErrInvalid)
		})
		t.Run("PagesStayStableUnderConcurrentInserts", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			orig := sample(40)
			record(t, s, orig)
			var got []string
			marker := ""
			for page := 0; ; page++ {
				evs, err := s.Query(ctx, &Query{Filter: Filter{End: base.Add(40 * time.Minute)}, Limit: 7, Marker: marker})
				require.NoError(t, err)
				got = append(got, ids(evs)...)
				if len(evs) < 7 {
					break
				}
				marker = evs[len(evs)-1].MessageID
				// Between pages, others insert events before, inside and
				// after what was read, concurrently.
				var wg sync.WaitGroup
				errs := make([]error, 3)
				for k := range 3 {
					wg.Go(func() {
						_, errs[k] = s.Record(ctx, []*Event{{
							MessageID: fmt.Sprintf("late-%d-%d", page, k),
							EventType: "type.a",
							Generated: base.Add(time.Duration(k*20) * time.Minute).Add(time.Second),
						}})
					})
				}
				wg.Wait()
				for _, err := range errs {
					require.NoError(t, err)
				}
			}
			var want []string
			for _, id := range got {
				if id[0] == 'm' {
					want = append(want, id)
				}
			}
			require.Equal(t, ids(orig), want, "every original event once, in order")
		})
	})
}

func TestAggregates(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		t.Run("DeleteByFilter", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			record(t, s, sample(10))
			n, err := s.Delete(ctx, &Filter{EventType: "type.b", Traits: []TraitFilter{{Name: "count", Op: OpGe, Type: TypeInteger, Value: "5"}}})
			require.NoError(t, err)
			require.EqualValues(t, 3, n)
			left, err := s.Query(ctx, nil)
			require.NoError(t, err)
			require.Equal(t, []string{"m000", "m001", "m002", "m003", "m004", "m006", "m008"}, ids(left))
			n, err = s.Count(ctx, &Filter{Traits: []TraitFilter{{Name: "count", Op: OpGe, Type: TypeInteger, Value: "0"}}})
			require.NoError(t, err)
			require.EqualValues(t, 7, n, "the index's entries of deleted events match nothing")
			n, err = s.Delete(ctx, &Filter{EventType: "type.b"})
			require.NoError(t, err)
			require.EqualValues(t, 2, n)
			types, err := s.EventTypes(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{"type.a"}, types, "a type without events leaves the dictionary")
			n, err = s.Delete(ctx, nil)
			require.NoError(t, err)
			require.EqualValues(t, 5, n)
			var runs int
			require.NoError(t, s.db.Get(&runs, `SELECT COUNT(*) FROM event_trait_run`))
			require.Zero(t, runs, "the trait index runs go with the last of their events")
		})
		t.Run("DistinctAndMinMax", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			record(t, s, sample(10))
			vals, err := s.Distinct(ctx, &DistinctParams{Name: "host"})
			require.NoError(t, err)
			require.Equal(t, []string{"host0", "host1", "host2"}, traitStrings(vals))
			vals, err = s.Distinct(ctx, &DistinctParams{Name: "count", Filter: Filter{EventType: "type.a"}, Limit: 2})
			require.NoError(t, err)
			require.Equal(t, []Trait{{Name: "count", Type: TypeInteger, Value: int64(0)}, {Name: "count", Type: TypeInteger, Value: int64(2)}}, vals)
			lo, hi, err := s.MinMax(ctx, &Filter{EventType: "type.b"})
			require.NoError(t, err)
			require.Equal(t, base.Add(time.Minute), lo)
			require.Equal(t, base.Add(9*time.Minute), hi)
			_, _, err = s.MinMax(ctx, &Filter{EventType: "none"})
			require.ErrorIs(t, err, ErrNotFound)
		})
		t.Run("Watchdog", func(t *testing.T) {
			t.Parallel()
			s, b := open(t, nil)
			record(t, s, sample(10))
			b.clock.Set(base.Add(9*time.Minute + 30*time.Second))
			act, err := s.Watchdog(ctx, time.Minute)
			require.NoError(t, err)
			require.Equal(t, []Activity{
				{EventType: "type.a", Last: base.Add(8 * time.Minute), Active: false},
				{EventType: "type.b", Last: base.Add(9 * time.Minute), Active: true},
			}, act)
			_, err = s.Watchdog(ctx, 0)
			require.ErrorIs(t, err, ErrInvalid)
		})
		t.Run("Dictionaries", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, nil)
			record(t, s, sample(10))
			record(t, s, []*Event{{EventType: "alpha", Traits: []Trait{{Name: "z", Type: TypeFloat, Value: 1.5}}}})
			types, err := s.EventTypes(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{"alpha", "type.a", "type.b"}, types)
			tt, err := s.TraitTypes(ctx, "type.a")
			require.NoError(t, err)
			require.Equal(t, []TraitInfo{{"count", TypeInteger}, {"host", TypeString}, {"load", TypeFloat}, {"seen", TypeDatetime}}, tt)
			tt, err = s.TraitTypes(ctx, "unknown")
			require.NoError(t, err)
			require.Empty(t, tt)
			require.NotNil(t, tt)
			vals, err := s.TraitValues(ctx, "type.b", "host", 2)
			require.NoError(t, err)
			require.Equal(t, []string{"host0", "host1"}, traitStrings(vals))
			vals, err = s.TraitValues(ctx, "unknown", "host", 0)
			require.NoError(t, err)
			require.Empty(t, vals)
			empty := s.WithNamespace("empty")
			types, err = empty.EventTypes(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{}, types)
		})
		t.Run("Expire", func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, &Config{TTL: time.Hour})
			record(t, s, sample(10))
			record(t, s.WithNamespace("other"), []*Event{{MessageID: "o", EventType: "x", Generated: base}})
			record(t, s, []*Event{{MessageID: "keep", EventType: "y", Generated: base, Expires: base.Add(100 * time.Hour)}})
			now := base.Add(time.Hour + 4*time.Minute)
			rows, bytes, err := s.Expire(ctx, now, 2, true)
			require.NoError(t, err)
			require.EqualValues(t, 6, rows) // m000..m004 and o
			require.Positive(t, bytes)
			n, err := s.Count(ctx, nil)
			require.NoError(t, err)
			require.EqualValues(t, 11, n, "a dry run deletes nothing")
			rows2, bytes2, err := s.Expire(ctx, now, 2, false)
			require.NoError(t, err)
			require.Equal(t, rows, rows2)
			require.Equal(t, bytes, bytes2)
			left, err := s.Query(ctx, nil)
			require.NoError(t, err)
			require.Equal(t, []string{"keep", "m005", "m006", "m007", "m008", "m009"}, ids(left))
			types, err := s.WithNamespace("other").EventTypes(ctx)
			require.NoError(t, err)
			require.Empty(t, types)
			require.Equal(t, "events", s.Name())
			types, err = s.EventTypes(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{"type.a", "type.b", "y"}, types, "types that still have events stay")
			var expirer interface {
				Name() string
				Expire(ctx context.Context, now time.Time, batch int, dryRun bool) (rows, bytes int64, err error)
			} = s
			_ = expirer
		})
	})
}

// TestExpireBatches checks that Expire removes expired events in
// transactions of at most its batch size, oldest expiry first, including
// events that share an expiration time, that a batch that takes the last
// expired events is not followed by an empty one, and that it reports
// every event and byte it removed.
func TestExpireBatches(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, _ := open(t, &Config{TTL: time.Hour})
		var evs []*Event
		for i := range 12 {
			// Three events share each generated time, so batches cut
			// through ties.
			evs = append(evs, &Event{MessageID: fmt.Sprintf("m%02d", i), EventType: "t",
				Generated: base.Add(time.Duration(i/3) * time.Minute), Raw: json.RawMessage(`{}`)})
		}
		evs = append(evs, &Event{MessageID: "late", EventType: "t", Generated: base.Add(time.Hour)})
		now := base.Add(time.Hour + 3*time.Minute) // m00..m11 have expired, late has not
		cases := []struct {
			batch int
			want  []int
		}{
			{5, []int{5, 5, 2}},
			{4, []int{4, 4, 4}}, // no empty fourth batch
			{12, []int{12}},
			{100, []int{12}},
		}
		// The cases run one after another: Expire covers every namespace.
		for _, c := range cases {
			t.Run(fmt.Sprint(c.batch), func(t *testing.T) {
				r := s.WithNamespace(fmt.Sprintf("b%d", c.batch))
				record(t, r, evs)
				wantRows, wantBytes, err := r.Expire(ctx, now, c.batch, true)
				require.NoError(t, err)
				var got []int
				r.afterExpireBatch = func(n int) { got = append(got, n) }
				rows, bytes, err := r.Expire(ctx, now, c.batch, false)
				require.NoError(t, err)
				require.Equal(t, wantRows, rows)
				require.Equal(t, wantBytes, bytes)
				require.EqualValues(t, 12, rows)
				require.Equal(t, c.want, got, "events per transaction")
				left, err := r.Query(ctx, nil)
				require.NoError(t, err)
				require.Equal(t, []string{"late"}, ids(left))
			})
		}

		// Nothing left to expire: no transaction, and no count of
		// deletions moves (on PostgreSQL, processes would read their
		// cached trait pages again).
		before := deletionCounts(t, s)
		s.afterExpireBatch = func(int) { t.Error("Expire ran a transaction with nothing to expire") }
		rows, bytes, err := s.Expire(ctx, now, 0, false)
		require.NoError(t, err)
		require.Zero(t, rows)
		require.Zero(t, bytes)
		require.Equal(t, before, deletionCounts(t, s))
	})
}

// deletionCounts reads the counts of event deletions (PostgreSQL only,
// else zero) and of dictionary deletions, past every cache.
func deletionCounts(t *testing.T, s *Store) (n [2]int64) {
	t.Helper()
	if s.pg {
		require.NoError(t, s.db.Get(&n[0], `SELECT n FROM event_deletions`))
		require.NoError(t, s.db.Get(&n[1], `SELECT n FROM event_dict_deletions`))
	} else {
		require.NoError(t, s.db.Get(&n[1], `SELECT dict_deletions FROM event_seq`))
	}
	return n
}

func traitStrings(ts []Trait) []string {
	out := []string{}
	for _, t := range ts {
		out = append(out, t.String())
	}
	return out
}

func TestStreams(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, b := open(t, nil)
		s = s.WithNamespace("kronos")
		k := func(m int) int64 { return KronosTime(base.Add(time.Duration(m) * time.Minute)) }
		var objs []json.RawMessage
		for m := range 6 {
			objs = append(objs, json.RawMessage(fmt.Sprintf(`{"@time": %d, "user": "u%d", "n": %d, "x": {"deep": [1, 2.5]}}`, k(m), m%2, m)))
		}
		objs = append(objs, json.RawMessage(`{"user": "late", "extra": true}`))
		objs = append(objs, json.RawMessage(`[1, 2]`))
		res, err := s.PutStream(ctx, "clicks", objs)
		require.NoError(t, err)
		require.Equal(t, 7, res.Stored)
		require.Equal(t, StatusRejected, res.Outcomes[7].Status)
		require.ErrorContains(t, res.Outcomes[7].Err, "not a JSON object")
		_, err = s.PutStream(ctx, "views", []json.RawMessage{json.RawMessage(`{"@id": "v1", "@time": "2026-03-01T12:00:00Z"}`)})
		require.NoError(t, err)

		got, err := s.GetStream(ctx, &StreamQuery{Stream: "clicks", Start: base.Add(time.Minute), End: base.Add(4 * time.Minute)})
		require.NoError(t, err)
		require.Len(t, got, 3)
		var first map[string]any
		require.NoError(t, json.Unmarshal(got[0], &first))
		require.Equal(t, "u1", first["user"])
		require.EqualValues(t, k(1), first["@time"])
		require.NotEmpty(t, first["@id"])

		got, err = s.GetStream(ctx, &StreamQuery{Stream: "clicks", Desc: true, Limit: 2})
		require.NoError(t, err)
		require.Len(t, got, 2)
		var newest map[string]any
		require.NoError(t, json.Unmarshal(got[0], &newest))
		require.Equal(t, "late", newest["user"], "no @time means now (%s)", b.clock.Now())

		// Stream fields are indexed as traits.
		evs, err := s.Query(ctx, &Query{Filter: Filter{EventType: "clicks", Traits: []TraitFilter{{Name: "n", Op: OpGe, Type: TypeInteger, Value: "4"}}}})
		require.NoError(t, err)
		require.Len(t, evs, 2)

		streams, err := s.Streams(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"clicks", "views"}, streams)

		schema, err := s.InferSchema(ctx, "clicks")
		require.NoError(t, err)
		js, err := json.Marshal(schema)
		require.NoError(t, err)
		require.JSONEq(t, `{
			"$schema": "http://json-schema.org/draft-04/schema#",
			"type": "object",
			"required": ["@id", "@time", "user"],
			"properties": {
				"@id": {"type": "string"},
				"@time": {"type": "integer"},
				"user": {"type": "string"},
				"n": {"type": "integer"},
				"extra": {"type": "boolean"},
				"x": {"type": "object", "required": ["deep"], "properties": {"deep": {"type": "array", "items": {"type": "number"}}}}
			}
		}`, string(js))
		_, err = s.InferSchema(ctx, "none")
		require.ErrorIs(t, err, ErrNotFound)

		n, err := s.DeleteStream(ctx, "clicks", base, base.Add(3*time.Minute))
		require.NoError(t, err)
		require.EqualValues(t, 3, n)
		got, err = s.GetStream(ctx, &StreamQuery{Stream: "clicks"})
		require.NoError(t, err)
		require.Len(t, got, 4)
		_, err = s.GetStream(ctx, &StreamQuery{})
		require.ErrorIs(t, err, ErrInvalid)
	})
}

func TestEventJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		in      string
		want    *Event
		wantErr string
	}{
		{
			name: "PankoShape",
			in:   `{"message_id": "a", "event_type": "t", "generated": "2026-03-01T12:00:00.5", "traits": [{"name": "n", "type": "integer", "value": "4"}, {"name": "s", "type": "string", "value": "x"}], "raw": {"k": 1}}`,
			want: &Event{MessageID: "a", EventType: "t", Generated: base.Add(500 * time.Millisecond),
				Traits: []Trait{{Name: "n", Type: TypeInteger, Value: int64(4)}, {Name: "s", Type: TypeString, Value: "x"}}, Raw: json.RawMessage(`{"k": 1}`)},
		},
		{
			name: "NumbersAndZones",
			in:   `{"event_type": "t", "generated": "2026-03-01T13:00:00+01:00", "traits": [{"name": "f", "type": "float", "value": 1.5}, {"name": "n", "value": 3}]}`,
			want: &Event{EventType: "t", Generated: base, Traits: []Trait{{Name: "f", Type: TypeFloat, Value: 1.5}, {Name: "n", Type: TypeInteger, Value: int64(3)}}},
		},
		{name: "BadTraitType", in: `{"event_type": "t", "traits": [{"name": "n", "type": "blob", "value": "4"}]}`, wantErr: `trait type "blob"`},
		{name: "BadValue", in: `{"event_type": "t", "traits": [{"name": "n", "type": "integer", "value": "four"}]}`, wantErr: `"four" is not an integer`},
		{name: "BadTime", in: `{"event_type": "t", "generated": "yesterday"}`, wantErr: `time "yesterday"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e Event
			err := json.Unmarshal([]byte(tc.in), &e)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.True(t, errors.Is(err, ErrInvalid))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, &e)
		})
	}
	out, err := json.Marshal(Event{MessageID: "a", EventType: "t", Generated: base, Traits: []Trait{
		{Name: "d", Type: TypeDatetime, Value: base.Add(time.Microsecond)}, {Name: "f", Type: TypeFloat, Value: 2.0}}})
	require.NoError(t, err)
	require.JSONEq(t, `{"message_id": "a", "event_type": "t", "generated": "2026-03-01T12:00:00", "raw": {},
		"traits": [{"name": "d", "type": "datetime", "value": "2026-03-01T12:00:00.000001"}, {"name": "f", "type": "float", "value": "2"}]}`, string(out))
}

// TestStreamTimeRange checks that a stream object's @time is refused,
// per object, outside the Kronos times a time converts to and from,
// rather than stored wrapped around to another year.
func TestStreamTimeRange(t *testing.T) {
	t.Parallel()
	s := &Store{}
	now := base
	for _, obj := range []string{
		`{"@time": 100000000000000000}`, `{"@time": -100000000000000000}`,
		`{"@time": 1e300}`, `{"@time": -1e19}`, `{"@time": "2300-01-01T00:00:00Z"}`, `{"@time": "1600-01-01"}`,
	} {
		_, err := s.streamEvent("s", json.RawMessage(obj), now)
		require.ErrorIs(t, err, ErrInvalid, obj)
		require.ErrorContains(t, err, "out of range", obj)
	}
	for _, k := range []int64{KronosMin, KronosMax, 0, KronosTime(base)} {
		e, err := s.streamEvent("s", json.RawMessage(fmt.Sprintf(`{"@time": %d}`, k)), now)
		require.NoError(t, err, k)
		require.Equal(t, k/10*10, KronosTime(e.Generated), "times are kept to the microsecond")
	}
	e, err := s.streamEvent("s", json.RawMessage(`{"@time": "2262-04-11T00:00:00Z"}`), now)
	require.NoError(t, err)
	require.Equal(t, 2262, e.Generated.Year())
}
