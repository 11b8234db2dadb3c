package taskmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/dataspace"
)

// ShutdownTimeoutDefault is how long a cycle that is already writing may
// go on after a shutdown was asked for, when Config.ShutdownTimeout is zero.
const ShutdownTimeoutDefault = 30 * time.Second

// Config configures channels. Registry is required; the rest may be zero.
type Config struct {
	// Registry resolves the module names of channel configs. Required.
	Registry *Registry
	// Logger gets the channels' logs. Nil discards them.
	Logger hclog.Logger
	// Clock drives source schedules and cycle times. Nil means RealClock.
	Clock Clock
	// Metrics receives channel and module metrics. Nil records none.
	Metrics *Metrics
	// MaxCycles stops a channel cleanly after that many completed decision
	// cycles. Zero means no limit.
	MaxCycles int
	// OnCycle, when set, is called after every completed cycle, from the
	// channel's goroutine.
	OnCycle func(*CycleResult)
	// OnState, when set, is called after every state change of a channel,
	// from the goroutine that changed it; it must not block.
	OnState func(channel string, s State)
	// ShutdownTimeout bounds (in wall-clock time) how long a cycle that has
	// started writing may go on after shutdown was asked for. Zero means
	// ShutdownTimeoutDefault.
	ShutdownTimeout time.Duration
	// WriteRetries is how many times a cycle's write (the duplicate of the
	// newest generation, then the one transaction of its products) is tried
	// again after a failure that may be transient: any datasource failure
	// but ErrInvalid, ErrSealed, ErrExists, ErrNotFound and ErrClosed,
	// datablock.ErrTooLarge or the context ending. (A duplicate retried
	// after its commit's reply was lost goes on in the generation it
	// opened.) Zero
	// means WriteRetriesDefault; negative means no retry. When the retries
	// are spent the channel goes to ERROR.
	WriteRetries int
	// WriteRetryDelay is the wait, by the channel's clock, before the first
	// retry of a cycle's write; it doubles at each retry. Zero means
	// WriteRetryDelayDefault.
	WriteRetryDelay time.Duration
}

// WriteRetriesDefault is Config.WriteRetries when zero.
const WriteRetriesDefault = 4

// WriteRetryDelayDefault is Config.WriteRetryDelay when zero.
const WriteRetryDelayDefault = time.Second

// CycleResult describes one completed decision cycle.
type CycleResult struct {
	// Channel names the channel.
	Channel string `json:"channel"`
	// Generation is the generation the cycle wrote.
	Generation int64 `json:"generation"`
	// Started is when the cycle started, from the channel's clock.
	Started time.Time `json:"started"`
	// Duration is how long the cycle took, by the channel's clock.
	Duration time.Duration `json:"duration_ns"`
	// ProductsWritten counts the products written, FactsKey and
	// PublishersKey included.
	ProductsWritten int `json:"products_written"`
	// Sources name the sources whose new products the cycle wrote.
	Sources []string `json:"sources"`
	// Publishers name the publishers that ran, in the order they ran.
	Publishers []string `json:"publishers"`
	// Decision is the logic engine's decision; nil without a logic engine.
	Decision *Decision `json:"decision,omitempty"`
}

// PublisherStatus is one publisher's entry in the PublishersKey product.
type PublisherStatus struct {
	// Ran says whether the publisher was chosen and run.
	Ran bool `json:"ran"`
	// OK says whether it ran without error.
	OK bool `json:"ok"`
	// Error is its error, if it failed.
	Error string `json:"error,omitempty"`
	// Seconds is how long it ran, by the channel's clock.
	Seconds float64 `json:"seconds"`
}

// ModuleError is a module's failure in a cycle. It wraps ErrModule and the
// module's own error.
type ModuleError struct {
	// Channel names the channel.
	Channel string
	// Kind is "source", "transform", "logic engine" or "publisher".
	Kind string
	// Module is the module's name in the channel config.
	Module string
	// Err is what the module returned.
	Err error
}

// Error says which module of which channel failed, and how.
func (e *ModuleError) Error() string {
	return fmt.Sprintf("channel %q: %s %q failed: %v", e.Channel, e.Kind, e.Module, e.Err)
}

// Unwrap returns ErrModule and the module's error.
func (e *ModuleError) Unwrap() []error { return []error{ErrModule, e.Err} }

// errFramework marks a failure of the framework itself (a datasource write).
type errFramework struct{ err error }

