// Package bench runs the workloads of BENCH.md against a dataspace and
// reports one figure per row.
package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/dataspace"
)

// Result is one figure: {"workload": "W3", "backend": "sqlite",
// "metric": "ms_per_duplicate", "value": 1.7}. Raw-SQL references use
// workloads named "RAW-<id>".
type Result struct {
	Workload string  `json:"workload"`
	Backend  string  `json:"backend"`
	Metric   string  `json:"metric"`
	Value    float64 `json:"value"`
}

// Env is what a workload runs against.
type Env struct {
	// Space is the open dataspace. Workloads create their own task
	// managers and never touch others'.
	Space *dataspace.DataSpace
	// Raw is a pool for raw-SQL references.
	Raw *sqlx.DB
	// Scale multiplies the sizes of BENCH.md: 1 is the real workload,
	// tests use a small fraction. Counts never drop below 1.
	Scale float64
	// Progress, when set, reports progress of long steps.
	Progress func(workload, step string, done, total int)
}

// N scales a BENCH.md count.
func (e *Env) N(n int) int { return max(1, int(float64(n)*e.Scale)) }

// Backend names the backend under test.
func (e *Env) Backend() string { return e.Space.Backend() }

// progress reports progress when a reporter is set.
func (e *Env) progress(workload, step string, done, total int) {
	if e.Progress != nil {
		e.Progress(workload, step, done, total)
	}
}

// Workload is one benchmark of BENCH.md.
type Workload struct {
	// ID is the BENCH.md id, e.g. "W3" or "E2".
	ID string
	// Description says what it measures.
	Description string
	// Run performs the workload and returns its figures, raw references
	// included.
	Run func(ctx context.Context, env *Env) ([]Result, error)
}

var (
	mu        sync.Mutex
	workloads []Workload
)

// Register adds a workload; packages call it from init.
func Register(w Workload) {
	mu.Lock()
	defer mu.Unlock()
	workloads = append(workloads, w)
}

// Workloads lists the registered workloads in id order (W before E).
func Workloads() []Workload {
	mu.Lock()
	defer mu.Unlock()
	out := slices.Clone(workloads)
	slices.SortStableFunc(out, func(a, b Workload) int { return strings.Compare(sortKey(a.ID), sortKey(b.ID)) })
	return out
}

func sortKey(id string) string {
	if strings.HasPrefix(id, "W") {
		return "0" + id
	}
	return "1" + id
}

// Run runs the selected workloads (all when ids is empty) and passes each
// figure to emit as soon as it is measured.
func Run(ctx context.Context, env *Env, ids []string, emit func(Result)) error {
	all := Workloads()
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(w Workload) bool { return strings.EqualFold(w.ID, id) }) {
			var known []string
			for _, w := range all {
				known = append(known, w.ID)
			}
			return fmt.Errorf("unknown workload %q: known are %s", id, strings.Join(known, ", "))
		}
	}
	for _, w := range all {
		if len(ids) > 0 && !slices.ContainsFunc(ids, func(id string) bool { return strings.EqualFold(w.ID, id) }) {
			continue
		}
		rs, err := w.Run(ctx, env)
		if err != nil {
			return fmt.Errorf("workload %s: %w", w.ID, err)
		}
		for _, r := range rs {
			emit(r)
		}
	}
	return nil
}

// Summary is a figure measured over several rounds: Value is its median,
// Min and Max its extremes, Runs how many rounds measured it.
type Summary struct {
	Result
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Runs int     `json:"runs"`
}

// Repeat runs the selected workloads (all when ids is empty) rounds
// times, one round of them after another, and returns each figure's
// median, in the order the first round measured them. BENCH.md asks for
// medians of several runs: a shared machine has slow spells, and rounds
// spread one over every workload instead of letting it fall on one.
// Between rounds it removes what the round created (Cleanup), so that
// every round starts alike. On an error it returns the figures of the
// rounds done so far with it.
func Repeat(ctx context.Context, env *Env, ids []string, rounds int) ([]Summary, error) {
	if rounds < 1 {
		return nil, fmt.Errorf("bench rounds %d: want 1 or more", rounds)
	}
	var (
		order  []Result
		values = map[Result][]float64{}
	)
	progress := env.Progress
	defer func() { env.Progress = progress }()
	for round := 1; round <= rounds; round++ {
		if progress != nil && rounds > 1 {
			env.Progress = func(workload, step string, done, total int) {
				progress(fmt.Sprintf("%s (round %d/%d)", workload, round, rounds), step, done, total)
			}
		}
		err := Run(ctx, env, ids, func(r Result) {
			key := r
			key.Value = 0
			if _, ok := values[key]; !ok {
				order = append(order, key)
			}
			values[key] = append(values[key], r.Value)
		})
		if err == nil && round < rounds {
			err = env.Cleanup(ctx)
		}
		if err != nil {
			return summarize(order, values), fmt.Errorf("round %d of %d: %w", round, rounds, err)
		}
	}
	return summarize(order, values), nil
}

// summarize returns the median, lowest and highest of each figure's
// values.
func summarize(order []Result, values map[Result][]float64) []Summary {
	out := make([]Summary, 0, len(order))
	for _, key := range order {
		vs := values[key]
		s := Summary{Result: key, Min: slices.Min(vs), Max: slices.Max(vs), Runs: len(vs)}
		s.Value = median(vs)
		out = append(out, s)
	}
	return out
}

// median returns the middle of vs once sorted, or the mean of the middle
// two.
func median[T ~int64 | ~float64](vs []T) T {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
