// Package datasourcetest is the conformance suite every DataSource backend
// passes: the executable definition of the datasource contract.
package datasourcetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datasource"
)

// Factory returns a fresh, migrated, empty DataSource for one test and
// arranges for it to be closed when the test ends.
type Factory func(t *testing.T) datasource.DataSource

// T0 is the base time of the suite's data: microsecond precision, UTC.
var T0 = time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)

// Run runs the whole suite against the backend made by newDataSource.
func Run(t *testing.T, newDataSource Factory) {
	t.Run("Schema", func(t *testing.T) { t.Parallel(); testSchema(t, newDataSource) })
	t.Run("TaskManager", func(t *testing.T) { t.Parallel(); testTaskManager(t, newDataSource) })
	t.Run("Generation", func(t *testing.T) { t.Parallel(); testGeneration(t, newDataSource) })
	t.Run("Product", func(t *testing.T) { t.Parallel(); testProduct(t, newDataSource) })
	t.Run("Retention", func(t *testing.T) { t.Parallel(); testRetention(t, newDataSource) })
}

// NewTaskManager stores an instance of name with datestamp at.
func NewTaskManager(t *testing.T, ds datasource.DataSource, name string, at time.Time) *datasource.TaskManager {
	t.Helper()
	tm, err := ds.TaskManagerStore(context.Background(), &datasource.TaskManagerStoreParams{
		Name: name, TaskManagerID: uuid.NewString(), Datestamp: at,
	})
	require.NoError(t, err)
	return tm
}

// NewProduct returns a product with every header and metadata field set.
func NewProduct(key string, value []byte) *datasource.Product {
	return &datasource.Product{
		Key:                 key,
		Encoding:            1,
		Compression:         0,
		Value:               value,
		RawSize:             int64(len(value)),
		CreateTime:          T0,
		ExpirationTime:      T0.Add(30 * time.Minute),
		ScheduledCreateTime: T0.Add(-time.Second),
		Creator:             "suite",
		SchemaID:            7,
		State:               "NEW",
		GenerationTime:      T0.Add(time.Millisecond),
		MissedUpdateCount:   2,
	}
}

func put(t *testing.T, ds datasource.DataSource, tm *datasource.TaskManager, gen int64, ps ...*datasource.Product) {
	t.Helper()
	require.NoError(t, ds.ProductPut(context.Background(), &datasource.ProductPutParams{
		TaskManagerSeq: tm.SequenceID, Generation: gen, Products: ps,
	}))
}

func duplicate(t *testing.T, ds datasource.DataSource, tm *datasource.TaskManager, gen int64, at time.Time) int64 {
	t.Helper()
	g, err := ds.GenerationDuplicate(context.Background(), &datasource.GenerationDuplicateParams{
		TaskManagerSeq: tm.SequenceID, Generation: gen, At: at,
	})
	require.NoError(t, err)
	require.Equal(t, gen+1, g.Number)
	return g.Number
}

func get(t *testing.T, ds datasource.DataSource, tm *datasource.TaskManager, gen int64, key string) (*datasource.Product, error) {
	t.Helper()
	return ds.ProductGet(context.Background(), &datasource.ProductGetParams{TaskManagerSeq: tm.SequenceID, Generation: gen, Key: key})
}

func value(t *testing.T, ds datasource.DataSource, tm *datasource.TaskManager, gen int64, key string) string {
	t.Helper()
	p, err := get(t, ds, tm, gen, key)
	require.NoError(t, err)
	return string(p.Value)
}

func keys(t *testing.T, ds datasource.DataSource, tm *datasource.TaskManager, gen int64) []string {
	t.Helper()
	ps, err := ds.ProductList(context.Background(), &datasource.ProductListParams{TaskManagerSeq: tm.SequenceID, Generation: gen})
	require.NoError(t, err)
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Key)
	}
	return out
}

