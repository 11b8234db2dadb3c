package reaper_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/events"
	"github.com/strata-dataspace/strata/reaper"
)

// The event store is an Expirer: expired events go in the reaper's run,
// and the reaper's own retention leaves the others alone.
func TestEventsExpireInTheSameRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			sc := newScenario(t, be.url(t))
			store, err := events.Open(ctx, sc.space, &events.Config{Clock: sc.clk.Now})
			require.NoError(t, err)
			now := sc.clk.Now()
			res, err := store.Record(ctx, []*events.Event{
				{MessageID: "gone", EventType: "compute.instance.create.end", Generated: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)},
				{MessageID: "kept", EventType: "compute.instance.create.end", Generated: now.Add(-2 * time.Hour), Expires: now.Add(time.Hour)},
			})
			require.NoError(t, err)
			require.NotNil(t, res)

			dry := sc.reaper(t, reaper.Config{DryRun: true, Expirers: []reaper.Expirer{store}})
			rep, err := dry.RunOnce(ctx)
			require.NoError(t, err)
			require.Equal(t, "events", rep.Expirers[0].Name)
			require.Equal(t, int64(1), rep.Expirers[0].Rows)
			n, err := store.Count(ctx, &events.Filter{})
			require.NoError(t, err)
			require.Equal(t, int64(2), n)

			r := sc.reaper(t, reaper.Config{Expirers: []reaper.Expirer{store}})
			rep, err = r.RunOnce(ctx)
			require.NoError(t, err)
			require.Equal(t, int64(1), rep.Expirers[0].Rows)
			require.Equal(t, int64(5), rep.Generations.Rows)
			n, err = store.Count(ctx, &events.Filter{})
			require.NoError(t, err)
			require.Equal(t, int64(1), n)
		})
	}
}
