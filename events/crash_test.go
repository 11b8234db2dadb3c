package events

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/crashtest"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

// recorderURLEnv, when set, makes the test binary a recorder process (see
// recorder) instead of running the tests; recorderDieEnv ("record:K" or
// "merge:K") makes the recorder kill itself (SIGKILL) inside the
// transaction of batch K's Record, or of its K-th merge, just before it
// commits.
const (
	recorderURLEnv = "STRATA_TEST_EVENTS_RECORDER_URL"
	recorderDieEnv = "STRATA_TEST_EVENTS_RECORDER_DIE"
)

// crashBatch is the size of the batches the recorder process records.
const crashBatch = 40

// crashBatchEvents returns batch k of the recorder: crashBatch events of
// three types carrying the batch number, and every fifth batch a trait
// name no earlier batch had, so that batches add dictionary rows too.
func crashBatchEvents(k int) []*Event {
	evs := make([]*Event, crashBatch)
	for i := range evs {
		traits := []Trait{
			{Name: "batch", Type: TypeInteger, Value: int64(k)},
			{Name: "host", Type: TypeString, Value: fmt.Sprintf("host-%d", i%7)},
		}
		if k%5 == 0 {
			traits = append(traits, Trait{Name: fmt.Sprintf("new-%d", k), Type: TypeFloat, Value: float64(i)})
		}
		evs[i] = &Event{
			MessageID: fmt.Sprintf("b%05d-%02d", k, i),
			EventType: fmt.Sprintf("type.%d", (k+i)%3),
			Generated: base.Add(time.Duration(k*crashBatch+i) * time.Second),
			Traits:    traits,
		}
	}
	return evs
}

// recorder records batch after batch into the database at url and prints
// "ack K" once batch K's Record has returned, until it is killed (see
// recorderDieEnv). It exits non-zero on any error.
func recorder(url, die string) int {
	ctx := context.Background()
	space, err := dataspace.Open(ctx, url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recorder:", err)
		return 2
	}
	s, err := Open(ctx, space, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recorder:", err)
		return 2
	}
	kill := func() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }
	var batch, merges atomic.Int64
	if what, at, ok := strings.Cut(die, ":"); ok {
		k, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "recorder:", err)
			return 2
		}
		switch what {
		case "record":
			s.beforeRecordCommit = func() {
				if batch.Load() == k {
					kill()
				}
			}
		case "merge":
			s.beforeMergeCommit = func() {
				if merges.Add(1) == k {
					kill()
				}
			}
		case "expire":
			return expirer(ctx, s, int(k), kill)
		}
	}
	for k := int64(0); ; k++ {
		batch.Store(k)
		res, err := s.Record(ctx, crashBatchEvents(int(k)))
		if err != nil || res.Stored != crashBatch {
			fmt.Fprintf(os.Stderr, "recorder: batch %d: %v %+v\n", k, err, res)
			return 1
		}
		// Stdout is not buffered: the line is written when Record has
		// returned.
		fmt.Printf("ack %d\n", k)
	}
}

// expireBatches is how many batches the recorder records before it
// expires them (recorderDieEnv "expire:K").
const expireBatches = 10

// expirer records expireBatches batches, printing an ack for each, then
// expires them all crashBatch events a transaction, and kills itself
// once the k-th transaction has committed.
func expirer(ctx context.Context, s *Store, k int, kill func()) int {
	for b := range expireBatches {
		if _, err := s.Record(ctx, crashBatchEvents(b)); err != nil {
			fmt.Fprintf(os.Stderr, "expirer: batch %d: %v\n", b, err)
			return 1
		}
		fmt.Printf("ack %d\n", b)
	}
	done := 0
	s.afterExpireBatch = func(int) {
		if done++; done == k {
			kill()
		}
	}
	n, _, err := s.Expire(ctx, base.AddDate(1, 0, 0), crashBatch, false)
	fmt.Fprintf(os.Stderr, "expirer: expired %d events without dying: %v\n", n, err)
	return 1
}

