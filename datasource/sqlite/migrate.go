package sqlite

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
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %q: want NNNN_name.sql", e.Name())
		}
		body, err := migrationFS.ReadFile("migration/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
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
			if last := ms[len(ms)-1].version; cur > last {
				return fmt.Errorf("%w: database at version %d, this program knows up to %d: upgrade strata", datasource.ErrSchemaTooNew, cur, last)
			}
			if m.version <= cur {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate sqlite to version %d (%s): %w", m.version, m.name, interpretError(err))
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
