package events

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestQueriesMatchAModel records random events (with many equal times,
// traits of every type, a trait name used with two types) and checks
// random queries against a model kept in memory: every page of each, up
// to the last, with its filters on time, type, message id and traits
// (every op on every type), its sort and markers, Count, MinMax and
// Distinct. The queries
// run in each page read mode, by the recording process and by another
// one, while the trait index merges in the background, then again after
// deletions by the other process and after an expiry.
func TestQueriesMatchAModel(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, b := open(t, nil)
		other, err := Open(ctx, b.space, &Config{Clock: b.clock.Now})
		require.NoError(t, err)
		r := rand.New(rand.NewPCG(7, 11))
		m := model{}

		order := r.Perm(600)
		for done := 0; done < len(order); {
			n := min(1+r.IntN(80), len(order)-done)
			batch := make([]*Event, n)
			for i := range batch {
				batch[i] = modelEvent(r, order[done+i])
			}
			record(t, s, batch)
			for _, e := range batch {
				m[e.MessageID] = cloneEvent(e)
			}
			done += n
		}
		check := func(phase string) {
			t.Helper()
			for i := range 60 {
				q := modelQuery(r, m)
				reader := s
				if i%4 == 3 {
					reader = other
				}
				reader.pageMode = []int{0, pageRows, pageIDs}[i%3]
				want := m.query(q)
				require.Equal(t, ids(want), ids(allPages(t, reader, q)), "%s, query %d: %s", phase, i, describe(q))
				n, err := reader.Count(ctx, &q.Filter)
				require.NoError(t, err)
				require.EqualValues(t, len(want), n, "%s, count %d: %s", phase, i, describe(q))

				lo, hi, err := reader.MinMax(ctx, &q.Filter)
				if len(want) == 0 {
					require.ErrorIs(t, err, ErrNotFound, "%s, min/max %d: %s", phase, i, describe(q))
				} else {
					require.NoError(t, err)
					first, last := slices.MinFunc(want, byTime), slices.MaxFunc(want, byTime)
					require.Equal(t, [2]time.Time{first.Generated, last.Generated}, [2]time.Time{lo, hi}, "%s, min/max %d: %s", phase, i, describe(q))
				}
				name := []string{"host", "count", "load", "seen"}[i%4]
				values, err := reader.Distinct(ctx, &DistinctParams{Filter: q.Filter, Name: name, Limit: 100})
				require.NoError(t, err)
				require.Equal(t, distinct(want, name), values, "%s, distinct %s %d: %s", phase, name, i, describe(q))
			}
			s.pageMode, other.pageMode = 0, 0
		}
		check("recorded")

		for i := range 4 {
			// A window of 20 minutes: each delete takes a few events.
			f := modelQuery(r, m).Filter
			f.MessageID = ""
			f.Start = base.Add(time.Duration(r.IntN(160)) * time.Minute)
			f.End = f.Start.Add(20 * time.Minute)
			want := m.query(&Query{Filter: f})
			n, err := other.Delete(ctx, &f)
			require.NoError(t, err)
			require.EqualValues(t, len(want), n, "delete %d: %s", i, describe(&Query{Filter: f}))
			for _, e := range want {
				delete(m, e.MessageID)
			}
		}
		check("after deletes")

		now := base.Add(90 * time.Minute)
		gone, _, err := other.Expire(ctx, now, 0, false)
		require.NoError(t, err)
		var expired int64
		for id, e := range m {
			if !e.Expires.After(now) {
				delete(m, id)
				expired++
			}
		}
		require.Positive(t, expired)
		require.Equal(t, expired, gone)
		check("after expiry")
	})
}

// model holds the events a test expects, by message id.
type model map[string]*Event

