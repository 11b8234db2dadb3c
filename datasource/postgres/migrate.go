package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/strata-dataspace/strata/datasource"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// migrations lists the embedded migrations, oldest first.
func migrations() ([]datasource.Migration, error) {
	return datasource.LoadMigrations(migrationFS, "migration")
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
	newest := ms[len(ms)-1].Version
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
			if m.Version <= cur {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return interpretError(err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, ts(time.Now()))
			return interpretError(err)
		})
		if err != nil {
			return fmt.Errorf("migrate postgres to version %d (%s): %w", m.Version, m.Name, err)
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
