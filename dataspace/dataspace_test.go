package dataspace_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/dataspace"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("SQLiteFileIsCreatedAndMigrated", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "strata.db")
		s, err := dataspace.Open(ctx, "sqlite://"+path, nil)
		require.NoError(t, err)
		defer s.Close()
		require.Equal(t, "sqlite", s.Backend())
		v, err := s.DataSource().SchemaVersion(ctx)
		require.NoError(t, err)
		require.GreaterOrEqual(t, v, 1)
		_, err = os.Stat(path)
		require.NoError(t, err)
	})

	t.Run("DataBlockContinuesAcrossOpens", func(t *testing.T) {
		t.Parallel()
		url := "sqlite://" + filepath.Join(t.TempDir(), "strata.db")
		s, err := dataspace.Open(ctx, url, nil)
		require.NoError(t, err)
		b, err := s.DataBlock(ctx, "tm")
		require.NoError(t, err)
		require.NoError(t, b.Put(ctx, "k", "v"))
		_, err = b.Duplicate(ctx)
		require.NoError(t, err)
		require.NoError(t, s.Close())

		s, err = dataspace.Open(ctx, url, nil)
		require.NoError(t, err)
		defer s.Close()
		b, err = s.DataBlock(ctx, "tm")
		require.NoError(t, err)
		require.Equal(t, int64(2), b.Generation())
		v, err := datablock.Get[string](ctx, b, "k")
		require.NoError(t, err)
		require.Equal(t, "v", v)

		n, err := s.NewDataBlock(ctx, "tm")
		require.NoError(t, err)
		require.Equal(t, int64(1), n.Generation())
		tm, err := s.TaskManager(ctx, "tm")
		require.NoError(t, err)
		require.Equal(t, n.TaskManager().TaskManagerID, tm.TaskManagerID)
	})

	t.Run("InMemory", func(t *testing.T) {
		t.Parallel()
		s, err := dataspace.Open(ctx, "sqlite://:memory:", nil)
		require.NoError(t, err)
		defer s.Close()
		b, err := s.DataBlock(ctx, "tm")
		require.NoError(t, err)
		require.NoError(t, b.Put(ctx, "k", 1))
	})

	t.Run("FromConfigFile", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := filepath.Join(dir, "config.json")
		require.NoError(t, os.WriteFile(path, []byte(`{"dataspace": {"retention_interval_in_days": 30,
			"datasource": {"config": {"url": "sqlite://`+filepath.Join(dir, "cfg.db")+`"}}}}`), 0o600))
		cfg, err := dataspace.LoadConfig(path)
		require.NoError(t, err)
		s, err := dataspace.OpenConfig(ctx, cfg)
		require.NoError(t, err)
		defer s.Close()
		require.Equal(t, cfg.Retention, s.Config().Retention)
	})

	t.Run("BadURLs", func(t *testing.T) {
		t.Parallel()
		_, err := dataspace.Open(ctx, "mysql://x/y", nil)
		require.ErrorIs(t, err, dataspace.ErrUnknownScheme)
		require.ErrorContains(t, err, `"mysql"`)
		_, err = dataspace.Open(ctx, "strata.db", nil)
		require.ErrorIs(t, err, dataspace.ErrUnknownScheme)
		_, err = dataspace.Open(ctx, "sqlite:///x.db?cache=big", nil)
		require.ErrorIs(t, err, datasource.ErrInvalid)
		_, err = dataspace.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "missing", "x.db"), nil)
		require.ErrorContains(t, err, "missing")
	})

	t.Run("RedactHidesPasswords", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, "postgres://u:xxxxx@h/db", dataspace.Redact("postgres://u:secret@h/db"))
		require.Equal(t, "sqlite:///x.db", dataspace.Redact("sqlite:///x.db"))
	})
}
