package taskmanager_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/clock/clocktest"
	"github.com/strata-dataspace/strata/internal/pgtest"
	"github.com/strata-dataspace/strata/taskmanager"
	"github.com/strata-dataspace/strata/taskmanager/logic"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// backends are the real datasources every behaviour is tested on.
var backends = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"SQLite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "strata.db") }},
	{"PostgreSQL", func(t *testing.T) string { return pgtest.NewDatabase(t) }},
}

// forEachBackend runs f as a parallel subtest per backend, with a fresh
// dataspace.
func forEachBackend(t *testing.T, f func(t *testing.T, space *dataspace.DataSpace)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()

			space, err := dataspace.Open(context.Background(), b.url(t), nil)
			require.NoError(t, err)
			t.Cleanup(func() { space.Close() })
			f(t, space)
		})
	}
}

func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: t.Output(), Level: hclog.Debug})
}

// newClock returns the clock tests drive the channels with.
func newClock() *clocktest.Clock {
	return clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// Test modules, built from functions.

type funcSource struct {
	produces []string
	fn       func(ctx context.Context) (map[string]any, error)
}

func (s *funcSource) Produces() []string { return s.produces }
func (s *funcSource) Acquire(ctx context.Context) (map[string]any, error) {
	return s.fn(ctx)
}

// counterSource produces key = n, n counting from 1 per acquisition.
func counterSource(keys ...string) *funcSource {
	var mu sync.Mutex
	n := 0
	return &funcSource{produces: keys, fn: func(context.Context) (map[string]any, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		out := map[string]any{}
		for _, k := range keys {
			out[k] = n
		}
		return out, nil
	}}
}

type funcTransform struct {
	consumes, produces []string
	fn                 func(ctx context.Context, in *taskmanager.Products) (map[string]any, error)
}

func (t *funcTransform) Consumes() []string { return t.consumes }
func (t *funcTransform) Produces() []string { return t.produces }
func (t *funcTransform) Transform(ctx context.Context, in *taskmanager.Products) (map[string]any, error) {
	return t.fn(ctx, in)
}

// sumTransform produces out = the sum of its int inputs.
func sumTransform(out string, in ...string) *funcTransform {
	return &funcTransform{consumes: in, produces: []string{out}, fn: func(_ context.Context, p *taskmanager.Products) (map[string]any, error) {
		s := 0
		for _, k := range in {
			v, err := taskmanager.Get[int](p, k)
			if err != nil {
				return nil, err
			}
			s += v
		}
		return map[string]any{out: s}, nil
	}}
}

type funcPublisher struct {
	consumes []string
	fn       func(ctx context.Context, in *taskmanager.Products) error
}

func (p *funcPublisher) Consumes() []string { return p.consumes }
func (p *funcPublisher) Publish(ctx context.Context, in *taskmanager.Products) error {
	return p.fn(ctx, in)
}

// recorder is a publisher remembering the generations it saw.
type recorder struct {
	mu   sync.Mutex
	gens []int64
}

func (r *recorder) publisher(consumes ...string) *funcPublisher {
	return &funcPublisher{consumes: consumes, fn: func(_ context.Context, in *taskmanager.Products) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.gens = append(r.gens, in.Generation)
		return nil
	}}
}

func (r *recorder) seen() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.gens...)
}

// fixture builds a registry and a channel config together: every module
// is registered under its own name.
type fixture struct {
	t   *testing.T
	reg *taskmanager.Registry
	cc  *taskmanager.ChannelConfig
}

func newFixture(t *testing.T, name string) *fixture {
	reg := taskmanager.NewRegistry()
	require.NoError(t, logic.Register(reg))
	return &fixture{t: t, reg: reg, cc: &taskmanager.ChannelConfig{
		Name: name, Sources: map[string]*taskmanager.ModuleConfig{}, Transforms: map[string]*taskmanager.ModuleConfig{},
		LogicEngines: map[string]*taskmanager.ModuleConfig{}, Publishers: map[string]*taskmanager.ModuleConfig{},
	}}
}