// runRecorder starts a recorder process on url that dies as die says, or
// kills it (SIGKILL) once it has acknowledged killAt batches, and returns
// the batches it acknowledged before it died.
func runRecorder(t *testing.T, url, die string, killAt int) int {
	t.Helper()
	// A recorder that should kill itself but records on is stopped, and
	// the test fails, rather than waiting for ever.
	const backstop = 400
	if die != "" {
		killAt = backstop
	}
	acked := 0
	crashtest.Run(t, []string{recorderURLEnv + "=" + url, recorderDieEnv + "=" + die}, func(line string) bool {
		k, err := strconv.Atoi(strings.TrimPrefix(line, "ack "))
		require.NoError(t, err, "recorder printed %q", line)
		require.Equal(t, acked, k, "batches are acknowledged in order")
		acked++
		return acked == killAt
	})
	require.False(t, die != "" && acked >= backstop, "the recorder recorded %d batches without dying as %q says", acked, die)
	return acked
}

// TestKilledRecorderLosesNothing kills a process that records batch after
// batch (with trait index merges in the background): inside a Record's
// transaction, inside a merge's, and from outside at a point between or
// during Records. From another process's view of the database, every
// batch it acknowledged is there whole (events, trait index entries and
// dictionary rows), a batch it did not acknowledge is there whole or not
// at all (not at all when it died inside that batch's transaction), and
// the store goes on recording.
func TestKilledRecorderLosesNothing(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				die      string
				killAt   int
				inFlight int // events of the unacknowledged batch: -1 either way
			}{
				{die: "record:0", inFlight: 0},
				{die: "record:11", inFlight: 0},
				// A merge starts after every 8th batch: the first two
				// merges of the first tier, then one more.
				{die: "merge:1", inFlight: -1},
				{die: "merge:3", inFlight: -1},
				{killAt: 5, inFlight: -1},
				{killAt: 19, inFlight: -1},
			} {
				url := "sqlite://" + filepath.Join(t.TempDir(), "events.db")
				if backend == "postgres" {
					url = pgtest.NewDatabase(t)
				}
				acked := runRecorder(t, url, tc.die, tc.killAt)
				if k, ok := strings.CutPrefix(tc.die, "record:"); ok {
					require.Equal(t, k, strconv.Itoa(acked), "the recorder died in batch %s", k)
				}
				checkWholeBatches(t, openOn(t, url, nil), acked, tc.inFlight)
			}
		})
	}
}

// checkWholeBatches checks that batches 0 to acked-1 of the recorder are
// in s whole, and batch acked whole or not at all (with inFlight events,
// unless it is -1), then that s records the next batch, and that the
// dictionaries hold what every batch brought.
func checkWholeBatches(t *testing.T, s *Store, acked, inFlight int) {
	t.Helper()
	ctx := context.Background()
	all := allPages(t, s, &Query{Limit: 500})
	perBatch := map[int64]int{}
	for _, e := range all {
		perBatch[traitValue(t, e, "batch").(int64)]++
	}
	if inFlight >= 0 {
		require.Equal(t, inFlight, perBatch[int64(acked)], "events of batch %d, which was not acknowledged", acked)
	}
	batches := acked
	if perBatch[int64(acked)] > 0 {
		batches++ // the batch in flight when the process died committed
	}
	require.Len(t, perBatch, batches, "batches present after %d acknowledged", acked)
	for k := range batches {
		require.Equal(t, crashBatch, perBatch[int64(k)], "events of batch %d", k)
		n, err := s.Count(ctx, &Filter{Traits: []TraitFilter{{Name: "batch", Type: TypeInteger, Value: int64(k)}}})
		require.NoError(t, err)
		require.Equal(t, int64(crashBatch), n, "the trait index holds batch %d", k)
		if k%5 == 0 {
			n, err := s.Count(ctx, &Filter{Traits: []TraitFilter{{Name: fmt.Sprintf("new-%d", k), Op: OpGe, Type: TypeFloat, Value: 0.0}}})
			require.NoError(t, err)
			require.Equal(t, int64(crashBatch), n, "the trait index holds batch %d's new trait", k)
		}
	}
	res, err := s.Record(ctx, crashBatchEvents(batches))
	require.NoError(t, err)
	require.Equal(t, crashBatch, res.Stored, "the store records after the crash")
	got, err := s.Get(ctx, fmt.Sprintf("b%05d-%02d", batches, crashBatch-1))
	require.NoError(t, err)
	require.Equal(t, int64(batches), traitValue(t, got, "batch"))
	// The dictionaries hold every batch's types and traits, the one
	// recorded after the crash included.
	types, err := s.EventTypes(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"type.0", "type.1", "type.2"}, types)
	infos, err := s.TraitTypes(ctx, "type.0")
	require.NoError(t, err)
	names := map[string]bool{}
	for _, ti := range infos {
		names[ti.Name] = true
	}
	for k := 0; k <= batches; k += 5 {
		require.True(t, names[fmt.Sprintf("new-%d", k)], "dictionary row of batch %d's new trait", k)
	}

}

