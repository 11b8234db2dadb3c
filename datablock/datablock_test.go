package datablock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/datasource/sqlite"
)

type testClock struct{ t time.Time }

func (c *testClock) Now() time.Time          { return c.t }
func (c *testClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 987654000, time.UTC)

func newStore(t *testing.T) datasource.DataSource {
	t.Helper()
	ds, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "strata.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	require.NoError(t, ds.Migrate(context.Background()))
	return ds
}

func setup(t *testing.T) (*datablock.DataBlock, *testClock, datasource.DataSource) {
	t.Helper()
	ds := newStore(t)
	clock := &testClock{t: t0}
	b, err := datablock.Open(context.Background(), ds, "channel", &datablock.Options{Clock: clock.Now})
	require.NoError(t, err)
	return b, clock, ds
}

func TestDataBlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("PutGetKeysHasHeaderMetadata", func(t *testing.T) {
		t.Parallel()
		b, _, _ := setup(t)
		require.Equal(t, int64(1), b.Generation())
		require.NoError(t, b.Put(ctx, "jobs", map[string]int{"idle": 3}))
		require.NoError(t, b.Put(ctx, "blob", []byte{0, 1, 2}))

		got, err := datablock.Get[map[string]int](ctx, b, "jobs")
		require.NoError(t, err)
		require.Equal(t, map[string]int{"idle": 3}, got)
		blob, err := datablock.Get[[]byte](ctx, b, "blob")
		require.NoError(t, err)
		require.Equal(t, []byte{0, 1, 2}, blob)

		keys, err := b.Keys(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"blob", "jobs"}, keys)
		has, err := b.Has(ctx, "jobs")
		require.NoError(t, err)
		require.True(t, has)
		has, err = b.Has(ctx, "nope")
		require.NoError(t, err)
		require.False(t, has)

		h, err := b.Header(ctx, "jobs")
		require.NoError(t, err)
		require.Equal(t, datablock.Header{CreateTime: t0, ExpirationTime: t0.Add(30 * time.Minute), ScheduledCreateTime: t0, Creator: "channel"}, *h)
		m, err := b.Metadata(ctx, "jobs")
		require.NoError(t, err)
		require.Equal(t, datablock.Metadata{State: datablock.StateNew, GenerationID: 1, GenerationTime: t0}, *m)
	})

	t.Run("UnknownKeyIsNotFound", func(t *testing.T) {
		t.Parallel()
		b, _, _ := setup(t)
		_, err := datablock.Get[int](ctx, b, "nope")
		require.ErrorIs(t, err, datasource.ErrNotFound)
		require.ErrorContains(t, err, `"nope" gen 1 of taskmanager "channel"`)
		_, err = b.Header(ctx, "nope")
		require.ErrorIs(t, err, datasource.ErrNotFound)
		_, err = b.Metadata(ctx, "nope")
		require.ErrorIs(t, err, datasource.ErrNotFound)
		_, err = b.GetBytes(ctx, "nope")
		require.ErrorIs(t, err, datasource.ErrNotFound)
	})

	t.Run("HeaderAndMetadataAsGiven", func(t *testing.T) {
		t.Parallel()
		b, _, _ := setup(t)
		h := &datablock.Header{CreateTime: t0.Add(-time.Hour), ExpirationTime: t0.Add(time.Hour), ScheduledCreateTime: t0.Add(-2 * time.Hour), Creator: "src", SchemaID: 4}
		m := &datablock.Metadata{State: datablock.StateEndCycle, GenerationTime: t0.Add(-time.Minute), MissedUpdateCount: 3}
		require.NoError(t, b.PutItems(ctx, datablock.Item{Key: "k", Value: 1, Header: h, Metadata: m}))
		gotH, err := b.Header(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, *h, *gotH)
		gotM, err := b.Metadata(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, datablock.Metadata{State: datablock.StateEndCycle, GenerationID: 1, GenerationTime: t0.Add(-time.Minute), MissedUpdateCount: 3}, *gotM)
	})

	t.Run("InvalidStateIsTypedError", func(t *testing.T) {
		t.Parallel()
		b, _, _ := setup(t)
		err := b.PutItems(ctx, datablock.Item{Key: "k", Value: 1, Metadata: &datablock.Metadata{State: "DONE"}})
		var se *datablock.InvalidStateError
		require.ErrorAs(t, err, &se)
		require.Equal(t, "DONE", se.State)
		require.ErrorIs(t, err, datablock.ErrInvalidState)
		require.NoError(t, datablock.StateStartBackup.Validate())
	})

	t.Run("DuplicateKeepsProductsAndSealsOldGeneration", func(t *testing.T) {
		t.Parallel()
		b, clock, _ := setup(t)
		require.NoError(t, b.Put(ctx, "a", "a1"))
		require.NoError(t, b.Put(ctx, "b", "b1"))
		clock.Advance(time.Minute)
		next, err := b.Duplicate(ctx)
		require.NoError(t, err)
		require.Equal(t, b.Generation()+1, next.Generation())
		require.Equal(t, b.TaskManager().SequenceID, next.TaskManager().SequenceID)
		oldKeys, err := b.Keys(ctx)
		require.NoError(t, err)
		newKeys, err := next.Keys(ctx)
		require.NoError(t, err)
		require.Equal(t, oldKeys, newKeys)
		for _, k := range oldKeys {
			ov, err := datablock.Get[string](ctx, b, k)
			require.NoError(t, err)
			nv, err := datablock.Get[string](ctx, next, k)
			require.NoError(t, err)
			require.Equal(t, ov, nv)
		}

		require.NoError(t, next.Put(ctx, "a", "a2"))
		v, err := datablock.Get[string](ctx, b, "a")
		require.NoError(t, err)
		require.Equal(t, "a1", v, "the sealed generation is unchanged")

		err = b.Put(ctx, "a", "late")
		require.ErrorIs(t, err, datasource.ErrSealed)
		require.ErrorContains(t, err, `"a" gen 1 of taskmanager "channel"`)
		_, err = b.Duplicate(ctx)
		require.ErrorIs(t, err, datasource.ErrSealed)
		latest, err := b.Latest(ctx)
		require.NoError(t, err)
		require.Equal(t, next.Generation(), latest.Generation(), "the sealed block finds the newest generation")
		require.Equal(t, next.Generation(), latest.TaskManager().LastGeneration)
		v, err = datablock.Get[string](ctx, latest, "a")
		require.NoError(t, err)
		require.Equal(t, "a2", v)

		history, err := next.History(ctx, "a")
		require.NoError(t, err)
		require.Len(t, history, 2)
		require.Equal(t, int64(1), history[0].FirstGeneration)
		require.Equal(t, int64(2), history[0].LastGeneration)
		require.Equal(t, int64(2), history[1].Metadata.GenerationID)
	})

	t.Run("OpenContinuesNewestInstanceAndGeneration", func(t *testing.T) {
		t.Parallel()
		b, _, ds := setup(t)
		require.NoError(t, b.Put(ctx, "a", 1))
		_, err := b.Duplicate(ctx)
		require.NoError(t, err)
		again, err := datablock.Open(ctx, ds, "channel", nil)
		require.NoError(t, err)
		require.Equal(t, b.TaskManager().TaskManagerID, again.TaskManager().TaskManagerID)
		require.Equal(t, int64(2), again.Generation())
		v, err := datablock.Get[int](ctx, again, "a")
		require.NoError(t, err)
		require.Equal(t, 1, v)

		fresh, err := datablock.New(ctx, ds, "channel", nil)
		require.NoError(t, err)
		require.Equal(t, int64(1), fresh.Generation())
		require.NotEqual(t, b.TaskManager().TaskManagerID, fresh.TaskManager().TaskManagerID)
		reopened, err := datablock.Open(ctx, ds, "channel", nil)
		require.NoError(t, err)
		require.Equal(t, fresh.TaskManager().TaskManagerID, reopened.TaskManager().TaskManagerID)

		old, err := again.At(ctx, 1)
		require.NoError(t, err)
		require.Equal(t, int64(1), old.Generation())
		_, err = again.At(ctx, 9)
		require.ErrorIs(t, err, datasource.ErrNotFound)
	})

	t.Run("BatchPutIsAllOrNothing", func(t *testing.T) {
		t.Parallel()
		b, _, _ := setup(t)
		err := b.PutItems(ctx,
			datablock.Item{Key: "ok", Value: 1},
			datablock.Item{Key: "bad", Value: func() {}})
		require.ErrorIs(t, err, datablock.ErrCodec)
		require.ErrorContains(t, err, `"bad" gen 1 of taskmanager "channel"`)
		keys, err := b.Keys(ctx)
		require.NoError(t, err)
		require.Empty(t, keys)
	})

	t.Run("ExpiryFollowsTheClock", func(t *testing.T) {
		t.Parallel()
		b, clock, _ := setup(t)
		require.NoError(t, b.Put(ctx, "a", 1))
		require.NoError(t, b.Put(ctx, "b", 2))
		expired, err := b.IsExpired(ctx, "a")
		require.NoError(t, err)
		require.False(t, expired)
		clock.Advance(time.Minute)
		require.NoError(t, b.MarkExpired(ctx, "a"))
		expired, err = b.IsExpired(ctx, "a")
		require.NoError(t, err)
		require.True(t, expired)
		expired, err = b.IsExpired(ctx, "b")
		require.NoError(t, err)
		require.False(t, expired)
		clock.Advance(30 * time.Minute)
		expired, err = b.IsExpired(ctx, "b")
		require.NoError(t, err)
		require.True(t, expired, "expiration defaults to create + 30 min")
		require.ErrorIs(t, b.MarkExpired(ctx, "nope"), datasource.ErrNotFound)
	})

	t.Run("CorruptValueNamesTaskManagerGenerationAndKey", func(t *testing.T) {
		t.Parallel()
		b, _, ds := setup(t)
		require.NoError(t, ds.ProductPut(ctx, &datasource.ProductPutParams{
			TaskManagerSeq: b.TaskManager().SequenceID, Generation: 1,
			Products: []*datasource.Product{{Key: "broken", Encoding: uint8(datablock.EncodingJSON), Compression: uint8(datablock.CompressionZstd),
				Value: []byte("not zstd at all"), State: "NEW", CreateTime: t0, ExpirationTime: t0, ScheduledCreateTime: t0, GenerationTime: t0}},
		}))
		_, err := datablock.Get[int](ctx, b, "broken")
		require.ErrorIs(t, err, datablock.ErrCodec)
		require.ErrorContains(t, err, `"broken" gen 1 of taskmanager "channel"`)
		_, err = b.Snapshot(ctx)
		require.ErrorIs(t, err, datablock.ErrCodec)

		require.NoError(t, b.Put(ctx, "text", "hello"))
		_, err = datablock.Get[int](ctx, b, "text")
		require.ErrorIs(t, err, datablock.ErrCodec, "a value decoded into the wrong type")
	})

	t.Run("OversizedValueIsRejected", func(t *testing.T) {
		t.Parallel()
		ds := newStore(t)
		b, err := datablock.Open(ctx, ds, "small", &datablock.Options{MaxValueBytes: 100, Compression: "none"})
		require.NoError(t, err)
		err = b.Put(ctx, "big", strings.Repeat("x", 1000))
		require.ErrorIs(t, err, datablock.ErrTooLarge)
		require.ErrorContains(t, err, `"big" gen 1 of taskmanager "small"`)
		has, err := b.Has(ctx, "big")
		require.NoError(t, err)
		require.False(t, has)

		// A limit of MaxInt64 (no limit) does not overflow into one that
		// refuses everything.
		unlimited, err := datablock.Open(ctx, ds, "unlimited", &datablock.Options{MaxValueBytes: math.MaxInt64})
		require.NoError(t, err)
		require.NoError(t, unlimited.Put(ctx, "big", strings.Repeat("x", 1000)))
	})

	t.Run("EmptyNameAndKeyAreRejected", func(t *testing.T) {
		t.Parallel()
		b, _, ds := setup(t)
		_, err := datablock.Open(ctx, ds, "", nil)
		require.ErrorIs(t, err, datasource.ErrInvalid)
		require.ErrorIs(t, b.Put(ctx, "", 1), datasource.ErrInvalid)
		_, err = datablock.Open(ctx, ds, "x", &datablock.Options{Compression: "lz4"})
		require.ErrorIs(t, err, datablock.ErrCodec)
	})

	t.Run("SnapshotIsReadableJSON", func(t *testing.T) {
		t.Parallel()
		b, _, _ := setup(t)
		require.NoError(t, b.Put(ctx, "a", map[string]any{"x": 1}))
		require.NoError(t, b.Put(ctx, "raw", []byte("hi")))
		s, err := b.Snapshot(ctx)
		require.NoError(t, err)
		out, err := json.Marshal(s)
		require.NoError(t, err)
		require.Contains(t, string(out), `"value":{"x":1}`)
		require.Contains(t, string(out), `"value":"aGk="`)
		require.Contains(t, b.String(), `taskmanager="channel"`)
		require.Contains(t, b.String(), `generation=1`)
	})
}

