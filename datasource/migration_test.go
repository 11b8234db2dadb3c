package datasource_test

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datasource"
)

func TestLoadMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_events.sql":   {Data: []byte("CREATE TABLE e (x INT);")},
		"m/0002_products.sql": {Data: []byte("CREATE TABLE p (x INT);")},
	}
	ms, err := datasource.LoadMigrations(fsys, "m")
	require.NoError(t, err)
	require.Equal(t, []datasource.Migration{
		{Version: 2, Name: "products", SQL: "CREATE TABLE p (x INT);"},
		{Version: 10, Name: "events", SQL: "CREATE TABLE e (x INT);"},
	}, ms)

	for name, bad := range map[string]fstest.MapFS{
		"NoVersion":     {"m/events.sql": {}},
		"ZeroVersion":   {"m/0000_x.sql": {}},
		"NotSQL":        {"m/0001_x.txt": {}},
		"SameVersion":   {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"MissingFolder": {},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := datasource.LoadMigrations(bad, "m")
			require.Error(t, err)
		})
	}
}