// traitValue returns the value of e's trait name.
func traitValue(t *testing.T, e *Event, name string) any {
	t.Helper()
	for _, tr := range e.Traits {
		if tr.Name == name {
			return tr.Value
		}
	}
	t.Fatalf("event %s has no trait %q", e.MessageID, name)
	return nil
}

// TestRecordAcrossPostgresRestart restarts the PostgreSQL server under a
// store that has recorded, read and listened: every pooled connection
// dies with the old server. Records, queries and the dictionaries go on
// with the new one, and nothing recorded before is lost.
func TestRecordAcrossPostgresRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster := pgtest.NewCluster(t)
	s := openOn(t, cluster.NewDatabase(t), nil)
	for k := range 3 {
		res, err := s.Record(ctx, crashBatchEvents(k))
		require.NoError(t, err)
		require.Equal(t, crashBatch, res.Stored)
	}
	_, err := s.Query(ctx, &Query{Limit: 10})
	require.NoError(t, err)
	_, err = s.EventTypes(ctx)
	require.NoError(t, err)

	cluster.Restart(t)
	res, err := s.Record(ctx, crashBatchEvents(3))
	require.NoError(t, err, "the first Record after the restart")
	require.Equal(t, crashBatch, res.Stored)
	checkWholeBatches(t, s, 4, 0)
}

