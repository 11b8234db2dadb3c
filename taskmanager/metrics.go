package taskmanager

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Module states reported by the strata_module_state metric.
const (
	moduleIdle    = "IDLE"
	moduleRunning = "RUNNING"
	moduleOK      = "OK"
	moduleFailed  = "FAILED"
)

var moduleStates = []string{moduleIdle, moduleRunning, moduleOK, moduleFailed}

// Metrics are the Prometheus metrics of channels and their modules. One
// Metrics serves any number of channels (they are labelled by channel).
type Metrics struct {
	channelState   *prometheus.GaugeVec
	cycles         *prometheus.CounterVec
	cycleSeconds   *prometheus.HistogramVec
	lastCycle      *prometheus.GaugeVec
	generation     *prometheus.GaugeVec
	moduleState    *prometheus.GaugeVec
	moduleLastRun  *prometheus.GaugeVec
	moduleSeconds  *prometheus.HistogramVec
	moduleFailures *prometheus.CounterVec
	writeRetries   *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	mod := []string{"channel", "kind", "module"}
	m := &Metrics{
		channelState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_channel_state", Help: "1 for the state the channel is in, 0 for the others.",
		}, []string{"channel", "state"}),
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_channel_cycles_total", Help: "Decision cycles by result: ok, skipped (a module failed), abandoned (shutdown), error.",
		}, []string{"channel", "result"}),
		cycleSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "strata_channel_cycle_seconds", Help: "Duration of completed decision cycles.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"channel"}),
		lastCycle: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_channel_last_cycle_timestamp_seconds", Help: "Unix time the last completed cycle started.",
		}, []string{"channel"}),
		generation: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_channel_generation", Help: "Generation written by the last completed cycle.",
		}, []string{"channel"}),
		// kind is source, transform, logicengine or publisher.
		moduleState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_module_state", Help: "1 for the state the module is in (IDLE, RUNNING, OK, FAILED), 0 for the others.",
		}, append(mod, "state")),
		moduleLastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_module_last_run_timestamp_seconds", Help: "Unix time the module last finished a run.",
		}, mod),
		moduleSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "strata_module_run_seconds", Help: "Duration of module runs.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, mod),
		moduleFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_module_failures_total", Help: "Module runs that returned an error.",
		}, mod),
		writeRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_channel_write_retries_total", Help: "Cycle writes tried again after a datasource failure that may be transient.",
		}, []string{"channel"}),
	}
	for _, c := range []prometheus.Collector{m.channelState, m.cycles, m.cycleSeconds, m.lastCycle, m.generation,
		m.moduleState, m.moduleLastRun, m.moduleSeconds, m.moduleFailures, m.writeRetries} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register taskmanager metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) setChannelState(channel string, s State) {
	if m == nil {
		return
	}
	for _, st := range States {
		v := 0.0
		if st == s {
			v = 1
		}
		m.channelState.WithLabelValues(channel, string(st)).Set(v)
	}
}

// kindLabel is a module kind as a label value: "logicengine", not
// "logic engine".
func kindLabel(kind string) string { return strings.ReplaceAll(kind, " ", "") }

func (m *Metrics) setModuleState(channel, kind, module, s string) {
	if m == nil {
		return
	}
	kind = kindLabel(kind)
	for _, st := range moduleStates {
		v := 0.0
		if st == s {
			v = 1
		}
		m.moduleState.WithLabelValues(channel, kind, module, st).Set(v)
	}
}

func (m *Metrics) moduleRan(channel, kind, module string, end time.Time, d time.Duration, err error) {
	if m == nil {
		return
	}
	kind = kindLabel(kind)
	state := moduleOK
	if err != nil {
		state = moduleFailed
		m.moduleFailures.WithLabelValues(channel, kind, module).Inc()
	}
	m.setModuleState(channel, kind, module, state)
	m.moduleLastRun.WithLabelValues(channel, kind, module).Set(float64(end.UnixNano()) / 1e9)
	m.moduleSeconds.WithLabelValues(channel, kind, module).Observe(d.Seconds())
}

func (m *Metrics) cycle(channel, result string) {
	if m == nil {
		return
	}
	m.cycles.WithLabelValues(channel, result).Inc()
}

func (m *Metrics) writeRetry(channel string) {
	if m == nil {
		return
	}
	m.writeRetries.WithLabelValues(channel).Inc()
}

func (m *Metrics) cycleDone(channel string, started time.Time, d time.Duration, gen int64) {
	if m == nil {
		return
	}
	m.cycles.WithLabelValues(channel, "ok").Inc()
	m.cycleSeconds.WithLabelValues(channel).Observe(d.Seconds())
	m.lastCycle.WithLabelValues(channel).Set(float64(started.UnixNano()) / 1e9)
	m.generation.WithLabelValues(channel).Set(float64(gen))
}
