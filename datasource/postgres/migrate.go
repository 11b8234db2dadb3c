package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/strata-dataspace/strata/datasource"
)

//go:embed migration/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded migrations, oldest first. File names are
// NNNN_name.sql.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migration")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration file %q: want NNNN_name.sql", e.Name())
		}
		body, err := migrationFS.ReadFile("migration/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version %d", out[i-1].name, out[i].name, out[i].version)
		}
	}
	return out, nil
}

// migrationLock is the advisory lock key that serialises Migrate across
// processes (advisory locks are per database).
const migrationLock int64 = 0x5354524154410001 // "STRATA" 0001

const schemaVersionDDL = `CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER     PRIMARY KEY,
	name       TEXT        NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL
)`

// Migrate applies the embedded migrations not applied yet, each in its own
// transaction that first takes an advisory lock, so that hosts migrating at
// once apply each migration exactly once.
func (s *DataSource) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("migrate postgres: %w", err)
	}
	newest := ms[len(ms)-1].version
	for _, m := range ms {
		err := s.inTx(ctx, "migrate", func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
				return interpretError(err)
			}
			if _, err := tx.ExecContext(ctx, schemaVersionDDL); err != nil {
				return interpretError(err)
			}
			var cur int
			if err := tx.GetContext(ctx, &cur, `SELECT COALESCE(MAX(version), 0) FROM schema_version`); err != nil {
				return interpretError(err)
			}
			if cur > newest {
				return fmt.Errorf("%w: database at version %d, this program knows up to %d: upgrade strata", datasource.ErrSchemaTooNew, cur, newest)
			}
			if m.version <= cur {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return interpretError(err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, ts(time.Now()))
			return interpretError(err)
		})
		if err != nil {
			return fmt.Errorf("migrate postgres to version %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

// SchemaVersion returns the newest applied migration, or zero.
func (s *DataSource) SchemaVersion(ctx context.Context) (int, error) {
	var n int
	err := s.retry(ctx, "schema version", func() error {
		return s.db.GetContext(ctx, &n, `SELECT COALESCE(MAX(version), 0) FROM schema_version`)
	})
	if pq.As(err, pqerror.UndefinedTable) != nil {
		return 0, nil // never migrated
	}
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", interpretError(err))
	}
	return n, nil
}