func (e *errFramework) Error() string { return e.err.Error() }
func (e *errFramework) Unwrap() error { return e.err }

type module struct {
	kind     string
	name     string
	consumes []string
	produces []string
}

type sourceModule struct {
	module
	src      Source
	schedule time.Duration
}

type transformModule struct {
	module
	t Transform
}

type engineModule struct {
	module
	e LogicEngine
}

type publisherModule struct {
	module
	p Publisher
}

// Channel runs one channel's decision cycles into the DataBlock of the task
// manager named after it.
type Channel struct {
	name       string
	space      *dataspace.DataSpace
	cfg        Config
	log        hclog.Logger
	clock      Clock
	policy     FailurePolicy
	sources    []*sourceModule
	levels     [][]*transformModule
	engine     *engineModule
	publishers []*publisherModule

	mu      sync.Mutex
	state   State
	started bool
	cycles  int

	// Owned by the goroutine running cycles.
	stopSources func() // set by Run: stops the sources and waits for them
	block       *datablock.DataBlock
	fresh       bool // block's generation holds no cycle yet
	values      map[string]json.RawMessage
	pending     map[string]json.RawMessage
	pendingFrom map[string]bool
	delivered   map[string]bool
}

// NewChannel builds a channel: it checks the config, builds the modules
// from the registry, checks the product graph and opens the newest
// generation of the task manager named cc.Name (a new one when unknown).
func NewChannel(ctx context.Context, space *dataspace.DataSpace, cc *ChannelConfig, cfg *Config) (*Channel, error) {
	if cfg == nil || cfg.Registry == nil {
		return nil, fmt.Errorf("%w: new channel %q: Config.Registry is required", ErrConfig, cc.Name)
	}
	if err := cc.Validate(); err != nil {
		return nil, err
	}
	policy, _ := cc.Policy()
	c := &Channel{
		name: cc.Name, space: space, cfg: *cfg, policy: policy, state: StateBoot,
		values: map[string]json.RawMessage{}, pending: map[string]json.RawMessage{},
		pendingFrom: map[string]bool{}, delivered: map[string]bool{},
	}
	if c.cfg.Logger == nil {
		c.cfg.Logger = hclog.NewNullLogger()
	}
	c.log = c.cfg.Logger.Named("taskmanager").With("channel", cc.Name)
	c.clock = c.cfg.Clock
	if c.clock == nil {
		c.clock = RealClock
	}
	if c.cfg.ShutdownTimeout <= 0 {
		c.cfg.ShutdownTimeout = ShutdownTimeoutDefault
	}
	switch {
	case c.cfg.WriteRetries == 0:
		c.cfg.WriteRetries = WriteRetriesDefault
	case c.cfg.WriteRetries < 0:
		c.cfg.WriteRetries = 0
	}
	if c.cfg.WriteRetryDelay <= 0 {
		c.cfg.WriteRetryDelay = WriteRetryDelayDefault
	}
	reg := c.cfg.Registry
	var nodes []graphNode
	// build builds one module with f and adds it to the graph's nodes.
	build := func(kind, name string, mc *ModuleConfig, f func() (consumes, produces []string, err error)) (module, error) {
		consumes, produces, err := f()
		if err != nil {
			return module{}, fmt.Errorf("channel %q: %s %q (module %q): %w", cc.Name, kind, name, mc.Module, err)
		}
		m := module{kind: kind, name: name, consumes: consumes, produces: produces}
		nodes = append(nodes, graphNode(m))
		return m, nil
	}
	for _, n := range sortedKeys(cc.Sources) {
		mc := cc.Sources[n]
		sm := &sourceModule{}
		m, err := build("source", n, mc, func() (_, _ []string, err error) {
			if sm.src, err = reg.NewSource(mc.Module, mc.Parameters); err != nil {
				return nil, nil, err
			}
			return nil, sm.src.Produces(), nil
		})
		if err != nil {
			return nil, err
		}
		sm.module = m
		if sm.schedule, err = cc.schedule(mc); err != nil {
			return nil, err
		}
		c.sources = append(c.sources, sm)
	}
	var transforms []*transformModule
	for _, n := range sortedKeys(cc.Transforms) {
		mc := cc.Transforms[n]
		tm := &transformModule{}
		m, err := build("transform", n, mc, func() (_, _ []string, err error) {
			if tm.t, err = reg.NewTransform(mc.Module, mc.Parameters); err != nil {
				return nil, nil, err
			}
			return tm.t.Consumes(), tm.t.Produces(), nil
		})
		if err != nil {
			return nil, err
		}
		tm.module = m
		transforms = append(transforms, tm)
	}
	for _, n := range sortedKeys(cc.LogicEngines) {
		mc := cc.LogicEngines[n]
		em := &engineModule{}
		m, err := build("logic engine", n, mc, func() (_, _ []string, err error) {
			if em.e, err = reg.NewLogicEngine(mc.Module, mc.Parameters); err != nil {
				return nil, nil, err
			}
			return em.e.Consumes(), nil, nil
		})
		if err != nil {
			return nil, err
		}
		em.module = m
		c.engine = em
	}
	for _, n := range sortedKeys(cc.Publishers) {
		mc := cc.Publishers[n]
		pm := &publisherModule{}
		m, err := build("publisher", n, mc, func() (_, _ []string, err error) {
			if pm.p, err = reg.NewPublisher(mc.Module, mc.Parameters); err != nil {
				return nil, nil, err
			}
			return pm.p.Consumes(), nil, nil
		})
		if err != nil {
			return nil, err
		}
		pm.module = m
		c.publishers = append(c.publishers, pm)
	}
	levels, err := checkGraph(cc.Name, nodes)
	if err != nil {
		return nil, err
	}
	for _, level := range levels {
		ts := make([]*transformModule, len(level))
		for i, j := range level {
			ts[i] = transforms[j]
		}
		c.levels = append(c.levels, ts)
	}
	if c.engine != nil {
		if al, ok := c.engine.e.(ActionLister); ok {
			var unknown []string
			for _, a := range al.Actions() {
				if !c.hasPublisher(a) {
					unknown = append(unknown, fmt.Sprintf("%q", a))
				}
			}
			if len(unknown) > 0 {
				return nil, fmt.Errorf("%w: channel %q: logic engine %q chooses publishers %s that the channel does not have",
					ErrGraph, cc.Name, c.engine.name, strings.Join(unknown, ", "))
			}
		}
	}
	if c.block, err = space.DataBlock(ctx, cc.Name); err != nil {
		return nil, fmt.Errorf("channel %q: %w", cc.Name, err)
	}
	if c.block.Generation() == 1 {
		keys, err := c.block.Keys(ctx)
		if err != nil {
			return nil, fmt.Errorf("channel %q: %w", cc.Name, err)
		}
		c.fresh = len(keys) == 0
	}
	c.cfg.Metrics.setChannelState(c.name, StateBoot)
	for _, m := range c.modules() {
		c.cfg.Metrics.setModuleState(c.name, m.kind, m.name, moduleIdle)
	}
	return c, nil
}

