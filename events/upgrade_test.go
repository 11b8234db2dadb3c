package events

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

// TestUpgradeFromVersion2 builds a database as strata wrote it at schema
// version 2 (migrations 0001 and 0002 as shipped, events with one index
// row per trait), then opens it: the migration to version 3 and the store
// move the rows into runs, queries answer as before, and new events take
// ids after the old ones.
func TestUpgradeFromVersion2(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			driver, dsn := "sqlite", filepath.Join(t.TempDir(), "v2.db")
			url := "sqlite://" + dsn
			if backend == "postgres" {
				url = pgtest.NewDatabase(t)
				driver, dsn = "postgres", url
			}
			db, err := sqlx.Open(driver, dsn)
			require.NoError(t, err)
			// The schema_version tables of the two backends, as they are.
			ddl, applied := `CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`, any(0)
			if backend == "postgres" {
				ddl, applied = `CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`, time.Now()
			}
			_, err = db.Exec(ddl)
			require.NoError(t, err)
			for v, name := range []string{"0001_products", "0002_events"} {
				ddl, err := os.ReadFile(filepath.Join("..", "datasource", backend, "migration", name+".sql"))
				require.NoError(t, err)
				_, err = db.Exec(string(ddl))
				require.NoError(t, err, name)
				_, err = db.Exec(db.Rebind(`INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`), v+1, name, applied)
				require.NoError(t, err)
			}
			// Three events of version 2: a value with no traits of its own
			// would still decode, but the trait rows are the index.
			evs := sample(3)
			for i, e := range evs {
				val, err := encodeEvent(e)
				require.NoError(t, err)
				_, err = db.Exec(db.Rebind(`INSERT INTO event (id, namespace, message_id, event_type, generated, expires, source, encoding, compression, value, raw_size)
					VALUES (?, 'default', ?, ?, ?, ?, 'default', ?, ?, ?, ?)`), i+1, e.MessageID, e.EventType, e.Generated.UnixMicro(),
					e.Generated.Add(TTLDefault).UnixMicro(), int64(val.encoding), int64(val.compression), val.data, int64(val.rawSize))
				require.NoError(t, err)
				for _, tr := range e.Traits {
					vs, vi, vf := v2TraitColumns(tr)
					_, err := db.Exec(db.Rebind(`INSERT INTO event_trait (event_id, name, generated, type, v_string, v_int, v_float) VALUES (?, ?, ?, ?, ?, ?, ?)`),
						i+1, tr.Name, e.Generated.UnixMicro(), int64(tr.Type), vs, vi, vf)
					require.NoError(t, err)
				}
			}
			require.NoError(t, db.Close())

			space, err := dataspace.Open(ctx, url, nil)
			require.NoError(t, err)
			defer space.Close()
			v, err := space.DataSource().SchemaVersion(ctx)
			require.NoError(t, err)
			require.Equal(t, SchemaVersion, v)
			clock := &testClock{now: base.Add(48 * time.Hour)}
			s, err := Open(ctx, space, &Config{Clock: clock.Now})
			require.NoError(t, err)
			var left int
			require.NoError(t, s.db.Get(&left, `SELECT COUNT(*) FROM event_trait`))
			require.Zero(t, left, "the version-2 index rows are moved into runs")
			got, err := s.Query(ctx, &Query{Filter: Filter{Traits: []TraitFilter{{Name: "count", Op: OpGe, Type: TypeInteger, Value: int64(1)}}}})
			require.NoError(t, err)
			require.Equal(t, []string{"m001", "m002"}, ids(got))

			more := sample(6)[3:]
			record(t, s, more)
			got, err = s.Query(ctx, &Query{Filter: Filter{Traits: []TraitFilter{{Name: "host", Value: "host0"}}}})
			require.NoError(t, err)
			require.Equal(t, []string{"m000", "m003"}, ids(got), "new events take new ids")
		})
	}
}

// v2TraitColumns returns the value columns (v_string, v_int, v_float) of
// a trait in the version-2 trait index.
func v2TraitColumns(t Trait) (vs, vi, vf any) {
	switch v := t.Value.(type) {
	case string:
		return v, nil, nil
	case int64:
		return nil, v, nil
	case float64:
		return nil, nil, v
	case time.Time:
		return nil, v.UnixMicro(), nil
	}
	return nil, nil, nil
}