func (f *fixture) source(name, schedule string, s taskmanager.Source) *fixture {
	mod := f.cc.Name + "." + name
	require.NoError(f.t, f.reg.RegisterSource(mod, func(taskmanager.Params) (taskmanager.Source, error) { return s, nil }))
	mc := &taskmanager.ModuleConfig{Module: mod}
	if schedule != "" {
		mc.Schedule = []byte(`"` + schedule + `"`)
	}
	f.cc.Sources[name] = mc
	return f
}

func (f *fixture) transform(name string, tr taskmanager.Transform) *fixture {
	mod := f.cc.Name + "." + name
	require.NoError(f.t, f.reg.RegisterTransform(mod, func(taskmanager.Params) (taskmanager.Transform, error) { return tr, nil }))
	f.cc.Transforms[name] = &taskmanager.ModuleConfig{Module: mod}
	return f
}

func (f *fixture) logic(name, params string) *fixture {
	f.cc.LogicEngines[name] = &taskmanager.ModuleConfig{Module: logic.ModuleName, Parameters: taskmanager.Params(params)}
	return f
}

func (f *fixture) publisher(name string, p taskmanager.Publisher) *fixture {
	mod := f.cc.Name + "." + name
	require.NoError(f.t, f.reg.RegisterPublisher(mod, func(taskmanager.Params) (taskmanager.Publisher, error) { return p, nil }))
	f.cc.Publishers[name] = &taskmanager.ModuleConfig{Module: mod}
	return f
}

func (f *fixture) policy(p taskmanager.FailurePolicy) *fixture {
	f.cc.TaskManager = &taskmanager.ChannelOptions{FailurePolicy: p}
	return f
}

func (f *fixture) config(clock taskmanager.Clock) *taskmanager.Config {
	return &taskmanager.Config{Registry: f.reg, Logger: testLogger(f.t), Clock: clock}
}

func (f *fixture) channel(space *dataspace.DataSpace, cfg *taskmanager.Config) *taskmanager.Channel {
	f.t.Helper()
	if cfg == nil {
		cfg = f.config(newClock())
	}
	c, err := taskmanager.NewChannel(context.Background(), space, f.cc, cfg)
	require.NoError(f.t, err)
	return c
}

// runAsync runs c in a goroutine and returns a channel with Run's result.
func runAsync(ctx context.Context, c *taskmanager.Channel) <-chan error {
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return done
}

func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the channel did not stop")
		return nil
	}
}

// watcher records a channel's cycles and states as they happen, so that a
// test waits on them rather than on the clock.
type watcher struct {
	mu      sync.Mutex
	results []*taskmanager.CycleResult
	cycles  chan *taskmanager.CycleResult
	states  chan taskmanager.State
}

// watch sets cfg's OnCycle and OnState to a new watcher.
func watch(cfg *taskmanager.Config) *watcher {
	w := &watcher{cycles: make(chan *taskmanager.CycleResult, 1000), states: make(chan taskmanager.State, 1000)}
	cfg.OnCycle = func(r *taskmanager.CycleResult) {
		w.mu.Lock()
		w.results = append(w.results, r)
		w.mu.Unlock()
		w.cycles <- r
	}
	cfg.OnState = func(_ string, s taskmanager.State) { w.states <- s }
	return w
}

// cycle waits for the next completed cycle.
func (w *watcher) cycle(t *testing.T) *taskmanager.CycleResult {
	t.Helper()
	select {
	case r := <-w.cycles:
		return r
	case <-time.After(20 * time.Second): // a safety net, not a wait
		t.Fatal("no cycle completed")
		return nil
	}
}

// state waits until the channel enters s.
func (w *watcher) state(t *testing.T, s taskmanager.State) {
	t.Helper()
	timeout := time.After(20 * time.Second) // a safety net, not a wait
	for {
		select {
		case got := <-w.states:
			if got == s {
				return
			}
		case <-timeout:
			t.Fatalf("the channel never entered %s", s)
		}
	}
}

// all returns every cycle completed so far.
func (w *watcher) all() []*taskmanager.CycleResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*taskmanager.CycleResult(nil), w.results...)
}

// sources returns the sources of each cycle completed so far, "+"-joined.
func (w *watcher) sources() []string {
	var out []string
	for _, r := range w.all() {
		out = append(out, strings.Join(r.Sources, "+"))
	}
	return out
}