func (c *Channel) hasPublisher(name string) bool {
	for _, p := range c.publishers {
		if p.name == name {
			return true
		}
	}
	return false
}

func (c *Channel) modules() []*module {
	var ms []*module
	for _, s := range c.sources {
		ms = append(ms, &s.module)
	}
	for _, l := range c.levels {
		for _, t := range l {
			ms = append(ms, &t.module)
		}
	}
	if c.engine != nil {
		ms = append(ms, &c.engine.module)
	}
	for _, p := range c.publishers {
		ms = append(ms, &p.module)
	}
	return ms
}

// Name names the channel.
func (c *Channel) Name() string { return c.name }

// State returns the channel's state.
func (c *Channel) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Cycles returns how many decision cycles the channel completed.
func (c *Channel) Cycles() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cycles
}

func (c *Channel) setState(s State) {
	c.mu.Lock()
	old := c.state
	c.state = s
	c.mu.Unlock()
	if old != s {
		c.log.Debug("channel state", "from", old, "to", s)
		c.cfg.Metrics.setChannelState(c.name, s)
		if c.cfg.OnState != nil {
			c.cfg.OnState(c.name, s)
		}
	}
}

// Run runs the channel until ctx ends, MaxCycles cycles are done, or a
// failure stops it. Every source runs on its own schedule in its own
// goroutine, so a slow source never delays the others. A decision cycle
// runs when every expected source product has arrived: every source has
// delivered once, at least one delivered anew, and every source due at the
// same time as the newest delivery has delivered too (sources whose
// schedules are multiples of one another feed one cycle together). A
// source still busy with an earlier turn is not waited for: the cycle uses
// its last products, and its new ones feed a later cycle.
//
// A shutdown before a cycle starts writing abandons it (nothing of it is
// written); once writing began, the cycle finishes. Run returns once its
// sources have stopped: nil after a clean shutdown, a *ModuleError
// (wrapping ErrModule) when the channel went OFFLINE, and the datasource's
// error when it went to ERROR. Run may be called once.
func (c *Channel) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return fmt.Errorf("channel %q: %w", c.name, ErrRunning)
	}
	c.started = true
	c.mu.Unlock()
	c.setState(StateIdle)
	c.log.Debug("channel started", "sources", len(c.sources), "policy", c.policy)

	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	c.stopSources = func() {
		cancel()
		wg.Wait()
	}
	defer c.stopSources()
	// Room for one delivery per source: a source hands its products over
	// and goes on with its schedule while a cycle runs (a second delivery
	// waits until the channel took the first).
	deliveries := make(chan delivery, len(c.sources))
	start := c.clock.Now()
	due := make(map[*sourceModule]time.Time, len(c.sources))
	for _, s := range c.sources {
		due[s] = start
		wg.Go(func() { c.runSource(sctx, s, start, deliveries) })
	}
	var newest, failedAt time.Time // the newest turn delivered; the newest failed one
	for {
		var d delivery
		select {
		case <-ctx.Done():
			return c.shutdown()
		case d = <-deliveries:
		}
		due[d.s] = d.next
		if d.at.After(newest) {
			newest = d.at
		}
		if d.err != nil {
			if d.at.After(failedAt) {
				failedAt = d.at
			}
			if stop, err := c.failed(d.err); stop {
				return err
			}
		} else {
			maps.Copy(c.pending, d.out)
			c.pendingFrom[d.s.name] = true
			c.delivered[d.s.name] = true
		}
		if failedAt.Equal(newest) || expecting(due, newest) {
			continue
		}
		if stop, err := c.step(ctx); stop {
			return err
		}
	}
}