type record struct {
	Name   string            `json:"name"`
	Count  int64             `json:"count"`
	Big    uint64            `json:"big"`
	Ratio  float64           `json:"ratio"`
	When   time.Time         `json:"when"`
	Nested map[string][]any  `json:"nested"`
	Tags   map[string]string `json:"tags"`
}

func TestValuesRoundTripExactly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, compression := range []string{"zstd", "zlib", "none"} {
		t.Run(compression, func(t *testing.T) {
			t.Parallel()
			ds := newStore(t)
			b, err := datablock.Open(ctx, ds, "rt", &datablock.Options{Compression: compression})
			require.NoError(t, err)
			want := record{
				Name:   "NUL\x00byte € ünïcödé 🚀 <html> & \"quotes\"",
				Count:  math.MaxInt64,
				Big:    math.MaxUint64,
				Ratio:  0.1 + 0.2,
				When:   time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600)),
				Nested: map[string][]any{"list": {"a", map[string]any{"deep": true}}},
				Tags:   map[string]string{strings.Repeat("k", 300): strings.Repeat("v", 3000)},
			}
			require.NoError(t, b.Put(ctx, "record", want))
			got, err := datablock.Get[record](ctx, b, "record")
			require.NoError(t, err)
			require.True(t, want.When.Equal(got.When))
			require.Equal(t, want.When.Nanosecond(), got.When.Nanosecond())
			want.When, got.When = time.Time{}, time.Time{}
			require.Equal(t, want, got)

			// Decoded into any, integers keep every digit.
			require.NoError(t, b.Put(ctx, "ints", map[string]any{"max": uint64(math.MaxUint64), "min": int64(math.MinInt64)}))
			var loose map[string]any
			require.NoError(t, b.Get(ctx, "ints", &loose))
			require.Equal(t, json.Number("18446744073709551615"), loose["max"])
			require.Equal(t, json.Number("-9223372036854775808"), loose["min"])

			raw := []byte{0, 0, 0, 0xff, 'x', 0}
			require.NoError(t, b.Put(ctx, "bytes", raw))
			gotRaw, err := b.GetBytes(ctx, "bytes")
			require.NoError(t, err)
			require.Equal(t, raw, gotRaw)
		})
	}
}