// modelEvent returns event i of a model test: one of three types, a time
// in whole minutes of three hours (so many share one), and a random
// subset of traits: host (string; an integer on some events), count
// (integer), load (float) and seen (datetime). A fifth expire early.
func modelEvent(r *rand.Rand, i int) *Event {
	e := &Event{
		MessageID: fmt.Sprintf("m%04d", i),
		EventType: []string{"t.a", "t.b", "t.c"}[r.IntN(3)],
		Generated: base.Add(time.Duration(r.IntN(180)) * time.Minute),
	}
	if r.IntN(5) == 0 {
		e.Expires = base.Add(time.Duration(r.IntN(180)) * time.Minute)
	}
	if r.IntN(4) > 0 {
		if r.IntN(10) == 0 {
			e.Traits = append(e.Traits, Trait{Name: "host", Type: TypeInteger, Value: int64(r.IntN(3))})
		} else {
			e.Traits = append(e.Traits, Trait{Name: "host", Type: TypeString, Value: modelHosts[r.IntN(len(modelHosts))]})
		}
	}
	if r.IntN(4) > 0 {
		e.Traits = append(e.Traits, Trait{Name: "count", Type: TypeInteger, Value: int64(r.IntN(14) - 3)})
	}
	if r.IntN(4) > 0 {
		e.Traits = append(e.Traits, Trait{Name: "load", Type: TypeFloat, Value: modelLoads[r.IntN(len(modelLoads))]})
	}
	if r.IntN(4) > 0 {
		e.Traits = append(e.Traits, Trait{Name: "seen", Type: TypeDatetime, Value: base.Add(time.Duration(r.IntN(6)) * time.Hour)})
	}
	return e
}

var (
	// modelHosts compare byte by byte: "B" before "a".
	modelHosts = []string{"a", "ab", "b", "B", "host-1"}
	modelLoads = []float64{-2, 0.5, 1.25, 3}
)

// cloneEvent copies e, as Record filled it in (its expiry).
func cloneEvent(e *Event) *Event {
	c := *e
	c.Traits = slices.Clone(e.Traits)
	return &c
}

// modelQuery returns a random query: a time range (or one bound), a type,
// sometimes a message id of the model, up to two trait filters, a sort
// and a limit.
func modelQuery(r *rand.Rand, m model) *Query {
	q := &Query{Limit: 1 + r.IntN(25)}
	switch r.IntN(4) {
	case 0:
		q.Start = base.Add(time.Duration(r.IntN(180)) * time.Minute)
		q.End = q.Start.Add(time.Duration(1+r.IntN(120)) * time.Minute)
	case 1:
		q.Start = base.Add(time.Duration(r.IntN(180)) * time.Minute)
	case 2:
		q.End = base.Add(time.Duration(r.IntN(180)) * time.Minute)
	}
	if r.IntN(3) == 0 {
		q.EventType = []string{"t.a", "t.b", "t.c", "t.none"}[r.IntN(4)]
	}
	if r.IntN(20) == 0 && len(m) > 0 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		q.MessageID = keys[r.IntN(len(keys))]
	}
	ops := []Op{OpEq, OpNe, OpLt, OpLe, OpGt, OpGe}
	for range r.IntN(3) {
		f := TraitFilter{Op: ops[r.IntN(len(ops))]}
		switch r.IntN(5) {
		case 0:
			f.Name, f.Type, f.Value = "host", TypeString, modelHosts[r.IntN(len(modelHosts))]
		case 1:
			f.Name, f.Type, f.Value = "host", TypeInteger, int64(r.IntN(3))
		case 2:
			f.Name, f.Type, f.Value = "count", TypeInteger, int64(r.IntN(14)-3)
		case 3:
			f.Name, f.Type, f.Value = "load", TypeFloat, modelLoads[r.IntN(len(modelLoads))]
		default:
			f.Name, f.Type, f.Value = "seen", TypeDatetime, base.Add(time.Duration(r.IntN(6))*time.Hour)
		}
		q.Traits = append(q.Traits, f)
	}
	sorts := [][]SortKey{
		nil,
		{{Field: FieldGenerated, Desc: true}},
		{{Field: FieldMessageID}},
		{{Field: FieldMessageID, Desc: true}},
		{{Field: FieldGenerated}, {Field: FieldMessageID, Desc: true}},
		{{Field: FieldGenerated, Desc: true}, {Field: FieldMessageID, Desc: true}},
	}
	q.Sort = sorts[r.IntN(len(sorts))]
	return q
}