// delivery is what a source's goroutine hands the channel for one turn.
type delivery struct {
	s    *sourceModule
	at   time.Time // when the turn was due
	next time.Time // when the source's next turn is due
	out  map[string]json.RawMessage
	err  error
}

// expecting says whether a source due at the turn at has not delivered it
// yet: then the cycle waits for it.
func expecting(due map[*sourceModule]time.Time, at time.Time) bool {
	for _, t := range due {
		if t.Equal(at) {
			return true
		}
	}
	return false
}

// runSource runs s on its schedule from the turn at on, and hands every
// turn's products (or failure) to out, until ctx ends.
func (c *Channel) runSource(ctx context.Context, s *sourceModule, at time.Time, out chan<- delivery) {
	for {
		vals, err := c.acquireOne(ctx, s)
		if ctx.Err() != nil {
			return
		}
		// Keep the cadence (sources on multiples of one another stay in
		// step) unless the source fell behind.
		now := c.clock.Now()
		next := at.Add(s.schedule)
		if !next.After(now) {
			next = now.Add(s.schedule)
		}
		select {
		case out <- delivery{s: s, at: at, next: next, out: vals, err: err}:
		case <-ctx.Done():
			return
		}
		select {
		case <-c.clock.After(next.Sub(now)):
		case <-ctx.Done():
			return
		}
		at = next
	}
}

// step runs a cycle on the pending source products, when the channel is
// ready. It says whether Run must return, and with what.
func (c *Channel) step(ctx context.Context) (bool, error) {
	if ctx.Err() != nil {
		return true, c.shutdown()
	}
	if !c.ready() {
		return false, nil
	}
	res, err := c.cycle(ctx)
	if res != nil {
		c.completed(res)
	}
	var fe *errFramework
	switch {
	case err == nil:
	case errors.As(err, &fe):
		c.cfg.Metrics.cycle(c.name, "error")
		c.setState(StateError)
		c.log.Error("channel stopped: the datasource failed", "error", err)
		return true, fmt.Errorf("channel %q: %w", c.name, err)
	case res == nil && ctx.Err() != nil:
		c.cfg.Metrics.cycle(c.name, "abandoned")
		c.log.Info("cycle abandoned for shutdown")
		return true, c.shutdown()
	case res != nil:
		// A publisher failed; the cycle itself was written.
		if c.policy == FailurePolicyOffline {
			c.setState(StateOffline)
			c.log.Error("channel offline: a publisher failed", "error", err)
			return true, err
		}
		c.log.Error("publisher failed", "generation", res.Generation, "error", err)
	default:
		if stop, err := c.failed(err); stop {
			return true, err
		}
	}
	if ctx.Err() != nil || (c.cfg.MaxCycles > 0 && c.Cycles() >= c.cfg.MaxCycles) {
		return true, c.shutdown()
	}
	c.setState(c.waitingState())
	return false, nil
}