func TestOldCompressionStaysReadable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ds := newStore(t)
	old, err := datablock.Open(ctx, ds, "tm", &datablock.Options{Compression: "zlib"})
	require.NoError(t, err)
	value := strings.Repeat("compressible ", 100)
	require.NoError(t, old.Put(ctx, "k", value))
	products, err := old.Products(ctx)
	require.NoError(t, err)
	require.Equal(t, datablock.CompressionZlib, products[0].Compression)
	require.Less(t, products[0].StoredSize, products[0].RawSize)

	current, err := datablock.Open(ctx, ds, "tm", nil) // default: zstd
	require.NoError(t, err)
	got, err := datablock.Get[string](ctx, current, "k")
	require.NoError(t, err)
	require.Equal(t, value, got)
}

func TestParseCompression(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want datablock.Compression
		err  bool
	}{
		{"", datablock.CompressionZstd, false},
		{"zstd", datablock.CompressionZstd, false},
		{"zlib", datablock.CompressionZlib, false},
		{"none", datablock.CompressionNone, false},
		{"gzip", 0, true},
	}
	for _, tt := range tests {
		got, err := datablock.ParseCompression(tt.in)
		if tt.err {
			require.True(t, errors.Is(err, datablock.ErrCodec), tt.in)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
		require.Equal(t, tt.want, must(datablock.ParseCompression(got.String())))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Large values take the parallel compression path; they must come back byte
// for byte, compressed, from concurrent writers sharing the encoder pool.
func TestLargeValuesRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ds := newStore(t)
	b, err := datablock.Open(ctx, ds, "large", nil)
	require.NoError(t, err)
	rows := make([]map[string]any, 20_000)
	for i := range rows {
		rows[i] = map[string]any{"id": i, "host": "node-" + strings.Repeat("x", i%17), "ok": i%3 == 0}
	}
	want, err := json.Marshal(rows)
	require.NoError(t, err)
	require.Greater(t, len(want), 512<<10)

	errs := make(chan error, 4)
	for w := range 4 {
		go func() { errs <- b.Put(ctx, "rows"+string(rune('a'+w)), json.RawMessage(want)) }()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
	products, err := b.Products(ctx)
	require.NoError(t, err)
	require.Len(t, products, 4)
	for _, p := range products {
		require.Equal(t, datablock.CompressionZstd, p.Compression)
		require.Less(t, p.StoredSize, p.RawSize/4)
		got, err := b.GetBytes(ctx, p.Key)
		require.NoError(t, err)
		require.Equal(t, want, got, p.Key)
	}
}

// TestPutOnFullDisk fills the SQLite database (its writer's
// max_page_count stands for a full disk): a put that finds no room fails
// with datasource.ErrFull and stores none of its products, and once there
// is room the same put stores them all.
func TestPutOnFullDisk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _, ds := setup(t)
	// Random payloads, so that compression leaves them their size.
	r := rand.New(rand.NewPCG(1, 2))
	items := func(from, n int) []datablock.Item {
		out := make([]datablock.Item, n)
		for i := range out {
			payload := make([]byte, 2000)
			for j := range payload {
				payload[j] = 'a' + byte(r.IntN(26))
			}
			out[i] = datablock.Item{Key: fmt.Sprintf("p%03d", from+i), Value: map[string]any{"i": from + i, "payload": string(payload)}}
		}
		return out
	}
	require.NoError(t, b.PutItems(ctx, items(0, 10)...))
	w := ds.(*sqlite.DataSource).DB()
	var pages int64
	require.NoError(t, w.GetContext(ctx, &pages, `PRAGMA page_count`))
	_, err := w.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+2))
	require.NoError(t, err)

	err = b.PutItems(ctx, items(10, 40)...)
	require.ErrorIs(t, err, datasource.ErrFull)
	keys, err := b.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 10, "none of the products of the put that found no room")

	_, err = w.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`)
	require.NoError(t, err)
	require.NoError(t, b.PutItems(ctx, items(10, 40)...))
	keys, err = b.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 50)
}