// query returns the model's events that match q's filter, in q's order.
func (m model) query(q *Query) []*Event {
	var out []*Event
	for _, e := range m {
		if m.matches(e, &q.Filter) {
			out = append(out, e)
		}
	}
	keys, _ := normalizedSort(q.Sort)
	slices.SortFunc(out, func(a, b *Event) int {
		for _, k := range keys {
			c := a.Generated.Compare(b.Generated)
			if k.Field == FieldMessageID {
				c = strings.Compare(a.MessageID, b.MessageID)
			}
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	return out
}

// byTime orders events by generated time.
func byTime(a, b *Event) int { return a.Generated.Compare(b.Generated) }

// distinct returns the distinct values of the trait name among evs,
// ordered by type, then value; an empty list when none has it.
func distinct(evs []*Event, name string) []Trait {
	out := []Trait{}
	for _, e := range evs {
		if t, ok := e.Trait(name); ok {
			out = append(out, t)
		}
	}
	order := func(a, b Trait) int {
		if c := cmp.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		switch v := a.Value.(type) {
		case string:
			return strings.Compare(v, b.Value.(string))
		case int64:
			return cmp.Compare(v, b.Value.(int64))
		case float64:
			return cmp.Compare(v, b.Value.(float64))
		}
		return a.Value.(time.Time).Compare(b.Value.(time.Time))
	}
	slices.SortFunc(out, order)
	return slices.CompactFunc(out, func(a, b Trait) bool { return order(a, b) == 0 })
}

// matches tells whether e passes f: a time in [Start, End), the type,
// the message id, and every trait filter, which only an event with a
// trait of that name and type can pass.
func (m model) matches(e *Event, f *Filter) bool {
	switch {
	case !f.Start.IsZero() && e.Generated.Before(f.Start),
		!f.End.IsZero() && !e.Generated.Before(f.End),
		f.EventType != "" && e.EventType != f.EventType,
		f.MessageID != "" && e.MessageID != f.MessageID:
		return false
	}
	for _, tf := range f.Traits {
		t, ok := e.Trait(tf.Name)
		if !ok || t.Type != tf.Type {
			return false
		}
		var c int
		switch v := t.Value.(type) {
		case string:
			c = strings.Compare(v, tf.Value.(string))
		case int64:
			c = cmp.Compare(v, tf.Value.(int64))
		case float64:
			c = cmp.Compare(v, tf.Value.(float64))
		case time.Time:
			c = v.Compare(tf.Value.(time.Time))
		}
		pass := map[Op]bool{OpEq: c == 0, OpNe: c != 0, OpLt: c < 0, OpLe: c <= 0, OpGt: c > 0, OpGe: c >= 0}[tf.Op]
		if !pass {
			return false
		}
	}
	return true
}

// describe prints a query for a failure message.
func describe(q *Query) string {
	var b strings.Builder
	fmt.Fprintf(&b, "limit %d sort %v", q.Limit, q.Sort)
	if !q.Start.IsZero() {
		fmt.Fprintf(&b, " start %s", q.Start.Format("15:04"))
	}
	if !q.End.IsZero() {
		fmt.Fprintf(&b, " end %s", q.End.Format("15:04"))
	}
	if q.EventType != "" {
		fmt.Fprintf(&b, " type %s", q.EventType)
	}
	if q.MessageID != "" {
		fmt.Fprintf(&b, " id %s", q.MessageID)
	}
	for _, f := range q.Traits {
		fmt.Fprintf(&b, " %s(%s) %s %v", f.Name, f.Type, f.Op, f.Value)
	}
	return b.String()
}