func (c *Channel) waitingState() State {
	if c.Cycles() > 0 {
		return StateSteady
	}
	return StateIdle
}

// failed applies the failure policy to a module failure.
func (c *Channel) failed(err error) (bool, error) {
	if c.policy == FailurePolicyOffline {
		c.cfg.Metrics.cycle(c.name, "skipped")
		c.setState(StateOffline)
		c.log.Error("channel offline: a module failed", "error", err)
		return true, err
	}
	c.cfg.Metrics.cycle(c.name, "skipped")
	c.log.Error("module failed: cycle skipped", "error", err)
	c.setState(c.waitingState())
	return false, nil
}

// shutdown stops the sources, waiting for them, and ends in SHUTDOWN.
func (c *Channel) shutdown() error {
	c.setState(StateShuttingDown)
	if c.stopSources != nil {
		c.stopSources()
	}
	c.setState(StateShutdown)
	c.log.Debug("channel stopped", "cycles", c.Cycles())
	return nil
}

func (c *Channel) completed(res *CycleResult) {
	c.mu.Lock()
	c.cycles++
	c.mu.Unlock()
	c.cfg.Metrics.cycleDone(c.name, res.Started, res.Duration, res.Generation)
	c.log.Debug("cycle done", "generation", res.Generation, "products", res.ProductsWritten, "publishers", res.Publishers)
	if c.cfg.OnCycle != nil {
		c.cfg.OnCycle(res)
	}
}

// RunCycle runs every source now and, when the channel is then ready, one
// decision cycle. It returns nil and no error when the channel is not
// ready. Failures are returned, not handled by the failure policy. It must
// not be called while Run runs; tests and benchmarks use it.
func (c *Channel) RunCycle(ctx context.Context) (*CycleResult, error) {
	if err := c.acquire(ctx, c.sources); err != nil {
		return nil, err
	}
	if !c.ready() {
		return nil, nil
	}
	res, err := c.cycle(ctx)
	if res != nil {
		c.completed(res)
	}
	c.setState(c.waitingState())
	return res, err
}

func (c *Channel) ready() bool {
	return len(c.pendingFrom) > 0 && len(c.delivered) == len(c.sources)
}

// runModule runs f as module m: timing, metrics, and a panic turned into an
// error.
func (c *Channel) runModule(m *module, f func() error) (err error) {
	c.cfg.Metrics.setModuleState(c.name, m.kind, m.name, moduleRunning)
	start := c.clock.Now()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
		end := c.clock.Now()
		c.cfg.Metrics.moduleRan(c.name, m.kind, m.name, end, end.Sub(start), err)
		if err != nil {
			err = &ModuleError{Channel: c.name, Kind: m.kind, Module: m.name, Err: err}
		}
	}()
	return f()
}

// encodeOutputs checks a module's output against what it declared and
// encodes every value as JSON.
func encodeOutputs(declared []string, out map[string]any) (map[string]json.RawMessage, error) {
	enc := make(map[string]json.RawMessage, len(out))
	for _, k := range declared {
		v, ok := out[k]
		if !ok {
			return nil, fmt.Errorf("%w: it declares %q but did not return it", ErrNoProduct, k)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode product %q as JSON: %w", k, err)
		}
		enc[k] = raw
	}
	if len(out) != len(declared) {
		for k := range out {
			if _, ok := enc[k]; !ok {
				return nil, fmt.Errorf("%w: it returned %q, which it does not declare in Produces", ErrNoProduct, k)
			}
		}
	}
	return enc, nil
}

