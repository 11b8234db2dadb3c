package modules_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/examples/channel/modules"
	"github.com/strata-dataspace/strata/internal/pgtest"
	"github.com/strata-dataspace/strata/taskmanager"
	"github.com/strata-dataspace/strata/taskmanager/logic"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// registry knows the logic engine and the example's modules.
func registry(t *testing.T) *taskmanager.Registry {
	t.Helper()
	reg := taskmanager.NewRegistry()
	require.NoError(t, logic.Register(reg))
	require.NoError(t, modules.Register(reg))
	return reg
}

func products(t *testing.T, vals map[string]any) *taskmanager.Products {
	t.Helper()
	raw := map[string]json.RawMessage{}
	for k, v := range vals {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		raw[k] = b
	}
	return taskmanager.NewProducts("test", 1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), raw)
}

// loadChannel reads channel.json with its publishers writing into dir.
func loadChannel(t *testing.T, dir string) *taskmanager.ChannelConfig {
	t.Helper()
	f, err := taskmanager.LoadFile("../channel.json")
	require.NoError(t, err)
	require.Len(t, f.Channels, 1)
	cc := f.Channels[0]
	require.Equal(t, "provisioning", cc.Name)
	for name, mc := range cc.Publishers {
		var p modules.JSONLinesParams
		require.NoError(t, mc.Parameters.Decode(&p))
		p.Path = filepath.Join(dir, name+".jsonl")
		b, err := json.Marshal(p)
		require.NoError(t, err)
		mc.Parameters = b
	}
	return cc
}

func TestChooserAndFigureOfMerit(t *testing.T) {
	t.Parallel()

	offers := []modules.Offer{
		{OfferID: "a", Cores: 4, PricePerHour: 0.2, Available: 8},  // 20 cores/$h
		{OfferID: "b", Cores: 16, PricePerHour: 0.5, Available: 2}, // 32 × 0.5 = 16
		{OfferID: "c", Cores: 2, PricePerHour: 0.1, Available: 0},  // none left
		{OfferID: "d", Cores: 8, PricePerHour: 0.2, Available: 4},  // 40
	}
	f, err := modulesTransform(t, "figureofmerit", nil).Transform(context.Background(), products(t, map[string]any{"offers": offers}))
	require.NoError(t, err)
	ranked := f["offer_fom"].([]modules.RankedOffer)
	var ids []string
	for _, r := range ranked {
		ids = append(ids, r.OfferID)
	}
	require.Equal(t, []string{"d", "a", "b"}, ids)
	require.Equal(t, 40.0, ranked[0].FigureOfMerit)

	out, err := modulesTransform(t, "chooser", []byte(`{"max_per_offer": 3}`)).Transform(context.Background(), products(t, map[string]any{
		"offer_fom": ranked,
		"demand":    modules.Demand{ShortfallCores: 30},
	}))
	require.NoError(t, err)
	reqs := out["requests"].([]modules.Request)
	require.Equal(t, []modules.Request{
		{OfferID: "d", Count: 3, Cores: 24, CostPerHour: 0.6},
		{OfferID: "a", Count: 2, Cores: 8, CostPerHour: 0.4},
	}, reqs)
}

func modulesTransform(t *testing.T, name string, params []byte) taskmanager.Transform {
	t.Helper()
	tr, err := registry(t).NewTransform(name, params)
	require.NoError(t, err)
	return tr
}

func TestSourcesAreSeeded(t *testing.T) {
	t.Parallel()

	for _, name := range []string{"jobqueue", "resourceoffers"} {
		a, err := registry(t).NewSource(name, []byte(`{"seed": 5}`))
		require.NoError(t, err)
		b, err := registry(t).NewSource(name, []byte(`{"seed": 5}`))
		require.NoError(t, err)
		a1, err := a.Acquire(context.Background())
		require.NoError(t, err)
		b1, err := b.Acquire(context.Background())
		require.NoError(t, err)
		require.Equal(t, a1, b1, "%s: same seed, same first acquisition", name)
		a2, err := a.Acquire(context.Background())
		require.NoError(t, err)
		require.NotEqual(t, a1, a2, "%s: each acquisition differs", name)
		for _, p := range a.Produces() {
			require.Contains(t, a1, p)
		}
	}
	_, err := registry(t).NewSource("jobqueue", []byte(`{"seed": 5, "colour": "red"}`))
	require.ErrorIs(t, err, taskmanager.ErrConfig)
}