func testSchema(t *testing.T, newDataSource Factory) {
	ctx := context.Background()

	t.Run("MigrateTwiceIsSafe", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		v1, err := ds.SchemaVersion(ctx)
		require.NoError(t, err)
		require.GreaterOrEqual(t, v1, 1)
		require.NoError(t, ds.Migrate(ctx))
		require.NoError(t, ds.Migrate(ctx))
		v2, err := ds.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, v1, v2)
	})

	t.Run("ResetConnectionsAnyTime", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		require.NoError(t, ds.ResetConnections(ctx))
		tm := NewTaskManager(t, ds, "reset", T0)
		require.NoError(t, ds.ResetConnections(ctx))
		put(t, ds, tm, 1, NewProduct("a", []byte("1")))
		require.NoError(t, ds.ResetConnections(ctx))
		require.Equal(t, "1", value(t, ds, tm, 1, "a"))
	})

	t.Run("StatsCountRows", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "stats", T0)
		put(t, ds, tm, 1, NewProduct("a", []byte("12345")), NewProduct("b", []byte("678")))
		duplicate(t, ds, tm, 1, T0.Add(time.Minute))
		st, err := ds.Stats(ctx)
		require.NoError(t, err)
		require.GreaterOrEqual(t, st.SchemaVersion, 1)
		require.Equal(t, int64(1), st.TaskManagers)
		require.Equal(t, int64(2), st.Generations)
		require.Equal(t, int64(2), st.ProductVersions)
		require.Equal(t, int64(8), st.ValueBytes)
	})

	t.Run("CloseTwiceIsSafe", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		require.NoError(t, ds.Close())
		require.NoError(t, ds.Close())
	})
}

func testTaskManager(t *testing.T, newDataSource Factory) {
	ctx := context.Background()

	t.Run("StoreReturnsIncreasingSequenceIDs", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		a := NewTaskManager(t, ds, "a", T0)
		b := NewTaskManager(t, ds, "b", T0)
		c := NewTaskManager(t, ds, "a", T0.Add(time.Hour))
		require.Less(t, a.SequenceID, b.SequenceID)
		require.Less(t, b.SequenceID, c.SequenceID)
		require.Equal(t, int64(1), a.LastGeneration)
	})

	t.Run("StoreRejectsBadInput", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		_, err := ds.TaskManagerStore(ctx, &datasource.TaskManagerStoreParams{TaskManagerID: uuid.NewString(), Datestamp: T0})
		require.ErrorIs(t, err, datasource.ErrInvalid)
		tm := NewTaskManager(t, ds, "dup", T0)
		_, err = ds.TaskManagerStore(ctx, &datasource.TaskManagerStoreParams{Name: "dup", TaskManagerID: tm.TaskManagerID, Datestamp: T0})
		require.ErrorIs(t, err, datasource.ErrExists)
	})

	t.Run("GetByNameIsNewestInstance", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		NewTaskManager(t, ds, "tm", T0)
		newest := NewTaskManager(t, ds, "tm", T0.Add(time.Hour))
		NewTaskManager(t, ds, "other", T0.Add(2*time.Hour))
		got, err := ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: "tm"})
		require.NoError(t, err)
		require.Equal(t, newest, got)
	})

	t.Run("GetByNameAndIDIsThatInstance", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		old := NewTaskManager(t, ds, "tm", T0)
		NewTaskManager(t, ds, "tm", T0.Add(time.Hour))
		got, err := ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: "tm", TaskManagerID: old.TaskManagerID})
		require.NoError(t, err)
		require.Equal(t, old, got)
		require.Equal(t, T0, got.Datestamp)
	})

	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		_, err := ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: "nope"})
		require.ErrorIs(t, err, datasource.ErrNotFound)
		_, err = ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: "tm", TaskManagerID: uuid.NewString()})
		require.ErrorIs(t, err, datasource.ErrNotFound)
		_, err = ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: "other", TaskManagerID: tm.TaskManagerID})
		require.ErrorIs(t, err, datasource.ErrNotFound)
	})

	t.Run("ListByNameAndWindowOrderedByDatestamp", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		c := NewTaskManager(t, ds, "tm", T0.Add(2*time.Hour))
		a := NewTaskManager(t, ds, "tm", T0)
		b := NewTaskManager(t, ds, "tm", T0.Add(time.Hour))
		NewTaskManager(t, ds, "other", T0.Add(time.Hour))

		all, err := ds.TaskManagerList(ctx, &datasource.TaskManagerListParams{Name: "tm"})
		require.NoError(t, err)
		require.Equal(t, []*datasource.TaskManager{a, b, c}, all)

		window, err := ds.TaskManagerList(ctx, &datasource.TaskManagerListParams{Name: "tm", Start: T0.Add(time.Hour), End: T0.Add(2 * time.Hour)})
		require.NoError(t, err)
		require.Equal(t, []*datasource.TaskManager{b, c}, window)

		every, err := ds.TaskManagerList(ctx, &datasource.TaskManagerListParams{})
		require.NoError(t, err)
		require.Len(t, every, 4)

		none, err := ds.TaskManagerList(ctx, &datasource.TaskManagerListParams{Name: "tm", Start: T0.Add(10 * time.Hour)})
		require.NoError(t, err)
		require.Empty(t, none)
		none, err = ds.TaskManagerList(ctx, &datasource.TaskManagerListParams{Name: "nope"})
		require.NoError(t, err)
		require.Empty(t, none)
	})
}