// acquire runs sources in parallel and keeps what they deliver pending for
// the next cycle.
func (c *Channel) acquire(ctx context.Context, due []*sourceModule) error {
	outs := make([]map[string]json.RawMessage, len(due))
	errs := make([]error, len(due))
	var wg sync.WaitGroup
	for i, s := range due {
		wg.Go(func() { outs[i], errs[i] = c.acquireOne(ctx, s) })
	}
	wg.Wait()
	for i, s := range due {
		if errs[i] == nil {
			maps.Copy(c.pending, outs[i])
			c.pendingFrom[s.name] = true
			c.delivered[s.name] = true
		}
	}
	return errors.Join(errs...)
}

// acquireOne runs source s once and returns its products, encoded.
func (c *Channel) acquireOne(ctx context.Context, s *sourceModule) (map[string]json.RawMessage, error) {
	var out map[string]json.RawMessage
	err := c.runModule(&s.module, func() error {
		vals, err := s.src.Acquire(ctx)
		if err != nil {
			return err
		}
		out, err = encodeOutputs(s.produces, vals)
		return err
	})
	return out, err
}

func (c *Channel) products(view map[string]json.RawMessage, keys []string, gen int64, at time.Time) *Products {
	vals := make(map[string]json.RawMessage, len(keys))
	for _, k := range keys {
		if v, ok := view[k]; ok {
			vals[k] = v
		}
	}
	return &Products{Channel: c.name, Generation: gen, Time: at, values: vals}
}

