package dataspace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/strata-dataspace/strata/datablock"
)

// RetentionFloor is the shortest retention a configuration may ask for
// without the explicit testing option.
const RetentionFloor = 7 * 24 * time.Hour

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("dataspace: invalid configuration")

// Config configures a DataSpace. The zero value means: the default SQLite
// file, migrations applied, no retention configured.
type Config struct {
	// URL is the datasource URL. Empty means DefaultURL.
	URL string
	// Retention is how long generations are kept. Zero means not set (the
	// reaper applies its own default).
	Retention time.Duration
	// ReaperInterval is the time between reaper runs. Zero means not set.
	ReaperInterval time.Duration
	// ReaperStartDelay is how long the reaper waits before its first run.
	// Zero means not set.
	ReaperStartDelay time.Duration
	// SkipMigrate opens the datasource without applying migrations.
	SkipMigrate bool
	// Block tunes the DataBlocks the dataspace hands out.
	Block datablock.Options
}

func (c *Config) validate() error {
	if c.Retention < 0 || c.ReaperInterval < 0 || c.ReaperStartDelay < 0 {
		return fmt.Errorf("%w: retention, reaper interval and start delay must not be negative", ErrConfig)
	}
	if _, err := datablock.ParseCompression(c.Block.Compression); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return nil
}

// LoadConfig reads a configuration file (JSON) in the original decision
// engine's shape:
//
//	{"dataspace": {
//	    "retention_interval_in_days": 30,
//	    "reaper_run_interval": 86400,
//	    "reaper_start_delay_seconds": 1818,
//	    "datasource": {"config": {"url": "postgres://…"}}}}
//
// Other top-level sections (channels, logger, …) are ignored here.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrConfig, path, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

type fileConfig struct {
	Dataspace *struct {
		Retention        json.RawMessage `json:"retention_interval_in_days"`
		Retention2       json.RawMessage `json:"retention"`
		ReaperInterval   json.RawMessage `json:"reaper_run_interval"`
		ReaperStartDelay json.RawMessage `json:"reaper_start_delay_seconds"`
		Compression      string          `json:"compression"`
		MaxValueBytes    int64           `json:"max_value_bytes"`
		Datasource       *struct {
			Module string `json:"module"`
			Name   string `json:"name"`
			Config *struct {
				URL  *string `json:"url"`
				Echo bool    `json:"echo"`
			} `json:"config"`
		} `json:"datasource"`
	} `json:"dataspace"`
}

// ParseConfig parses the JSON of a configuration file (see LoadConfig).
func ParseConfig(data []byte) (*Config, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%w: not valid JSON: %v", ErrConfig, describeJSONError(data, err))
	}
	raw, ok := top["dataspace"]
	if !ok {
		return nil, fmt.Errorf(`%w: no "dataspace" section: want {"dataspace": {"datasource": {"config": {"url": "sqlite:///path/strata.db"}}}}`, ErrConfig)
	}
	var fc fileConfig
	dec := json.NewDecoder(bytes.NewReader([]byte(`{"dataspace":` + string(raw) + `}`)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return nil, fmt.Errorf("%w: dataspace section: %v", ErrConfig, err)
	}
	d := fc.Dataspace
	if d == nil {
		return nil, fmt.Errorf(`%w: "dataspace" is null: want an object`, ErrConfig)
	}
	if d.Datasource == nil || d.Datasource.Config == nil || d.Datasource.Config.URL == nil {
		return nil, fmt.Errorf(`%w: dataspace.datasource.config.url is missing: set it to sqlite:///path/strata.db or postgres://user@host/db`, ErrConfig)
	}
	cfg := &Config{URL: *d.Datasource.Config.URL}
	if cfg.URL == "" {
		return nil, fmt.Errorf(`%w: dataspace.datasource.config.url is empty`, ErrConfig)
	}
	if !strings.Contains(cfg.URL, "://") {
		return nil, fmt.Errorf(`%w: dataspace.datasource.config.url %q is not a URL: want sqlite:///path/strata.db or postgres://user@host/db`, ErrConfig, Redact(cfg.URL))
	}
	var err error
	retention := d.Retention
	if retention == nil {
		retention = d.Retention2
	}
	if cfg.Retention, err = ParseDuration(retention, 24*time.Hour, "retention_interval_in_days"); err != nil {
		return nil, err
	}
	if cfg.ReaperInterval, err = ParseDuration(d.ReaperInterval, time.Second, "reaper_run_interval"); err != nil {
		return nil, err
	}
	if cfg.ReaperStartDelay, err = ParseDuration(d.ReaperStartDelay, time.Second, "reaper_start_delay_seconds"); err != nil {
		return nil, err
	}
	if retention != nil && cfg.Retention <= 0 {
		return nil, fmt.Errorf("%w: retention_interval_in_days must be positive", ErrConfig)
	}
	cfg.Block = datablock.Options{Compression: d.Compression, MaxValueBytes: d.MaxValueBytes}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseDuration reads a JSON number in unit (as the original's keys are:
// days, seconds) or a string: a Go duration ("36h", "90m") or whole days
// ("30d"). A missing value is zero.
func ParseDuration(raw json.RawMessage, unit time.Duration, key string) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var i int64
	if err := json.Unmarshal(raw, &i); err == nil {
		// Whole numbers are counted exactly: a float64 holds whole
		// nanoseconds only up to 2^53 (about 104 days).
		if i < 0 {
			return 0, fmt.Errorf("%w: %s is %d: must not be negative", ErrConfig, key, i)
		}
		if unit > 0 && i > math.MaxInt64/int64(unit) {
			return 0, fmt.Errorf("%w: %s is %d: too long, the longest duration is %v", ErrConfig, key, i, time.Duration(math.MaxInt64))
		}
		return time.Duration(i) * unit, nil
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%w: %s is %v: must not be negative", ErrConfig, key, n)
		}
		if n*float64(unit) >= math.MaxInt64 {
			return 0, fmt.Errorf("%w: %s is %v: too long, the longest duration is %v", ErrConfig, key, n, time.Duration(math.MaxInt64))
		}
		return time.Duration(n * float64(unit)), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("%w: %s is %s: want a number or a duration string such as \"7d\" or \"36h\"", ErrConfig, key, raw)
	}
	d, err := ParseDurationString(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrConfig, key, err)
	}
	return d, nil
}

// maxDays is the most whole days a time.Duration holds.
const maxDays = math.MaxInt64 / int64(24*time.Hour)

// ParseDurationString reads a Go duration ("36h") or whole days ("30d").
func ParseDurationString(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration %q: want a whole number of days such as \"7d\"", s)
		}
		if int64(n) > maxDays {
			return 0, fmt.Errorf("duration %q: too long, at most %dd", s, maxDays)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: want a duration such as \"7d\", \"36h\" or \"90m\"", s)
	}
	return d, nil
}

// ParseTimeOrAgo reads a point in time as the inspection flags and query
// parameters take it: an RFC 3339 time, a time without a zone or a date
// (both UTC), or a duration ago ("36h", "7d") before now. Empty is the zero
// time.
func ParseTimeOrAgo(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if d, err := ParseDurationString(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("want a time (2026-01-02T15:04:05Z, 2026-01-02) or a duration ago (36h, 7d)")
}

// describeJSONError adds the line and column of a syntax error.
func describeJSONError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(data[:se.Offset], []byte("\n"))
		col := int(se.Offset) - bytes.LastIndexByte(data[:se.Offset], '\n') - 1
		return fmt.Errorf("line %d column %d: %v", line, col, err)
	}
	return err
}
