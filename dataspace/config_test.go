package dataspace_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/dataspace"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	tests := []struct {
		name    string
		json    string
		want    *dataspace.Config
		wantErr string
	}{
		{
			name: "Original",
			json: `{"logger": {}, "channels": {}, "dataspace": {"retention_interval_in_days": 370, "reaper_start_delay_seconds": 1818,
				"reaper_run_interval": 7200, "datasource": {"module": "decisionengine.framework.dataspace.datasources.sqlalchemy_ds",
				"name": "SQLAlchemyDS", "config": {"url": "postgresql://de@localhost/decisionengine", "echo": true}}}}`,
			want: &dataspace.Config{URL: "postgresql://de@localhost/decisionengine", Retention: 370 * day, ReaperStartDelay: 1818 * time.Second, ReaperInterval: 2 * time.Hour},
		},
		{
			name: "DurationStrings",
			json: `{"dataspace": {"retention_interval_in_days": "30d", "reaper_run_interval": "3h", "datasource": {"config": {"url": "sqlite:///x.db"}}}}`,
			want: &dataspace.Config{URL: "sqlite:///x.db", Retention: 30 * day, ReaperInterval: 3 * time.Hour},
		},
		{name: "NotJSON", json: "{\n  \"dataspace\": {,}\n}", wantErr: "not valid JSON: line 2 column 17:"},
		{name: "NoDataspace", json: `{"channels": {}}`, wantErr: `no "dataspace" section`},
		{name: "NullDataspace", json: `{"dataspace": null}`, wantErr: `"dataspace" is null`},
		{name: "NoURL", json: `{"dataspace": {"datasource": {"config": {}}}}`, wantErr: "datasource.config.url is missing"},
		{name: "NoDatasource", json: `{"dataspace": {}}`, wantErr: "datasource.config.url is missing"},
		{name: "EmptyURL", json: `{"dataspace": {"datasource": {"config": {"url": ""}}}}`, wantErr: "url is empty"},
		{name: "NotAURL", json: `{"dataspace": {"datasource": {"config": {"url": "strata.db"}}}}`, wantErr: `"strata.db" is not a URL`},
		{name: "UnknownKey", json: `{"dataspace": {"retention_days": 3, "datasource": {"config": {"url": "sqlite:///x.db"}}}}`, wantErr: `unknown field "retention_days"`},
		{name: "NegativeRetention", json: `{"dataspace": {"retention_interval_in_days": -1, "datasource": {"config": {"url": "sqlite:///x.db"}}}}`, wantErr: "must not be negative"},
		{name: "ZeroRetention", json: `{"dataspace": {"retention_interval_in_days": 0, "datasource": {"config": {"url": "sqlite:///x.db"}}}}`, wantErr: "must be positive"},
		{name: "BadDuration", json: `{"dataspace": {"reaper_run_interval": "soon", "datasource": {"config": {"url": "sqlite:///x.db"}}}}`, wantErr: `reaper_run_interval: duration "soon"`},
		{name: "WrongType", json: `{"dataspace": {"reaper_run_interval": [1], "datasource": {"config": {"url": "sqlite:///x.db"}}}}`, wantErr: "want a number or a duration string"},
		{name: "BadCompression", json: `{"dataspace": {"compression": "lz4", "datasource": {"config": {"url": "sqlite:///x.db"}}}}`, wantErr: `compression "lz4"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := dataspace.ParseConfig([]byte(tt.json))
			if tt.wantErr != "" {
				require.ErrorIs(t, err, dataspace.ErrConfig)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	_, err := dataspace.LoadConfig(filepath.Join(t.TempDir(), "missing.json"))
	require.ErrorIs(t, err, dataspace.ErrConfig)
	require.ErrorContains(t, err, "missing.json")

	path := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"dataspace": {}}`), 0o600))
	_, err = dataspace.LoadConfig(path)
	require.ErrorContains(t, err, "bad.json")
	require.ErrorContains(t, err, "url is missing")
}

func TestParseTimeOrAgo(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          {},
		"2026-01-02T15:04:05Z":      time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		"2026-01-02T15:04:05+01:00": time.Date(2026, 1, 2, 14, 4, 5, 0, time.UTC),
		"2026-01-02T15:04:05":       time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		"2026-01-02 15:04:05":       time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		"2026-01-02":                time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC),
		"36h":                       now.Add(-36 * time.Hour),
		"7d":                        now.Add(-7 * 24 * time.Hour),
	} {
		got, err := dataspace.ParseTimeOrAgo(in, now)
		require.NoError(t, err, in)
		require.True(t, want.Equal(got), "%q: got %s, want %s", in, got, want)
	}
	for _, in := range []string{"yesterday", "-2h", "2026-13-01", "1.5d"} {
		_, err := dataspace.ParseTimeOrAgo(in, now)
		require.ErrorContains(t, err, "want a time", in)
	}
}