// cycle runs one decision cycle with the pending source products.
func (c *Channel) cycle(ctx context.Context) (*CycleResult, error) {
	c.setState(StateActive)
	started := c.clock.Now()
	gen := c.block.Generation()
	if !c.fresh {
		gen++
	}
	view := maps.Clone(c.values)
	maps.Copy(view, c.pending)
	written := maps.Clone(c.pending)

	for _, level := range c.levels {
		outs := make([]map[string]json.RawMessage, len(level))
		errs := make([]error, len(level))
		var wg sync.WaitGroup
		for i, t := range level {
			in := c.products(view, t.consumes, gen, started)
			wg.Go(func() {
				errs[i] = c.runModule(&t.module, func() error {
					vals, err := t.t.Transform(ctx, in)
					if err != nil {
						return err
					}
					outs[i], err = encodeOutputs(t.produces, vals)
					return err
				})
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		for _, o := range outs {
			maps.Copy(view, o)
			maps.Copy(written, o)
		}
	}

	var decision *Decision
	chosen := map[string]bool{}
	if c.engine != nil {
		in := c.products(view, c.engine.consumes, gen, started)
		err := c.runModule(&c.engine.module, func() error {
			d, err := c.engine.e.Evaluate(ctx, in)
			if err != nil {
				return err
			}
			if d == nil {
				return errors.New("it returned no decision")
			}
			for _, a := range d.Actions {
				if !c.hasPublisher(a) {
					return fmt.Errorf("it chose publisher %q, which the channel does not have", a)
				}
			}
			decision = d
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, a := range decision.Actions {
			chosen[a] = true
		}
		raw, err := json.Marshal(decision)
		if err != nil {
			return nil, &errFramework{fmt.Errorf("encode facts: %w", err)}
		}
		view[FactsKey] = raw
		written[FactsKey] = raw
	} else {
		for _, p := range c.publishers {
			chosen[p.name] = true
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// From here on the cycle is committed: it finishes even when a
	// shutdown is asked for, within ShutdownTimeout. The generation is
	// opened first, so publishers never act on a cycle the datasource
	// refused; then the chosen publishers run; then every product of the
	// cycle, its facts and the publishers' status are written in one
	// transaction.
	wctx, done := c.writeContext(ctx)
	defer done()
	if !c.fresh {
		// A failed attempt may have committed, its reply lost with the
		// connection: the next attempt then finds the generation sealed.
		mayHaveCommitted := false
		err := c.retryWrite(wctx, "duplicate", func() error {
			next, err := c.block.Duplicate(wctx)
			if errors.Is(err, datasource.ErrSealed) && mayHaveCommitted {
				next, err = c.adoptDuplicate(wctx, err)
			}
			if err != nil {
				mayHaveCommitted = mayHaveCommitted || transient(err)
				return err
			}
			c.block, c.fresh = next, true
			return nil
		})
		if err != nil {
			return nil, &errFramework{err}
		}
	}

	status := make(map[string]*PublisherStatus, len(c.publishers))
	ran := []string{}
	var errs []error
	for _, p := range c.publishers {
		st := &PublisherStatus{}
		status[p.name] = st
		if !chosen[p.name] {
			continue
		}
		in := c.products(view, p.consumes, gen, started)
		start := c.clock.Now()
		err := c.runModule(&p.module, func() error { return p.p.Publish(wctx, in) })
		st.Ran, st.OK, st.Seconds = true, err == nil, c.clock.Now().Sub(start).Seconds()
		if err != nil {
			var me *ModuleError
			if errors.As(err, &me) {
				st.Error = me.Err.Error()
			} else {
				st.Error = err.Error()
			}
			errs = append(errs, err)
		}
		ran = append(ran, p.name)
	}

	keys := sortedKeys(written)
	items := make([]datablock.Item, 0, len(keys)+1)
	meta := &datablock.Metadata{State: datablock.StateEndCycle}
	for _, k := range keys {
		items = append(items, datablock.Item{Key: k, Value: written[k], Metadata: meta})
	}
	items = append(items, datablock.Item{Key: PublishersKey, Value: status, Metadata: meta})
	if err := c.retryWrite(wctx, "put products", func() error { return c.block.PutItems(wctx, items...) }); err != nil {
		return nil, &errFramework{err}
	}
	c.fresh = false
	c.values = view
	c.pending = map[string]json.RawMessage{}
	sources := sortedKeys(c.pendingFrom)
	c.pendingFrom = map[string]bool{}
	res := &CycleResult{
		Channel: c.name, Generation: c.block.Generation(), Started: started, Duration: c.clock.Now().Sub(started),
		ProductsWritten: len(items), Sources: sources, Publishers: ran, Decision: decision,
	}
	return res, errors.Join(errs...)
}

// adoptDuplicate is called when a Duplicate retried after a transient
// failure finds the block's generation sealed (sealedErr). If the newest
// generation is the next one, the failed attempt had committed: a task
// manager instance has one writer, so nobody else opened it. The channel
// goes on in that generation, which holds no product of its own yet.
// Anything else is sealedErr: another writer works on the instance.
func (c *Channel) adoptDuplicate(ctx context.Context, sealedErr error) (*datablock.DataBlock, error) {
	latest, err := c.block.Latest(ctx)
	if err != nil {
		return nil, err
	}
	if want := c.block.Generation() + 1; latest.Generation() != want {
		return nil, fmt.Errorf("%w (the duplicate that failed did not open generation %d: another process writes this task manager)", sealedErr, want)
	}
	c.log.Info("the failed duplicate had committed: going on in its generation", "generation", latest.Generation())
	return latest, nil
}

// retryWrite runs op, a write of the cycle that is one transaction (so a
// failed attempt left nothing behind), and runs it again after a failure
// that may be transient: up to WriteRetries times, waiting WriteRetryDelay
// by the channel's clock, doubled each time. It gives up when wctx ends.
func (c *Channel) retryWrite(wctx context.Context, what string, op func() error) error {
	delay := c.cfg.WriteRetryDelay
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || attempt > c.cfg.WriteRetries || !transient(err) || wctx.Err() != nil {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return err
		}
		c.log.Warn("cycle write failed, retrying", "write", what, "attempt", attempt, "wait", delay, "error", err)
		c.cfg.Metrics.writeRetry(c.name)
		select {
		case <-c.clock.After(delay):
		case <-wctx.Done():
			return fmt.Errorf("%w (gave up retrying: %w)", err, wctx.Err())
		}
		delay *= 2
	}
}

// transient says whether a failed write may succeed when tried again.
func transient(err error) bool {
	for _, permanent := range []error{datasource.ErrInvalid, datasource.ErrSealed, datasource.ErrExists,
		datasource.ErrNotFound, datasource.ErrClosed, datablock.ErrTooLarge, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, permanent) {
			return false
		}
	}
	return true
}

// writeContext returns a context for the writing part of a cycle: not
// cancelled by ctx, but cut ShutdownTimeout after ctx ends.
func (c *Channel) writeContext(ctx context.Context) (context.Context, func()) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
			c.setState(StateShuttingDown)
			t := time.NewTimer(c.cfg.ShutdownTimeout)
			defer t.Stop()
			select {
			case <-t.C:
				c.log.Error("shutdown timeout: cutting the cycle in flight", "timeout", c.cfg.ShutdownTimeout)
				cancel()
			case <-stop:
			}
		case <-stop:
		}
	}()
	return wctx, func() {
		close(stop)
		<-exited
		cancel()
	}
}
