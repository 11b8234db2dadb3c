package logic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/taskmanager"
	"github.com/strata-dataspace/strata/taskmanager/logic"
)

func products(t *testing.T, vals map[string]any) *taskmanager.Products {
	t.Helper()
	raw := map[string]json.RawMessage{}
	for k, v := range vals {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		raw[k] = b
	}
	return taskmanager.NewProducts("test", 1, time.Unix(0, 0), raw)
}

func TestEngine(t *testing.T) {
	t.Parallel()

	cfg := &logic.Config{
		Facts: map[string]string{
			"has_jobs":    "len(jobs) > 0",
			"big_demand":  "sum(jobs, .cpus) > capacity.cpus",
			"over_budget": "budget.spent >= budget.limit",
		},
		Rules: map[string]logic.Rule{
			"need":      {Expression: "has_jobs && big_demand", Facts: []string{"need_resources"}},
			"provision": {Expression: "need_resources && !over_budget", Actions: []string{"requests"}, FalseActions: []string{"noop"}},
			"alert":     {Expression: "need_resources && over_budget", Actions: []string{"alert"}},
		},
	}
	e, err := logic.New(cfg)
	require.NoError(t, err)
	require.Equal(t, []string{"budget", "capacity", "jobs"}, e.Consumes())
	require.Equal(t, []string{"alert", "noop", "requests"}, e.Actions())

	t.Run("ChainingAndNegation", func(t *testing.T) {
		t.Parallel()

		d, err := e.Evaluate(context.Background(), products(t, map[string]any{
			"jobs":     []map[string]any{{"cpus": 4}, {"cpus": 8}},
			"capacity": map[string]any{"cpus": 10},
			"budget":   map[string]any{"spent": 5, "limit": 10},
		}))
		require.NoError(t, err)
		require.Equal(t, map[string]bool{"has_jobs": true, "big_demand": true, "over_budget": false, "need_resources": true}, d.Facts)
		require.Equal(t, map[string]bool{"need": true, "provision": true, "alert": false}, d.Rules)
		require.Equal(t, []string{"requests"}, d.Actions)
		require.Equal(t, map[string][]string{"requests": {"provision"}}, d.Reasons)
	})

	t.Run("OverBudgetAlerts", func(t *testing.T) {
		t.Parallel()

		d, err := e.Evaluate(context.Background(), products(t, map[string]any{
			"jobs":     []map[string]any{{"cpus": 40}},
			"capacity": map[string]any{"cpus": 10},
			"budget":   map[string]any{"spent": 10, "limit": 10},
		}))
		require.NoError(t, err)
		require.Equal(t, []string{"alert", "noop"}, d.Actions)
		require.Equal(t, map[string][]string{"alert": {"alert"}, "noop": {"!provision"}}, d.Reasons)
	})

	t.Run("NoDemandChoosesFalseActions", func(t *testing.T) {
		t.Parallel()

		d, err := e.Evaluate(context.Background(), products(t, map[string]any{
			"jobs":     []any{},
			"capacity": map[string]any{"cpus": 10},
			"budget":   map[string]any{"spent": 0, "limit": 10},
		}))
		require.NoError(t, err)
		require.False(t, d.Facts["need_resources"])
		require.Equal(t, []string{"noop"}, d.Actions)
	})

	t.Run("NonBooleanFactIsAnError", func(t *testing.T) {
		t.Parallel()

		e, err := logic.New(&logic.Config{Facts: map[string]string{"n": "len(jobs)"}})
		require.NoError(t, err)
		_, err = e.Evaluate(context.Background(), products(t, map[string]any{"jobs": []int{1}}))
		require.ErrorIs(t, err, logic.ErrEval)
		require.ErrorContains(t, err, `fact "n"`)
	})
}

func TestNewErrors(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name string
		cfg  logic.Config
		want string
	}{
		{"BadFactSyntax", logic.Config{Facts: map[string]string{"f": "a &&"}}, `fact "f"`},
		{"RuleReadsUnknownFact", logic.Config{Facts: map[string]string{"f": "true"}, Rules: map[string]logic.Rule{"r": {Expression: "f && g"}}}, `rule "r"`},
		{"RuleNotBoolean", logic.Config{Facts: map[string]string{"f": "true"}, Rules: map[string]logic.Rule{"r": {Expression: "1 + 2"}}}, `rule "r"`},
		{"RuleSetsConfiguredFact", logic.Config{Facts: map[string]string{"f": "true"}, Rules: map[string]logic.Rule{"r": {Expression: "f", Facts: []string{"f"}}}}, `also a configured fact`},
		{"TwoRulesSetOneFact", logic.Config{Facts: map[string]string{"f": "true"}, Rules: map[string]logic.Rule{
			"a": {Expression: "f", Facts: []string{"x"}}, "b": {Expression: "f", Facts: []string{"x"}}}}, `both set fact "x"`},
		{"RuleCycle", logic.Config{Facts: map[string]string{"f": "true"}, Rules: map[string]logic.Rule{
			"a": {Expression: "f && y", Facts: []string{"x"}}, "b": {Expression: "x", Facts: []string{"y"}}}}, `"a", "b" depend on each other`},
		{"EmptyRule", logic.Config{Rules: map[string]logic.Rule{"r": {}}}, `rule "r" has no expression`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			_, err := logic.New(&tc.cfg)
			require.ErrorIs(t, err, logic.ErrConfig)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func ExampleEngine_Evaluate() {
	e, err := logic.New(&logic.Config{
		Facts: map[string]string{"busy": "queue.idle > 10", "cheap": "offer.price < 1.5"},
		Rules: map[string]logic.Rule{
			"want_more": {Expression: "busy", Facts: []string{"want"}},
			"buy":       {Expression: "want && cheap", Actions: []string{"buyer"}},
			"wait":      {Expression: "want && !cheap", Actions: []string{"notifier"}},
		},
	})
	if err != nil {
		panic(err)
	}
	in := taskmanager.NewProducts("demo", 1, time.Time{}, map[string]json.RawMessage{
		"queue": json.RawMessage(`{"idle": 25}`),
		"offer": json.RawMessage(`{"price": 2.0}`),
	})
	d, err := e.Evaluate(context.Background(), in)
	if err != nil {
		panic(err)
	}
	out, _ := json.Marshal(d)
	fmt.Println(string(out))
	// Output:
	// {"facts":{"busy":true,"cheap":false,"want":true},"rules":{"buy":false,"wait":true,"want_more":true},"actions":["notifier"],"reasons":{"notifier":["wait"]}}
}

func TestConsumes(t *testing.T) {
	t.Parallel()

	e, err := logic.New(&logic.Config{Facts: map[string]string{
		"a": `sum(requests, .cores) >= demand.shortfall && len(filter(jobs, .queue == "gpu")) > 0`,
		"b": `let limit = budget.max; any(offers, {#.price < limit}) || now() == nil || true`,
	}})
	require.NoError(t, err)
	require.Equal(t, []string{"budget", "demand", "jobs", "offers", "requests"}, e.Consumes())
}
