// Package inspecttest seeds a dataspace with a small, known history for the
// tests of `strata inspect`, the JSON API and the inspection page, on
// SQLite and PostgreSQL alike.
package inspecttest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

// T0 is the time generation 1 of every seeded task manager opens; each
// later step of the seed is one minute after the previous one.
var T0 = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

// Backends names the backends tests run against.
var Backends = []string{"sqlite", "postgres"}

// URL returns the URL of a fresh, empty database of backend ("sqlite": a
// file in t.TempDir(); "postgres": a new database from internal/pgtest,
// which skips or, under CI=true, fails when no server is installed).
func URL(t testing.TB, backend string) string {
	t.Helper()
	switch backend {
	case "sqlite":
		return "sqlite://" + filepath.Join(t.TempDir(), "strata.db")
	case "postgres":
		return pgtest.NewDatabase(t)
	}
	t.Fatalf("unknown backend %q", backend)
	return ""
}

// Open opens a fresh, empty dataspace of backend, closed at the end of t.
func Open(t testing.TB, backend string) *dataspace.DataSpace {
	t.Helper()
	s, err := dataspace.Open(context.Background(), URL(t, backend), nil)
	if err != nil {
		t.Fatalf("open %s dataspace: %v", backend, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Job is one row of the seeded tabular product "jobs".
type Job struct {
	ID   int    `json:"id"`
	Site string `json:"site"`
	CPU  int    `json:"cpu"`
}

// Seed writes this history, with times from T0 on:
//
//	task manager "jobs" (a channel):
//	  generation 1: jobs     [{1 FNAL 4} {2 CERN 8}]
//	                config   {"threshold": 5}
//	                facts    {"allow": true}
//	                publishers {"mail": "sent"}
//	  generation 2: jobs     [{1 FNAL 4} {2 CERN 16} {3 DESY 2}]
//	                facts    {"allow": false}
//	  generation 3: alerts   "disk almost full"
//	                config   {"threshold": 5} (rewritten, same value)
//	task manager "strata.reaper": report {"state": "IDLE", ...}
//	task manager "idle": generation 1, no product
func Seed(ctx context.Context, s *dataspace.DataSpace) error {
	now := T0
	opts := &datablock.Options{Clock: func() time.Time { return now }}
	ds := s.DataSource()
	b, err := datablock.New(ctx, ds, "jobs", opts)
	if err != nil {
		return err
	}
	if err := b.PutItems(ctx,
		datablock.Item{Key: "jobs", Value: []Job{{1, "FNAL", 4}, {2, "CERN", 8}}, Header: &datablock.Header{Creator: "JobSource"}},
		datablock.Item{Key: "config", Value: map[string]int{"threshold": 5}},
		datablock.Item{Key: "facts", Value: map[string]bool{"allow": true}},
		datablock.Item{Key: "publishers", Value: map[string]string{"mail": "sent"}},
	); err != nil {
		return fmt.Errorf("seed generation 1: %w", err)
	}
	now = now.Add(time.Minute)
	if b, err = b.Duplicate(ctx); err != nil {
		return err
	}
	if err := b.PutItems(ctx,
		datablock.Item{Key: "jobs", Value: []Job{{1, "FNAL", 4}, {2, "CERN", 16}, {3, "DESY", 2}}, Header: &datablock.Header{Creator: "JobSource"}},
		datablock.Item{Key: "facts", Value: map[string]bool{"allow": false}},
	); err != nil {
		return fmt.Errorf("seed generation 2: %w", err)
	}
	now = now.Add(time.Minute)
	if b, err = b.Duplicate(ctx); err != nil {
		return err
	}
	if err := b.PutItems(ctx,
		datablock.Item{Key: "alerts", Value: "disk almost full"},
		datablock.Item{Key: "config", Value: map[string]int{"threshold": 5}},
	); err != nil {
		return fmt.Errorf("seed generation 3: %w", err)
	}
	now = now.Add(time.Minute)
	r, err := datablock.New(ctx, ds, "strata.reaper", opts)
	if err != nil {
		return err
	}
	report := map[string]any{"state": "IDLE", "generations_deleted": 7, "product_versions_deleted": 21, "finished": now.Format(time.RFC3339)}
	if err := r.Put(ctx, "report", report); err != nil {
		return fmt.Errorf("seed the reaper's report: %w", err)
	}
	now = now.Add(time.Minute)
	if _, err := datablock.New(ctx, ds, "idle", opts); err != nil {
		return err
	}
	return nil
}

// Seeded opens a fresh dataspace of backend holding the Seed history.
func Seeded(t testing.TB, backend string) *dataspace.DataSpace {
	t.Helper()
	s := Open(t, backend)
	if err := Seed(context.Background(), s); err != nil {
		t.Fatalf("seed %s dataspace: %v", backend, err)
	}
	return s
}