func testGeneration(t *testing.T, newDataSource Factory) {
	ctx := context.Background()

	t.Run("NewInstanceStartsAtGenerationOne", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		last, err := ds.GenerationLatest(ctx, tm.SequenceID)
		require.NoError(t, err)
		require.Equal(t, int64(1), last)
		g, err := ds.GenerationGet(ctx, tm.SequenceID, 1)
		require.NoError(t, err)
		require.False(t, g.Sealed())
		require.Equal(t, T0, g.CreatedAt)
	})

	t.Run("DuplicateSealsAndOpensNext", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		duplicate(t, ds, tm, 1, T0.Add(time.Minute))
		duplicate(t, ds, tm, 2, T0.Add(2*time.Minute))

		last, err := ds.GenerationLatest(ctx, tm.SequenceID)
		require.NoError(t, err)
		require.Equal(t, int64(3), last)
		byName, err := ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: "tm"})
		require.NoError(t, err)
		require.Equal(t, int64(3), byName.LastGeneration)
		byID, err := ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: "tm", TaskManagerID: tm.TaskManagerID})
		require.NoError(t, err)
		require.Equal(t, int64(3), byID.LastGeneration)

		g1, err := ds.GenerationGet(ctx, tm.SequenceID, 1)
		require.NoError(t, err)
		require.Equal(t, T0.Add(time.Minute), g1.SealedAt)
		gens, err := ds.GenerationList(ctx, &datasource.GenerationListParams{TaskManagerSeq: tm.SequenceID})
		require.NoError(t, err)
		require.Len(t, gens, 3)
		require.True(t, gens[0].Sealed())
		require.True(t, gens[1].Sealed())
		require.False(t, gens[2].Sealed())
		require.Equal(t, T0.Add(2*time.Minute), gens[2].CreatedAt)

		page, err := ds.GenerationList(ctx, &datasource.GenerationListParams{TaskManagerSeq: tm.SequenceID, After: 1, Limit: 1})
		require.NoError(t, err)
		require.Len(t, page, 1)
		require.Equal(t, int64(2), page[0].Number)
	})

	t.Run("DuplicateOfSealedGenerationFails", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		duplicate(t, ds, tm, 1, T0)
		_, err := ds.GenerationDuplicate(ctx, &datasource.GenerationDuplicateParams{TaskManagerSeq: tm.SequenceID, Generation: 1, At: T0})
		require.ErrorIs(t, err, datasource.ErrSealed)
	})

	t.Run("UnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		_, err := ds.GenerationDuplicate(ctx, &datasource.GenerationDuplicateParams{TaskManagerSeq: 999, Generation: 1, At: T0})
		require.ErrorIs(t, err, datasource.ErrNotFound)
		_, err = ds.GenerationLatest(ctx, 999)
		require.ErrorIs(t, err, datasource.ErrNotFound)
		tm := NewTaskManager(t, ds, "tm", T0)
		_, err = ds.GenerationGet(ctx, tm.SequenceID, 2)
		require.ErrorIs(t, err, datasource.ErrNotFound)
		gens, err := ds.GenerationList(ctx, &datasource.GenerationListParams{TaskManagerSeq: 999})
		require.NoError(t, err)
		require.Empty(t, gens)
	})

	t.Run("ConcurrentDuplicatesNeverOpenTheSameNumber", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		const workers = 8
		const rounds = 5
		var (
			mu     sync.Mutex
			opened = map[int64]int{}
			wg     sync.WaitGroup
		)
		for range workers {
			wg.Go(func() {
				for range rounds {
					last, err := ds.GenerationLatest(ctx, tm.SequenceID)
					if err != nil {
						t.Error(err)
						return
					}
					g, err := ds.GenerationDuplicate(ctx, &datasource.GenerationDuplicateParams{TaskManagerSeq: tm.SequenceID, Generation: last, At: T0})
					if errors.Is(err, datasource.ErrSealed) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					opened[g.Number]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		last, err := ds.GenerationLatest(ctx, tm.SequenceID)
		require.NoError(t, err)
		require.Len(t, opened, int(last-1), "every successful duplicate opened a distinct generation")
		for n, count := range opened {
			require.Equal(t, 1, count, "generation %d opened %d times", n, count)
		}
		gens, err := ds.GenerationList(ctx, &datasource.GenerationListParams{TaskManagerSeq: tm.SequenceID})
		require.NoError(t, err)
		require.Len(t, gens, int(last))
	})
}

func testProduct(t *testing.T, newDataSource Factory) {
	ctx := context.Background()

	t.Run("PutThenGetEveryField", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		want := NewProduct("k", []byte("value"))
		put(t, ds, tm, 1, want)

		got, err := get(t, ds, tm, 1, "k")
		require.NoError(t, err)
		require.Equal(t, tm.SequenceID, got.TaskManagerSeq)
		require.Equal(t, int64(1), got.FirstGeneration)
		require.Equal(t, datasource.OpenGeneration, got.LastGeneration)
		require.Equal(t, want.Encoding, got.Encoding)
		require.Equal(t, want.Compression, got.Compression)
		require.Equal(t, want.Value, got.Value)
		require.Equal(t, int64(5), got.StoredSize)
		require.Equal(t, want.RawSize, got.RawSize)
		require.Equal(t, want.CreateTime, got.CreateTime)
		require.Equal(t, want.ExpirationTime, got.ExpirationTime)
		require.Equal(t, want.ScheduledCreateTime, got.ScheduledCreateTime)
		require.Equal(t, want.Creator, got.Creator)
		require.Equal(t, want.SchemaID, got.SchemaID)
		require.Equal(t, want.State, got.State)
		require.Equal(t, want.GenerationTime, got.GenerationTime)
		require.Equal(t, want.MissedUpdateCount, got.MissedUpdateCount)

		header, err := ds.ProductGet(ctx, &datasource.ProductGetParams{TaskManagerSeq: tm.SequenceID, Generation: 1, Key: "k", WithoutValue: true})
		require.NoError(t, err)
		require.Nil(t, header.Value)
		require.Equal(t, int64(5), header.StoredSize)
		require.Equal(t, want.Creator, header.Creator)
		require.Equal(t, want.State, header.State)
	})

	t.Run("BytesRoundTripExactly", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		values := map[string][]byte{
			"nul":     {0, 1, 0, 255, 0},
			"unicode": []byte("€ ünïcödé 漢字 🚀"),
			"empty":   {},
			"large":   bytes.Repeat([]byte{0, 'x', 0xfe}, 100_000),
		}
		var ps []*datasource.Product
		for k, v := range values {
			ps = append(ps, NewProduct(k, v))
		}
		put(t, ds, tm, 1, ps...)
		for k, v := range values {
			got, err := get(t, ds, tm, 1, k)
			require.NoError(t, err)
			require.True(t, bytes.Equal(v, got.Value), "value of %q changed", k)
		}
	})

	t.Run("InheritedProductReadsInLaterGenerations", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		put(t, ds, tm, 1, NewProduct("a", []byte("a1")), NewProduct("b", []byte("b1")))
		for g := int64(1); g < 6; g++ {
			duplicate(t, ds, tm, g, T0.Add(time.Duration(g)*time.Minute))
		}
		require.Equal(t, "a1", value(t, ds, tm, 6, "a"))
		require.Equal(t, []string{"a", "b"}, keys(t, ds, tm, 6))
		history, err := ds.ProductHistory(ctx, &datasource.ProductHistoryParams{TaskManagerSeq: tm.SequenceID})
		require.NoError(t, err)
		require.Len(t, history, 2, "duplicate must not copy product rows")
	})

	t.Run("RewriteInNextGenerationLeavesOldOneUnchanged", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		put(t, ds, tm, 1, NewProduct("a", []byte("a1")), NewProduct("b", []byte("b1")))
		duplicate(t, ds, tm, 1, T0)
		put(t, ds, tm, 2, NewProduct("a", []byte("a2")), NewProduct("c", []byte("c2")))

		require.Equal(t, "a1", value(t, ds, tm, 1, "a"))
		require.Equal(t, "a2", value(t, ds, tm, 2, "a"))
		require.Equal(t, "b1", value(t, ds, tm, 2, "b"))
		require.Equal(t, []string{"a", "b"}, keys(t, ds, tm, 1))
		require.Equal(t, []string{"a", "b", "c"}, keys(t, ds, tm, 2))
		_, err := get(t, ds, tm, 1, "c")
		require.ErrorIs(t, err, datasource.ErrNotFound)

		old, err := get(t, ds, tm, 1, "a")
		require.NoError(t, err)
		require.Equal(t, int64(1), old.FirstGeneration)
		require.Equal(t, int64(2), old.LastGeneration)
	})

	t.Run("SecondPutInSameGenerationReplaces", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		put(t, ds, tm, 1, NewProduct("a", []byte("a1")))
		duplicate(t, ds, tm, 1, T0)
		put(t, ds, tm, 2, NewProduct("a", []byte("first")))
		put(t, ds, tm, 2, NewProduct("a", []byte("second")))
		require.Equal(t, "second", value(t, ds, tm, 2, "a"))
		require.Equal(t, "a1", value(t, ds, tm, 1, "a"))
		history, err := ds.ProductHistory(ctx, &datasource.ProductHistoryParams{TaskManagerSeq: tm.SequenceID, Key: "a", WithValues: true})
		require.NoError(t, err)
		require.Len(t, history, 2)
		require.Equal(t, "a1", string(history[0].Value))
		require.Equal(t, "second", string(history[1].Value))
	})

	t.Run("LastOfDuplicateKeysInBatchWins", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		put(t, ds, tm, 1, NewProduct("a", []byte("x")), NewProduct("b", []byte("b")), NewProduct("a", []byte("y")))
		require.Equal(t, "y", value(t, ds, tm, 1, "a"))
		require.Equal(t, []string{"a", "b"}, keys(t, ds, tm, 1))
	})

	t.Run("PutIntoSealedGenerationFails", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		put(t, ds, tm, 1, NewProduct("a", []byte("a1")))
		duplicate(t, ds, tm, 1, T0)
		err := ds.ProductPut(ctx, &datasource.ProductPutParams{TaskManagerSeq: tm.SequenceID, Generation: 1,
			Products: []*datasource.Product{NewProduct("a", []byte("late"))}})
		require.ErrorIs(t, err, datasource.ErrSealed)
		require.Equal(t, "a1", value(t, ds, tm, 1, "a"))
		require.Equal(t, "a1", value(t, ds, tm, 2, "a"))
	})

	t.Run("PutRejectsBadInput", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		err := ds.ProductPut(ctx, &datasource.ProductPutParams{TaskManagerSeq: 999, Generation: 1,
			Products: []*datasource.Product{NewProduct("a", nil)}})
		require.ErrorIs(t, err, datasource.ErrNotFound, "an update for an unknown task manager fails")
		err = ds.ProductPut(ctx, &datasource.ProductPutParams{TaskManagerSeq: tm.SequenceID, Generation: 1,
			Products: []*datasource.Product{NewProduct("", nil)}})
		require.ErrorIs(t, err, datasource.ErrInvalid)
		err = ds.ProductPut(ctx, &datasource.ProductPutParams{TaskManagerSeq: tm.SequenceID, Generation: 1})
		require.ErrorIs(t, err, datasource.ErrInvalid)
		err = ds.ProductPut(ctx, &datasource.ProductPutParams{TaskManagerSeq: tm.SequenceID, Generation: 2,
			Products: []*datasource.Product{NewProduct("a", nil)}})
		require.ErrorIs(t, err, datasource.ErrSealed, "a generation that is not open yet is not writable")
	})

	t.Run("BatchIsAllOrNothing", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		put(t, ds, tm, 1, NewProduct("p0000", []byte("old")))
		duplicate(t, ds, tm, 1, T0)

		var batch []*datasource.Product
		for i := range 100 {
			batch = append(batch, NewProduct(fmt.Sprintf("p%04d", i), []byte("new")))
		}
		// The database itself rejects row 50 (encoding out of range): the
		// failure happens mid-batch, after earlier rows were sent.
		batch[50].Encoding = 99
		err := ds.ProductPut(ctx, &datasource.ProductPutParams{TaskManagerSeq: tm.SequenceID, Generation: 2, Products: batch})
		require.Error(t, err)
		require.Equal(t, []string{"p0000"}, keys(t, ds, tm, 2), "nothing of a failed batch is visible")
		require.Equal(t, "old", value(t, ds, tm, 2, "p0000"))

		// A context cancelled while the batch is written leaves nothing either.
		batch[50].Encoding = 1
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err = ds.ProductPut(cctx, &datasource.ProductPutParams{TaskManagerSeq: tm.SequenceID, Generation: 2, Products: batch})
		require.Error(t, err)
		require.Equal(t, []string{"p0000"}, keys(t, ds, tm, 2))

		put(t, ds, tm, 2, batch...)
		require.Len(t, keys(t, ds, tm, 2), 100)
		require.Equal(t, "old", value(t, ds, tm, 1, "p0000"))
	})

	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		put(t, ds, tm, 1, NewProduct("a", []byte("1")))
		_, err := get(t, ds, tm, 1, "nope")
		require.ErrorIs(t, err, datasource.ErrNotFound)
		_, err = get(t, ds, tm, 2, "a")
		require.ErrorIs(t, err, datasource.ErrNotFound, "a generation not opened yet")
		_, err = get(t, ds, tm, 0, "a")
		require.ErrorIs(t, err, datasource.ErrNotFound)
		_, err = ds.ProductGet(ctx, &datasource.ProductGetParams{TaskManagerSeq: 999, Generation: 1, Key: "a", WithoutValue: true})
		require.ErrorIs(t, err, datasource.ErrNotFound)
		ps, err := ds.ProductList(ctx, &datasource.ProductListParams{TaskManagerSeq: 999, Generation: 1})
		require.NoError(t, err)
		require.Empty(t, ps)
	})

	t.Run("HistoryInInsertionOrder", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		put(t, ds, tm, 1, NewProduct("z", []byte("z1")))
		put(t, ds, tm, 1, NewProduct("a", []byte("a1")))
		duplicate(t, ds, tm, 1, T0)
		put(t, ds, tm, 2, NewProduct("z", []byte("z2")))

		all, err := ds.ProductHistory(ctx, &datasource.ProductHistoryParams{TaskManagerSeq: tm.SequenceID, WithValues: true})
		require.NoError(t, err)
		var got []string
		for _, p := range all {
			got = append(got, string(p.Value))
		}
		require.Equal(t, []string{"z1", "a1", "z2"}, got)

		one, err := ds.ProductHistory(ctx, &datasource.ProductHistoryParams{TaskManagerSeq: tm.SequenceID, Key: "z"})
		require.NoError(t, err)
		require.Len(t, one, 2)
		require.Nil(t, one[0].Value)
		require.Equal(t, [2]int64{1, 2}, [2]int64{one[0].FirstGeneration, one[0].LastGeneration})
		require.Equal(t, [2]int64{2, datasource.OpenGeneration}, [2]int64{one[1].FirstGeneration, one[1].LastGeneration})

		none, err := ds.ProductHistory(ctx, &datasource.ProductHistoryParams{TaskManagerSeq: 999})
		require.NoError(t, err)
		require.Empty(t, none)
		none, err = ds.ProductHistory(ctx, &datasource.ProductHistoryParams{TaskManagerSeq: tm.SequenceID, Key: "nope"})
		require.NoError(t, err)
		require.Empty(t, none)
	})

	t.Run("MarkExpiredAndListExpired", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := NewTaskManager(t, ds, "tm", T0)
		put(t, ds, tm, 1, NewProduct("a", []byte("1")), NewProduct("b", []byte("2")))
		at := T0.Add(time.Minute)

		expired, err := ds.ProductExpired(ctx, &datasource.ProductExpiredParams{TaskManagerSeq: tm.SequenceID, Generation: 1, At: at})
		require.NoError(t, err)
		require.Empty(t, expired)

		require.NoError(t, ds.ProductMarkExpired(ctx, &datasource.ProductMarkExpiredParams{TaskManagerSeq: tm.SequenceID, Generation: 1, Key: "b", At: at}))
		expired, err = ds.ProductExpired(ctx, &datasource.ProductExpiredParams{TaskManagerSeq: tm.SequenceID, Generation: 1, At: at})
		require.NoError(t, err)
		require.Len(t, expired, 1)
		require.Equal(t, "b", expired[0].Key)
		require.Equal(t, at, expired[0].ExpirationTime)

		// Every product expires eventually (create + 30 min here).
		expired, err = ds.ProductExpired(ctx, &datasource.ProductExpiredParams{TaskManagerSeq: tm.SequenceID, Generation: 1, At: T0.Add(time.Hour)})
		require.NoError(t, err)
		require.Len(t, expired, 2)

		err = ds.ProductMarkExpired(ctx, &datasource.ProductMarkExpiredParams{TaskManagerSeq: tm.SequenceID, Generation: 1, Key: "nope", At: at})
		require.ErrorIs(t, err, datasource.ErrNotFound)
	})
}