func TestJSONLines(t *testing.T) {
	t.Parallel()

	path := filepath.Join(t.TempDir(), "out", "requests.jsonl")
	p, err := registry(t).NewPublisher("jsonlines", []byte(`{"path": "`+path+`", "product": "requests"}`))
	require.NoError(t, err)
	require.Equal(t, []string{"requests"}, p.Consumes())
	in := products(t, map[string]any{"requests": []modules.Request{{OfferID: "a", Count: 1}, {OfferID: "b", Count: 2}}})
	require.NoError(t, p.Publish(context.Background(), in))
	require.NoError(t, p.Publish(context.Background(), in))
	lines := readLines(t, path)
	require.Len(t, lines, 4)
	require.Equal(t, "test", lines[0].Channel)
	require.JSONEq(t, `{"offer_id":"b","site":"","instance_type":"","count":2,"cores":0,"cost_per_hour":0}`, string(lines[1].Record))

	_, err = registry(t).NewPublisher("jsonlines", []byte(`{"product": "requests"}`))
	require.ErrorIs(t, err, taskmanager.ErrConfig)
}

func readLines(t *testing.T, path string) []modules.Line {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var out []modules.Line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l modules.Line
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l))
		out = append(out, l)
	}
	require.NoError(t, sc.Err())
	return out
}

func TestExampleChannel(t *testing.T) {
	t.Parallel()

	for _, b := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"SQLite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "strata.db") }},
		{"PostgreSQL", func(t *testing.T) string { return pgtest.NewDatabase(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()

			ctx := context.Background()
			space, err := dataspace.Open(ctx, b.url(t), nil)
			require.NoError(t, err)
			t.Cleanup(func() { space.Close() })
			dir := t.TempDir()
			c, err := taskmanager.NewChannel(ctx, space, loadChannel(t, dir), &taskmanager.Config{Registry: registry(t)})
			require.NoError(t, err)
			requestLines := 0
			ran := map[string]int{}
			for i := range 10 {
				res, err := c.RunCycle(ctx)
				require.NoError(t, err)
				require.Equal(t, int64(i+1), res.Generation)
				blk, err := space.DataBlock(ctx, "provisioning")
				require.NoError(t, err)
				facts, err := datablock.Get[taskmanager.Decision](ctx, blk, taskmanager.FactsKey)
				require.NoError(t, err)
				require.Equal(t, res.Decision.Actions, facts.Actions)
				status, err := datablock.Get[map[string]taskmanager.PublisherStatus](ctx, blk, taskmanager.PublishersKey)
				require.NoError(t, err)
				for _, p := range res.Publishers {
					require.True(t, status[p].OK, p)
					ran[p]++
					if p == "request_file" {
						reqs, err := datablock.Get[[]modules.Request](ctx, blk, "requests")
						require.NoError(t, err)
						requestLines += len(reqs)
					}
				}
				// The logic engine's reasons hold together.
				f := facts.Facts
				require.Equal(t, f["has_idle_jobs"] && f["demand_exceeds_capacity"], f["need_resources"])
				require.Equal(t, f["need_resources"] && !f["over_budget"], facts.Rules["provision"])
			}
			require.Len(t, readLines(t, filepath.Join(dir, "request_file.jsonl")), requestLines)
			require.NotZero(t, ran["request_file"], "the seeded run provisions at least once")
		})
	}
}

func TestJsonnetChannels(t *testing.T) {
	t.Parallel()

	f, err := taskmanager.LoadFile("../channel.jsonnet")
	require.NoError(t, err)
	require.Len(t, f.Channels, 2)
	require.Equal(t, "provisioning_cloud", f.Channels[0].Name)
	require.Equal(t, "provisioning_hpc", f.Channels[1].Name)

	ctx := context.Background()
	space, err := dataspace.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "strata.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { space.Close() })
	dir := t.TempDir()
	for _, cc := range f.Channels {
		for name, mc := range cc.Publishers {
			mc.Parameters = taskmanager.Params(`{"path": "` + filepath.Join(dir, cc.Name+"-"+name+".jsonl") + `", "product": "requests"}`)
		}
		c, err := taskmanager.NewChannel(ctx, space, cc, &taskmanager.Config{Registry: registry(t)})
		require.NoError(t, err)
		res, err := c.RunCycle(ctx)
		require.NoError(t, err)
		require.Equal(t, cc.Name, res.Channel)
		require.Contains(t, res.Decision.Facts, "over_budget")
	}
}
