package sqlite_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/datasource/datasourcetest"
	"github.com/strata-dataspace/strata/datasource/sqlite"
)

func newFile(t *testing.T) datasource.DataSource {
	t.Helper()
	ds, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "strata.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	require.NoError(t, ds.Migrate(context.Background()))
	return ds
}

func TestConformance(t *testing.T) {
	t.Parallel()
	datasourcetest.Run(t, newFile)
}

func TestConformanceInMemory(t *testing.T) {
	t.Parallel()
	datasourcetest.Run(t, func(t *testing.T) datasource.DataSource {
		ds, err := sqlite.Open(context.Background(), sqlite.MemoryPath, nil)
		require.NoError(t, err)
		t.Cleanup(func() { ds.Close() })
		require.NoError(t, ds.Migrate(context.Background()))
		return ds
	})
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		path    string
		cfg     sqlite.Config
		wantErr string
	}{
		{name: "Absolute", url: "sqlite:///var/lib/strata.db", path: "/var/lib/strata.db"},
		{name: "Relative", url: "sqlite://./strata.db", path: "./strata.db"},
		{name: "Memory", url: "sqlite://:memory:", path: ":memory:"},
		{name: "Params", url: "sqlite:///x.db?busy_timeout=2s&readers=3&synchronous=normal&mmap_size=4096", path: "/x.db",
			cfg: sqlite.Config{BusyTimeout: 2e9, Readers: 3, Synchronous: "NORMAL", MmapSize: 4096}},
		{name: "NoMmap", url: "sqlite:///x.db?mmap_size=0", path: "/x.db", cfg: sqlite.Config{MmapSize: -1}},
		{name: "BadMmap", url: "sqlite:///x.db?mmap_size=-5", wantErr: "mmap_size"},
		{name: "WrongScheme", url: "postgres://x", wantErr: "want sqlite:///path"},
		{name: "NoPath", url: "sqlite://", wantErr: "no file path"},
		{name: "BadTimeout", url: "sqlite:///x.db?busy_timeout=soon", wantErr: "busy_timeout"},
		{name: "BadReaders", url: "sqlite:///x.db?readers=0", wantErr: "readers"},
		{name: "BadSynchronous", url: "sqlite:///x.db?synchronous=off", wantErr: "FULL or NORMAL"},
		{name: "UnknownParam", url: "sqlite:///x.db?cache=big", wantErr: `unknown parameter "cache"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, cfg, err := sqlite.ParseURL(tt.url)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, datasource.ErrInvalid)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.path, path)
			require.Equal(t, tt.cfg, *cfg)
		})
	}
}

func TestReaderSeesWriterAcrossOpeners(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	daemon, err := sqlite.Open(ctx, path, nil)
	require.NoError(t, err)
	defer daemon.Close()
	require.NoError(t, daemon.Migrate(ctx))
	cli, err := sqlite.Open(ctx, path, nil)
	require.NoError(t, err)
	defer cli.Close()

	tm := datasourcetest.NewTaskManager(t, daemon, "tm", datasourcetest.T0)
	require.NoError(t, daemon.ProductPut(ctx, &datasource.ProductPutParams{TaskManagerSeq: tm.SequenceID, Generation: 1,
		Products: []*datasource.Product{datasourcetest.NewProduct("a", []byte("1"))}}))
	got, err := cli.ProductGet(ctx, &datasource.ProductGetParams{TaskManagerSeq: tm.SequenceID, Generation: 1, Key: "a"})
	require.NoError(t, err)
	require.Equal(t, "1", string(got.Value))
}

func TestOpenMissingDirectory(t *testing.T) {
	t.Parallel()
	_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), nil)
	require.ErrorContains(t, err, "no such file or directory")
}

// Retention works across instances: reaping many small superseded
// instances costs a few transactions in all, not several per instance
// (the per-instance version reaped about 24,000 rows/s on W6).
func TestRetentionBatchesAcrossInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const instances = 30
	build := func(t *testing.T) datasource.DataSource {
		ds := newFile(t)
		for i := range instances {
			tm := datasourcetest.NewTaskManager(t, ds, "tm", datasourcetest.T0.Add(time.Duration(i)*time.Minute))
			require.NoError(t, ds.ProductPut(ctx, &datasource.ProductPutParams{TaskManagerSeq: tm.SequenceID, Generation: 1,
				Products: []*datasource.Product{datasourcetest.NewProduct("a", []byte("12345"))}}))
		}
		return ds
	}
	horizon := datasourcetest.T0.Add(7 * 24 * time.Hour)

	dry, err := build(t).DataDeleteBefore(ctx, &datasource.DataDeleteParams{Horizon: horizon, DryRun: true})
	require.NoError(t, err)
	ds := build(t)
	res, err := ds.DataDeleteBefore(ctx, &datasource.DataDeleteParams{Horizon: horizon})
	require.NoError(t, err)

	// Every instance but the newest of the name goes; the newest keeps its
	// newest generation.
	want := &datasource.DataDeleteResult{ProductVersions: instances - 1, ProductBytes: 5 * (instances - 1),
		Generations: instances - 1, TaskManagers: instances - 1}
	require.Equal(t, want, dry)
	require.LessOrEqual(t, res.Batches, 3, "one transaction per kind of row")
	res.Batches, res.MaxBatch = 0, 0
	require.Equal(t, want, res)
	st, err := ds.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), st.TaskManagers)
	require.Equal(t, int64(1), st.ProductVersions)
}

// The writer is opened tuned for batches, durability untouched; readers
// are query-only.
func TestConnectionSettings(t *testing.T) {
	ctx := context.Background()
	ds, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "strata.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	for pragma, want := range map[string]int64{
		"temp_store":         2, // MEMORY
		"cache_size":         -sqlite.WriterCacheKiB,
		"wal_autocheckpoint": 8192,
		"synchronous":        2, // FULL
	} {
		var got int64
		require.NoError(t, ds.DB().GetContext(ctx, &got, "PRAGMA "+pragma), pragma)
		require.Equal(t, want, got, pragma)
	}
	var readOnly, readerCache int64
	require.NoError(t, ds.Reader().GetContext(ctx, &readerCache, "PRAGMA cache_size"))
	require.Equal(t, -int64(max(2000, sqlite.ReadersCacheKiB/max(4, runtime.GOMAXPROCS(0)))), readerCache, "a reader's page cache")
	require.NoError(t, ds.Reader().GetContext(ctx, &readOnly, "PRAGMA query_only"))
	require.Equal(t, int64(1), readOnly)
	var mmap int64
	require.NoError(t, ds.Reader().GetContext(ctx, &mmap, "PRAGMA mmap_size"))
	require.Equal(t, int64(sqlite.MmapSizeDefault), mmap, "the readers map the file")

	unmapped, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "strata.db"), &sqlite.Config{MmapSize: -1})
	require.NoError(t, err)
	t.Cleanup(func() { unmapped.Close() })
	require.NoError(t, unmapped.Reader().GetContext(ctx, &mmap, "PRAGMA mmap_size"))
	require.Zero(t, mmap)
}
