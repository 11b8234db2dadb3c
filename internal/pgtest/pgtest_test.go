package pgtest

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

func TestNewDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	var first string
	t.Run("IsFreshAndWritable", func(t *testing.T) {
		first = NewDatabase(t)
		require.Contains(t, first, "sslmode=")
		db, err := sql.Open("postgres", first)
		require.NoError(t, err)
		defer db.Close()
		var n int
		require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n))
		require.Zero(t, n)
		_, err = db.ExecContext(ctx, `CREATE TABLE t (id int)`)
		require.NoError(t, err)
		second := NewDatabase(t)
		require.NotEqual(t, first, second)
	})

	t.Run("IsDroppedWhenTheTestEnds", func(t *testing.T) {
		require.NotEmpty(t, first)
		db, err := sql.Open("postgres", Shared(t).URL())
		require.NoError(t, err)
		defer db.Close()
		name := first[strings.LastIndex(first, "/")+1 : strings.Index(first, "?")]
		var n int
		require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n))
		require.Zero(t, n)
	})
}

func TestNewCluster(t *testing.T) {
	t.Parallel()
	c := NewCluster(t)
	require.False(t, c.External())
	url := c.NewDatabase(t)
	db, err := sql.Open("postgres", url)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Ping())

	c.Restart(t)
	var one int
	require.NoError(t, db.QueryRow(`SELECT 1`).Scan(&one), "the pool reconnects after a restart")
	require.NotEqual(t, Shared(t).URL(), c.URL(), "a private cluster is not the shared one")
}

func TestFindBinDir(t *testing.T) {
	t.Setenv(EnvBinDir, "/nonexistent")
	_, err := findBinDir()
	require.ErrorIs(t, err, ErrNoServer)
}

// TestMissingServer runs this test binary again without server binaries:
// under CI=true the tests fail with a clear message, otherwise they skip.
func TestMissingServer(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") != "" {
		NewDatabase(t)
		t.Fatal("NewDatabase returned without a server")
	}
	t.Parallel()
	for _, tc := range []struct {
		name    string
		ci      string
		wantErr bool
		want    string
	}{
		{name: "FailsUnderCI", ci: "true", wantErr: true, want: "--- FAIL"},
		{name: "SkipsOutsideCI", ci: "", want: "--- SKIP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMissingServer$", "-test.v")
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, EnvURL+"=") && !strings.HasPrefix(kv, EnvCI+"=") {
					env = append(env, kv)
				}
			}
			cmd.Env = append(env, "PGTEST_CHILD=1", EnvBinDir+"=/nonexistent", EnvCI+"="+tc.ci)
			out, err := cmd.CombinedOutput()
			if tc.wantErr {
				require.Error(t, err, "%s", out)
			} else {
				require.NoError(t, err, "%s", out)
			}
			require.Contains(t, string(out), tc.want)
			require.Contains(t, string(out), "PostgreSQL server binaries not found; install postgresql")
		})
	}
}

func TestRequireServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		ci   string
		want bool
	}{
		{name: "Unset", ci: "", want: false},
		{name: "True", ci: "true", want: true},
		{name: "One", ci: "1", want: true},
		{name: "False", ci: "false", want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvCI, tc.ci)
			require.Equal(t, tc.want, requireServer())
		})
	}
}