func testRetention(t *testing.T, newDataSource Factory) {
	ctx := context.Background()
	day := 24 * time.Hour

	t.Run("HorizonIsRequired", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		_, err := ds.DataDeleteBefore(ctx, &datasource.DataDeleteParams{})
		require.ErrorIs(t, err, datasource.ErrInvalid)
		require.ErrorContains(t, err, "must be positive")
	})

	// build makes a live instance "tm" with generations 1..4 created a day
	// apart from T0, where "a" changes in every generation and "b" is
	// written once in generation 1.
	build := func(t *testing.T, ds datasource.DataSource) *datasource.TaskManager {
		tm := NewTaskManager(t, ds, "tm", T0)
		put(t, ds, tm, 1, NewProduct("a", []byte("a1")), NewProduct("b", []byte("b1")))
		for g := int64(1); g < 4; g++ {
			duplicate(t, ds, tm, g, T0.Add(time.Duration(g)*day))
			put(t, ds, tm, g+1, NewProduct("a", fmt.Appendf(nil, "a%d", g+1)))
		}
		return tm
	}

	t.Run("DeletesOldGenerationsKeepsWhatKeptOnesUse", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := build(t, ds)
		// Generations 1 and 2 are older than the horizon.
		res, err := ds.DataDeleteBefore(ctx, &datasource.DataDeleteParams{Horizon: T0.Add(2*day - time.Second)})
		require.NoError(t, err)
		require.Equal(t, int64(2), res.Generations)
		require.Equal(t, int64(2), res.ProductVersions, "a1 and a2; b1 is still valid in kept generations")
		require.Equal(t, int64(4), res.ProductBytes)
		require.Zero(t, res.TaskManagers)

		_, err = get(t, ds, tm, 1, "a")
		require.ErrorIs(t, err, datasource.ErrNotFound)
		require.Equal(t, "a3", value(t, ds, tm, 3, "a"))
		require.Equal(t, "b1", value(t, ds, tm, 3, "b"))
		require.Equal(t, "b1", value(t, ds, tm, 4, "b"))
		gens, err := ds.GenerationList(ctx, &datasource.GenerationListParams{TaskManagerSeq: tm.SequenceID})
		require.NoError(t, err)
		require.Len(t, gens, 2)
		require.Equal(t, int64(3), gens[0].Number)
	})

	t.Run("KeepsNewestGenerationOfLiveInstance", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := build(t, ds)
		res, err := ds.DataDeleteBefore(ctx, &datasource.DataDeleteParams{Horizon: T0.Add(100 * day)})
		require.NoError(t, err)
		require.Equal(t, int64(3), res.Generations)
		require.Equal(t, int64(3), res.ProductVersions)
		require.Equal(t, []string{"a", "b"}, keys(t, ds, tm, 4))
		require.Equal(t, "a4", value(t, ds, tm, 4, "a"))
		got, err := ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: "tm"})
		require.NoError(t, err)
		require.Equal(t, int64(4), got.LastGeneration)

		again, err := ds.DataDeleteBefore(ctx, &datasource.DataDeleteParams{Horizon: T0.Add(100 * day)})
		require.NoError(t, err)
		require.Zero(t, again.ProductVersions+again.Generations+again.TaskManagers, "a second run finds nothing")
	})

	t.Run("DeletesSupersededInstanceWhole", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		old := build(t, ds)
		fresh := NewTaskManager(t, ds, "tm", T0.Add(50*day))
		put(t, ds, fresh, 1, NewProduct("a", []byte("fresh")))
		res, err := ds.DataDeleteBefore(ctx, &datasource.DataDeleteParams{Horizon: T0.Add(40 * day)})
		require.NoError(t, err)
		require.Equal(t, int64(1), res.TaskManagers)
		require.Equal(t, int64(4), res.Generations)
		require.Equal(t, int64(5), res.ProductVersions)
		_, err = ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: "tm", TaskManagerID: old.TaskManagerID})
		require.ErrorIs(t, err, datasource.ErrNotFound)
		require.Equal(t, "fresh", value(t, ds, fresh, 1, "a"))
	})

	t.Run("DryRunCountsWithoutDeleting", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		tm := build(t, ds)
		res, err := ds.DataDeleteBefore(ctx, &datasource.DataDeleteParams{Horizon: T0.Add(100 * day), DryRun: true})
		require.NoError(t, err)
		require.Equal(t, int64(3), res.Generations)
		require.Equal(t, int64(3), res.ProductVersions)
		require.Equal(t, "a1", value(t, ds, tm, 1, "a"))
	})

	t.Run("DeletesInBoundedBatches", func(t *testing.T) {
		t.Parallel()
		ds := newDataSource(t)
		var ps []*datasource.Product
		for i := range 10 {
			ps = append(ps, NewProduct(fmt.Sprintf("k%d", i), []byte("v")))
		}
		old := NewTaskManager(t, ds, "tm", T0)
		put(t, ds, old, 1, ps...)
		NewTaskManager(t, ds, "tm", T0.Add(10*day))
		res, err := ds.DataDeleteBefore(ctx, &datasource.DataDeleteParams{Horizon: T0.Add(5 * day), BatchSize: 3})
		require.NoError(t, err)
		require.Equal(t, int64(10), res.ProductVersions)
		require.GreaterOrEqual(t, res.Batches, 4, "10 rows in batches of 3")
		require.Equal(t, int64(1), res.TaskManagers)
	})
}
