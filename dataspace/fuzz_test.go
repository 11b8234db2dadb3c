package dataspace_test

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/dataspace"
)

// FuzzParseConfig checks that any bytes either parse into a usable
// configuration or give one ErrConfig error, never both and never a panic.
// Config has no path back to JSON, so there is no round trip to check.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{"logger": {}, "channels": {}, "dataspace": {"retention_interval_in_days": 370, "reaper_start_delay_seconds": 1818,
			"reaper_run_interval": 7200, "datasource": {"module": "m", "name": "SQLAlchemyDS",
			"config": {"url": "postgresql://de@localhost/decisionengine", "echo": true}}}}`,
		`{"dataspace": {"datasource": {"config": {"url": "sqlite:///tmp/strata.db"}}}}`,
		`{"dataspace": {"retention": "30d", "reaper_run_interval": "1h", "compression": "zlib", "max_value_bytes": 1024,
			"datasource": {"config": {"url": "sqlite:///x.db"}}}}`,
		`{"dataspace": {"retention_interval_in_days": 0.5, "datasource": {"config": {"url": "sqlite:///x.db"}}}}`,
		`{"dataspace": {"retention_interval_in_days": 0, "datasource": {"config": {"url": "sqlite:///x.db"}}}}`,
		`{"dataspace": {"retention_interval_in_days": -1, "datasource": {"config": {"url": "sqlite:///x.db"}}}}`,
		`{"dataspace": {"retention_interval_in_days": 1e300, "datasource": {"config": {"url": "sqlite:///x.db"}}}}`,
		`{"dataspace": {"reaper_run_interval": "106751991167301d", "datasource": {"config": {"url": "sqlite:///x.db"}}}}`,
		`{"dataspace": {"compression": "lz4", "datasource": {"config": {"url": "sqlite:///x.db"}}}}`,
		`{"dataspace": {"datasource": {"config": {"url": "not a url"}}}}`,
		`{"dataspace": {"datasource": {"config": {"url": ""}}}}`,
		`{"dataspace": {"datasource": {"config": {}}}}`,
		`{"dataspace": {"unknown": 1}}`,
		`{"dataspace": null}`,
		`{"channels": {}}`,
		`{"dataspace": {`,
		"{\n\"dataspace\": [1,\n2,}",
		`[]`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := dataspace.ParseConfig(data)
		if err != nil {
			require.Nil(t, cfg, "a config together with error %v", err)
			require.ErrorIs(t, err, dataspace.ErrConfig)
			return
		}
		require.NotNil(t, cfg, "neither a config nor an error")
		require.Contains(t, cfg.URL, "://")
		require.GreaterOrEqual(t, cfg.Retention, time.Duration(0), "negative retention")
		require.GreaterOrEqual(t, cfg.ReaperInterval, time.Duration(0), "negative reaper interval")
		require.GreaterOrEqual(t, cfg.ReaperStartDelay, time.Duration(0), "negative reaper start delay")
		_, err = datablock.ParseCompression(cfg.Block.Compression)
		require.NoError(t, err, "an accepted config's compression must be usable")

		again, err := dataspace.ParseConfig(data)
		require.NoError(t, err)
		require.Equal(t, cfg, again, "parsing is deterministic")
	})
}

// FuzzParseDuration checks the JSON duration reader: never a panic, never a
// negative duration, an ErrConfig error naming the key otherwise, numbers
// counted in the unit and strings read as ParseDurationString reads them.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		`30`, `0`, `0.5`, `-1`, `1e300`, `1e-300`, `106751`, `106752`, `9223372036`, `9223372037`,
		`"30d"`, `"36h"`, `"90m"`, `"-1h"`, `"1.5d"`, `"d"`, `"106751991167301d"`, `""`,
		`null`, ``, `true`, `{}`, `[1]`, `"\u0000"`, `1e400`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, days bool) {
		unit := time.Second
		if days {
			unit = 24 * time.Hour
		}
		d, err := dataspace.ParseDuration(raw, unit, "some_key")
		if err != nil {
			require.ErrorIs(t, err, dataspace.ErrConfig)
			require.Contains(t, err.Error(), "some_key", "the error names the key")
			require.Zero(t, d)
			return
		}
		require.GreaterOrEqual(t, d, time.Duration(0), "ParseDuration(%q) is negative", raw)

		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil && n >= 0 && n <= math.MaxInt64/int64(unit) {
			require.Equal(t, time.Duration(n)*unit, d, "%d in unit %v", n, unit)
		}
		var s string
		if strings.HasPrefix(strings.TrimSpace(string(raw)), `"`) && json.Unmarshal(raw, &s) == nil {
			want, err := dataspace.ParseDurationString(s)
			require.NoError(t, err, "ParseDuration accepted %q", raw)
			require.Equal(t, want, d)
		}
	})
}