// TestRecordOnFullDisk fills the SQLite database (its writer's
// max_page_count stands for a full disk): the Record that finds no room
// fails with datasource.ErrFull and leaves nothing of its batch, every
// batch recorded before stays whole, and once there is room again the
// same batch records.
func TestRecordOnFullDisk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openOn(t, "sqlite://"+filepath.Join(t.TempDir(), "events.db"), nil)
	for k := range 3 {
		_, err := s.Record(ctx, crashBatchEvents(k))
		require.NoError(t, err)
	}
	var pages int64
	require.NoError(t, s.db.GetContext(ctx, &pages, `PRAGMA page_count`))
	_, err := s.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+2))
	require.NoError(t, err)
	k := 3
	for ; k < 50; k++ {
		if _, err = s.Record(ctx, crashBatchEvents(k)); err != nil {
			break
		}
	}
	require.Error(t, err, "a Record fails once the database is full")
	t.Logf("batch %d: %v", k, err)
	require.ErrorIs(t, err, datasource.ErrFull)

	_, err = s.db.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`)
	require.NoError(t, err)
	n, err := s.Count(ctx, &Filter{Traits: []TraitFilter{{Name: "batch", Type: TypeInteger, Value: int64(k)}}})
	require.NoError(t, err)
	require.Zero(t, n, "nothing of the batch that found no room")
	checkWholeBatches(t, s, k, 0)
}

// TestPutStreamsOneTransaction puts two streams at once: the reports are
// per stream (an invalid object rejected in its own stream), and when the
// database is full neither stream keeps anything.
func TestPutStreamsOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openOn(t, "sqlite://"+filepath.Join(t.TempDir(), "events.db"), nil)
	objs := func(n int, payload string) []json.RawMessage {
		out := make([]json.RawMessage, n)
		for i := range out {
			out[i] = json.RawMessage(fmt.Sprintf(`{"@time": %d, "i": %d, "p": %q}`, KronosTime(base)+int64(i)*10, i, payload))
		}
		return out
	}
	res, err := s.PutStreams(ctx, map[string][]json.RawMessage{
		"clicks": objs(3, ""),
		"views":  append(objs(2, ""), json.RawMessage(`[1]`)),
	})
	require.NoError(t, err)
	require.Equal(t, 3, res["clicks"].Stored)
	require.Equal(t, 2, res["views"].Stored)
	require.Equal(t, 1, res["views"].Rejected)
	require.Equal(t, 2, res["views"].Outcomes[2].Index, "outcomes are indexed within their stream")
	require.ErrorContains(t, res["views"].Outcomes[2].Err, "not a JSON object")

	var pages int64
	require.NoError(t, s.db.GetContext(ctx, &pages, `PRAGMA page_count`))
	_, err = s.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+1))
	require.NoError(t, err)
	big := strings.Repeat("x", 3000)
	_, err = s.PutStreams(ctx, map[string][]json.RawMessage{"a": objs(20, big), "b": objs(20, big)})
	require.ErrorIs(t, err, datasource.ErrFull)
	for _, name := range []string{"a", "b"} {
		got, err := s.GetStream(ctx, &StreamQuery{Stream: name})
		require.NoError(t, err)
		require.Empty(t, got, "stream %s keeps nothing of the put that failed", name)
	}
}

// TestKilledExpiryLosesNothing kills a process (SIGKILL) while it expires
// events, after some of its transactions: the events those removed are
// gone, the others are whole (rows and trait index agree), and the next
// expiry removes the rest, their trait index runs and the dictionary rows
// left without events.
func TestKilledExpiryLosesNothing(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		_, b := open(t, nil)
		const killAfter = 3
		acked := runRecorder(t, b.url, fmt.Sprintf("expire:%d", killAfter), 0)
		require.Equal(t, expireBatches, acked)

		s := openOn(t, b.url, nil)
		left := allPages(t, s, &Query{Limit: 500})
		require.Len(t, left, (expireBatches-killAfter)*crashBatch, "events left after %d expiry transactions", killAfter)
		for _, e := range left {
			n, err := s.Count(ctx, &Filter{MessageID: e.MessageID, Traits: []TraitFilter{{Name: "batch", Type: TypeInteger, Value: traitValue(t, e, "batch")}}})
			require.NoError(t, err)
			require.Equal(t, int64(1), n, "event %s is found through the trait index", e.MessageID)
		}
		n, err := s.Count(ctx, &Filter{Traits: []TraitFilter{{Name: "host", Op: OpGe, Type: TypeString, Value: ""}}})
		require.NoError(t, err)
		require.Equal(t, int64(len(left)), n, "the trait index counts the events left")

		n, _, err = s.Expire(ctx, base.AddDate(1, 0, 0), 0, false)
		require.NoError(t, err)
		require.Equal(t, int64(len(left)), n)
		types, err := s.EventTypes(ctx)
		require.NoError(t, err)
		require.Empty(t, types, "the dictionaries are pruned")
		var runs int
		require.NoError(t, s.db.GetContext(ctx, &runs, `SELECT COUNT(*) FROM event_trait_run`))
		require.Zero(t, runs, "the trait index runs of expired events are gone")
	})
}
