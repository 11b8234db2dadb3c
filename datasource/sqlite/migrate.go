package sqlite

import (
	"context"
	"embed"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// migrations lists the embedded migrations, oldest first.
func migrations() ([]datasource.Migration, error) {
	return datasource.LoadMigrations(migrationFS, "migration")
}

const schemaVersionDDL = `CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
)`

// Migrate applies the embedded migrations not applied yet, each in its own
// write transaction (which SQLite serialises across processes).
func (s *DataSource) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("migrate sqlite: %w", err)
	}
	for _, m := range ms {
		err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, schemaVersionDDL); err != nil {
				return err
			}
			var cur int
			if err := tx.GetContext(ctx, &cur, `SELECT COALESCE(MAX(version), 0) FROM schema_version`); err != nil {
				return err
			}
			if last := ms[len(ms)-1].Version; cur > last {
				return fmt.Errorf("%w: database at version %d, this program knows up to %d: upgrade strata", datasource.ErrSchemaTooNew, cur, last)
			}
			if m.Version <= cur {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate sqlite to version %d (%s): %w", m.Version, m.Name, interpretError(err))
		}
	}
	return nil
}

// SchemaVersion returns the newest applied migration, or zero.
func (s *DataSource) SchemaVersion(ctx context.Context) (int, error) {
	var n int
	err := s.get(ctx, &n, `SELECT COALESCE(MAX(version), 0) FROM schema_version`)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", interpretError(err))
	}
	return n, nil
}
