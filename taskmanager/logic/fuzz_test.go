package logic_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/taskmanager"
	"github.com/strata-dataspace/strata/taskmanager/logic"
)

// FuzzEngine compiles an engine with one fuzzed fact and one fuzzed rule
// next to fixed ones, and evaluates it over fixed products. New either
// compiles or fails with ErrConfig; Evaluate either decides or fails with
// ErrEval; and a decision is consistent: every fact and rule has a value,
// a rule's facts hold its value, and the actions are exactly those the
// rules' values choose.
//
// expr bounds a program to 10,000 AST nodes and a run to a memory budget
// (which also bounds its loops), so short expressions cannot run long;
// they are still capped at 1 KiB each here.
func FuzzEngine(f *testing.F) {
	for _, c := range [][2]string{
		{`demand.jobs > 0`, `f && !g`},
		{`sum(requests, .cost_per_hour) > 40`, `f || g`},
		{`len(requests) == 2`, `!f`},
		{`demand.jobs`, `f`},
		{`let n = demand.jobs; n > 1`, `f and g`},
		{`unknown_product > 0`, `f`},
		{`$env.demand.jobs > 0`, `true`},
		{`1 + 1`, `f`},
		{`demand.nope.deeper > 0`, `f`},
		{`requests[5].cost_per_hour > 0`, `g`},
		{`all(1..1000, {all(1..1000, {all(1..1000, true)})})`, `f`},
		{`f`, `derived`},
		{`true`, `f + 1`},
		{`true`, `unknown_fact`},
		{`true`, `demand.jobs > 0`},
		{`true`, ` `},
		{``, `f`},
		{`(`, `f`},
		{`true`, `(`},
		{"\xff", "\xff"},
	} {
		f.Add(c[0], c[1])
	}
	raw := map[string]json.RawMessage{
		"demand":   json.RawMessage(`{"jobs": 3, "sites": ["FNAL", "CERN"]}`),
		"requests": json.RawMessage(`[{"cost_per_hour": 10.5}, {"cost_per_hour": 30}]`),
		"count":    json.RawMessage(`7`),
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, fact, expression string) {
		if len(fact) > 1<<10 || len(expression) > 1<<10 {
			return
		}
		cfg := &logic.Config{
			Facts: map[string]string{"f": fact, "g": "demand.jobs > 0"},
			Rules: map[string]logic.Rule{
				"r": {Expression: expression, Actions: []string{"yes"}, FalseActions: []string{"no"}, Facts: []string{"derived"}},
				"s": {Expression: "derived || g", Actions: []string{"then"}},
			},
		}
		e, err := logic.New(cfg)
		if err != nil {
			require.Nil(t, e)
			require.ErrorIs(t, err, logic.ErrConfig)
			return
		}
		require.NotNil(t, e)
		require.Equal(t, []string{"no", "then", "yes"}, e.Actions())
		require.Contains(t, e.Consumes(), "demand")
		require.True(t, slices.IsSorted(e.Consumes()))

		// Every product the facts read exists; unknown ones are null.
		products := map[string]json.RawMessage{}
		for _, k := range e.Consumes() {
			products[k] = raw[k]
			if products[k] == nil {
				products[k] = json.RawMessage(`null`)
			}
		}
		d, err := e.Evaluate(ctx, taskmanager.NewProducts("fuzz", 1, time.Unix(0, 0), products))
		if err != nil {
			require.Nil(t, d)
			require.ErrorIs(t, err, logic.ErrEval)
			return
		}
		require.NotNil(t, d)
		require.True(t, d.Facts["g"], "demand.jobs > 0")
		require.Contains(t, d.Facts, "f")
		require.Contains(t, d.Rules, "r")
		require.Equal(t, d.Rules["r"], d.Facts["derived"], "rule r sets fact derived")
		require.Equal(t, d.Facts["derived"] || d.Facts["g"], d.Rules["s"])
		want := []string{"then"}
		reasonR := "r"
		if !d.Rules["r"] {
			reasonR = "!r"
		}
		if d.Rules["r"] {
			want = append(want, "yes")
			require.Equal(t, []string{reasonR}, d.Reasons["yes"])
		} else {
			want = append([]string{"no"}, want...)
			require.Equal(t, []string{reasonR}, d.Reasons["no"])
		}
		require.Equal(t, want, d.Actions)
		require.Equal(t, []string{"s"}, d.Reasons["then"])
	})
}