// FuzzParseDurationString checks that an accepted duration is not negative,
// that a day count is whole days, and that the Go format of the result
// reads back to the same duration.
func FuzzParseDurationString(f *testing.F) {
	for _, s := range []string{
		"30d", "0d", "1d", "+7d", "-0d", "-1d", "1.5d", "d", "7D", "106751d", "106752d", "106751991167301d",
		"36h", "90m", "1h30m", "1.5h", "300ms", "0", "-1h", "-0s", "2562047h47m16.854775807s", "2562048h",
		"", " 1h", "1h ", "abc", "1x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := dataspace.ParseDurationString(s)
		if err != nil {
			require.Zero(t, d)
			require.Contains(t, err.Error(), strconv.Quote(s), "the error quotes the input")
			return
		}
		require.GreaterOrEqual(t, d, time.Duration(0), "ParseDurationString(%q) is negative", s)
		if strings.HasSuffix(s, "d") {
			require.Zero(t, d%(24*time.Hour), "%q is not whole days: %v", s, d)
		}
		back, err := dataspace.ParseDurationString(d.String())
		require.NoError(t, err, "%q gave %v, which does not read back", s, d)
		require.Equal(t, d, back)
	})
}

// FuzzParseTimeOrAgo checks that a point in time is either read as one of
// the documented layouts, or as a duration before now (never after now),
// or rejected; and that an accepted time reads back from RFC 3339.
func FuzzParseTimeOrAgo(f *testing.F) {
	for _, s := range []string{
		"", "2026-01-02T15:04:05Z", "2026-01-02T15:04:05.123456789+02:00", "2026-01-02T15:04:05",
		"2026-01-02 15:04:05", "2026-01-02", "0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59",
		"36h", "7d", "0d", "-1h", "-1d", "106751d", "106752d", "2562047h", "yesterday", "2026-13-01", "2026-02-30",
	} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := dataspace.ParseTimeOrAgo(s, now)
		if err != nil {
			require.True(t, got.IsZero())
			return
		}
		if s == "" {
			require.True(t, got.IsZero(), "empty is the zero time")
			return
		}
		if d, err := dataspace.ParseDurationString(s); err == nil && !isLayoutTime(s) {
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.True(t, got.Equal(now.Add(-d)), "%q ago: got %v, want %v", s, got, now.Add(-d))
			require.False(t, got.After(now), "%q ago is after now", s)
			return
		}
		require.True(t, isLayoutTime(s), "%q accepted as %v but is neither a time nor a duration", s, got)
		back, err := dataspace.ParseTimeOrAgo(got.Format(time.RFC3339Nano), now)
		require.NoError(t, err, "%q gave %v, which does not read back", s, got)
		require.True(t, got.Equal(back), "%q: %v read back as %v", s, got, back)
	})
}

func isLayoutTime(s string) bool {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

// TestParseDurationOverflow keeps the inputs the fuzzers found: durations
// too long for time.Duration must be errors, not wrapped or negative.
func TestParseDurationOverflow(t *testing.T) {
	t.Parallel()

	for _, s := range []string{"106752d", "106751991167301d", "9223372036854775807d"} {
		_, err := dataspace.ParseDurationString(s)
		require.Error(t, err, s)
	}
	for _, raw := range []string{`1e300`, `106752`} {
		_, err := dataspace.ParseDuration(json.RawMessage(raw), 24*time.Hour, "retention_interval_in_days")
		require.ErrorIs(t, err, dataspace.ErrConfig, raw)
	}
	_, err := dataspace.ParseDuration(json.RawMessage(`9223372037`), time.Second, "reaper_run_interval")
	require.ErrorIs(t, err, dataspace.ErrConfig)
}
