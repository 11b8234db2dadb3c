// Package dataspace opens a Strata datasource from a URL or a configuration
// file and hands out DataBlocks.
//
//	ds, err := dataspace.Open(ctx, "sqlite:///var/lib/strata/strata.db", nil)
//	if err != nil {
//		return err
//	}
//	defer ds.Close()
//	block, err := ds.DataBlock(ctx, "provisioner") // newest generation, or generation 1
//
// URL schemes: sqlite:///absolute/path.db, sqlite://relative.db,
// sqlite://:memory: (SQLite, embedded), postgres:// or postgresql://
// (PostgreSQL, for production and many hosts sharing one database). Open
// applies the schema migrations, which is safe from several processes.
package dataspace
