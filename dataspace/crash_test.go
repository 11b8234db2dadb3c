package dataspace_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/crashtest"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

// writerURLEnv, when set, makes the test binary a writer process (see
// writer) instead of running the tests.
const writerURLEnv = "STRATA_TEST_DATASPACE_WRITER_URL"

func TestMain(m *testing.M) {
	if url := os.Getenv(writerURLEnv); url != "" {
		os.Exit(writer(url))
	}
	pgtest.Main(m)
}

// crashProducts is how many products the writer puts in each generation.
const crashProducts = 30

// crashValue is product i of generation gen: big enough that a
// generation's products span many database pages.
type crashValue struct {
	Gen     int64  `json:"gen"`
	I       int    `json:"i"`
	Payload string `json:"payload"`
}

// writer runs decision cycles on the database at url until it is killed:
// it puts crashProducts products in one call, prints "put G", duplicates
// the generation and prints "dup G+1". It exits non-zero on any error.
func writer(url string) int {
	ctx := context.Background()
	space, err := dataspace.Open(ctx, url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		return 2
	}
	b, err := datablock.Open(ctx, space.DataSource(), "crash", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		return 2
	}
	for {
		items := make([]datablock.Item, crashProducts)
		for i := range items {
			items[i] = datablock.Item{Key: fmt.Sprintf("p%02d", i),
				Value: crashValue{Gen: b.Generation(), I: i, Payload: strings.Repeat("x", 900)}}
		}
		if err := b.PutItems(ctx, items...); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			return 1
		}
		// Stdout is not buffered: the line is written once the call has
		// returned.
		fmt.Printf("put %d\n", b.Generation())
		if b, err = b.Duplicate(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			return 1
		}
		fmt.Printf("dup %d\n", b.Generation())
	}
}

// TestKilledWriterLosesNothing kills (SIGKILL) a process running decision
// cycles (a put of many products, then a duplicate) at several points, on
// both backends, and checks from another process: every generation whose
// put was acknowledged holds all its products as put, the newest
// generation holds its products all from one cycle (all carried forward,
// or all put), and cycles go on.
func TestKilledWriterLosesNothing(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			for _, killAt := range []int{1, 6, 15, 23, 31, 40} {
				url := "sqlite://" + filepath.Join(t.TempDir(), "strata.db")
				if backend == "postgres" {
					url = pgtest.NewDatabase(t)
				}
				put, dup := runWriter(t, url, killAt)
				checkCycles(t, url, put, dup)
			}
		})
	}
}

// runWriter starts a writer process on url, kills it once it has printed
// killAt lines, and returns the last generation whose put and whose
// duplicate it acknowledged before it died.
func runWriter(t *testing.T, url string, killAt int) (put, dup int64) {
	t.Helper()
	n := 0
	crashtest.Run(t, []string{writerURLEnv + "=" + url}, func(line string) bool {
		what, g, _ := strings.Cut(line, " ")
		gen, err := strconv.ParseInt(g, 10, 64)
		require.NoError(t, err, "writer printed %q", line)
		switch what {
		case "put":
			require.Equal(t, put+1, gen, "puts are acknowledged in order")
			put = gen
		case "dup":
			require.Equal(t, put+1, gen, "a duplicate follows its put")
			dup = gen
		default:
			t.Fatalf("writer printed %q", line)
		}
		n++
		return n == killAt
	})
	return put, dup
}

// checkCycles checks the database at url after a writer that acknowledged
// the put of generation put and the duplicate to generation dup died.
func checkCycles(t *testing.T, url string, put, dup int64) {
	t.Helper()
	ctx := context.Background()
	space, err := dataspace.Open(ctx, url, nil)
	require.NoError(t, err)
	defer space.Close()
	b, err := datablock.Open(ctx, space.DataSource(), "crash", nil)
	require.NoError(t, err)
	last := b.Generation()
	// The duplicate in flight may have committed; none after it.
	require.Contains(t, []int64{max(dup, 1), put + 1}, last, "newest generation after put %d and dup %d", put, dup)
	values := func(gen int64) map[int64]int {
		t.Helper()
		at, err := b.At(ctx, gen)
		require.NoError(t, err)
		keys, err := at.Keys(ctx)
		require.NoError(t, err)
		from := map[int64]int{}
		for _, k := range keys {
			v, err := datablock.Get[crashValue](ctx, at, k)
			require.NoError(t, err, "product %s gen %d", k, gen)
			from[v.Gen]++
		}
		return from
	}
	for gen := int64(1); gen <= put; gen++ {
		require.Equal(t, map[int64]int{gen: crashProducts}, values(gen), "generation %d, whose put was acknowledged", gen)
	}
	if last > put {
		// Its put was not acknowledged: it committed whole or not at all.
		got := values(last)
		require.Contains(t, []map[int64]int{{put: crashProducts}, {last: crashProducts}}, got,
			"generation %d holds products of one cycle", last)
	}

	b, err = b.Latest(ctx)
	require.NoError(t, err)
	if last == put {
		b, err = b.Duplicate(ctx)
		require.NoError(t, err)
	}
	require.NoError(t, b.Put(ctx, "p00", crashValue{Gen: b.Generation()}), "a cycle after the crash")
}
