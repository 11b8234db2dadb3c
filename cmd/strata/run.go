package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/examples/channel/modules"
	"github.com/strata-dataspace/strata/httpapi"
	"github.com/strata-dataspace/strata/reaper"
	"github.com/strata-dataspace/strata/taskmanager"
	"github.com/strata-dataspace/strata/taskmanager/logic"
)

// runFlags are the flags of `strata run`.
type runFlags struct {
	cycles int
	addr   string
	// addrSet says --addr was given: then a busy address is an error;
	// the default one only gets a warning.
	addrSet bool
}

func newRunCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the configured channels, the reaper and an HTTP listener (/healthz, /metrics)",
		Long: `Runs the channels of the --config file (JSON, or jsonnet when it ends in .jsonnet):
either one channel ("sources", "transforms", "logicengines", "publishers", "task_manager"
at the top, named by "channel_name" or the file name) or several under "channels". The
file may also hold the original's "dataspace" section (datasource URL, reaper settings);
--db wins over its URL.

Every decision cycle writes a generation of the task manager named after the channel:
the new source products, the transforms' products, "facts" (the logic engine's facts,
rules and chosen publishers) and "publishers" (what each publisher did).

With --cycles N every channel stops cleanly after N cycles, and one line per cycle
is printed (--format json: one JSON object per cycle). Without it, strata run runs until
SIGINT or SIGTERM, then finishes or abandons the cycle in flight and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.addrSet = cmd.Flags().Changed("addr")
			return runChannels(cmd.Context(), g, f)
		},
	}
	cmd.Flags().IntVar(&f.cycles, "cycles", 0, "stop cleanly after N decision cycles per channel (default: run until interrupted)")
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:8978", `address of the /healthz and /metrics listener ("" disables it)`)
	return cmd
}

// newModuleRegistry returns the modules strata run knows: the logic engine
// and the example channel's modules.
func newModuleRegistry() (*taskmanager.Registry, error) {
	reg := taskmanager.NewRegistry()
	if err := errors.Join(logic.Register(reg), modules.Register(reg)); err != nil {
		return nil, fmt.Errorf("register modules: %w", err)
	}
	return reg, nil
}

// runConfig reads the channel config file and the dataspace settings: the
// file's "dataspace" section if any, then --db, $STRATA_DB, the default.
func runConfig(g *globals) (*taskmanager.File, *dataspace.Config, error) {
	if g.config == "" {
		return nil, nil, errors.New("--config FILE is required: a channel config such as examples/channel/channel.json")
	}
	file, err := taskmanager.LoadFile(g.config)
	if err != nil {
		return nil, nil, err
	}
	dc := &dataspace.Config{}
	if file.HasDataspace {
		if dc, err = dataspace.ParseConfig(file.JSON); err != nil {
			return nil, nil, fmt.Errorf("config file %s: %w", g.config, err)
		}
	}
	g.resolveURL(dc)
	return file, dc, nil
}

func runChannels(ctx context.Context, g *globals, f *runFlags) error {
	if f.cycles < 0 {
		return fmt.Errorf("--cycles %d: want a positive number of cycles, or 0 to run until interrupted", f.cycles)
	}
	file, dc, err := runConfig(g)
	if err != nil {
		return err
	}
	reg, err := newModuleRegistry()
	if err != nil {
		return err
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "strata", Output: g.stderr, Level: hclog.Info})

	// The reaper's settings are checked by reaper.New below (and, from a
	// config file, already by ParseConfig).
	rcfg := reaper.ConfigFrom(*dc)
	rcfg.Logger = log

	space, err := openConfig(ctx, dc)
	if err != nil {
		return err
	}
	defer space.Close()

	prom := prometheus.NewRegistry()
	prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := taskmanager.NewMetrics(prom)
	if err != nil {
		return err
	}

	var printMu sync.Mutex
	var printErr error
	tm, err := taskmanager.New(ctx, space, file.Channels, &taskmanager.Config{
		Registry:  reg,
		Logger:    log,
		Metrics:   metrics,
		MaxCycles: f.cycles,
		OnCycle: func(res *taskmanager.CycleResult) {
			if f.cycles == 0 {
				return
			}
			printMu.Lock()
			defer printMu.Unlock()
			if err := printCycle(g, res); err != nil && printErr == nil {
				printErr = err
			}
		},
	})
	if err != nil {
		return err
	}

	addEventExpirer(ctx, space, &rcfg, log)
	rp, err := reaper.New(space, &rcfg)
	if err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	httpDone := make(chan error, 1)
	var ln net.Listener
	if f.addr != "" {
		if ln, err = net.Listen("tcp", f.addr); err != nil {
			if f.addrSet {
				return fmt.Errorf("listen on %s: %w (is another strata run listening? pick another --addr, or --addr \"\" for none)", f.addr, err)
			}
			log.Warn("running without /healthz and /metrics: the default address is busy (set --addr)", "addr", f.addr, "error", err)
		}
	}
	if ln != nil {
		log.Info("listening", "url", "http://"+ln.Addr().String(), "endpoints", "/healthz /metrics")
		srv := httpapi.New(space, &httpapi.Config{Gatherer: prom, Logger: log})
		go func() { httpDone <- serveHTTP(runCtx, ln, srv) }()
	} else {
		httpDone <- nil
	}

	if err := rp.Start(runCtx, rcfg.StartDelay); err != nil {
		cancel()
		return errors.Join(err, <-httpDone)
	}
	names := make([]string, len(tm.Channels()))
	for i, c := range tm.Channels() {
		names[i] = c.Name()
	}
	log.Info("running", "channels", strings.Join(names, ","), "db", dataspace.Redact(dc.URL), "backend", space.Backend())

	runErr := tm.Run(runCtx)
	cancel()
	rp.Stop()
	httpErr := <-httpDone
	printMu.Lock()
	defer printMu.Unlock()
	return errors.Join(runErr, httpErr, printErr)
}

// printCycle prints one line per completed cycle.
func printCycle(g *globals, res *taskmanager.CycleResult) error {
	if g.format == "json" {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(g.stdout, "%s\n", b)
		return err
	}
	pubs := "none"
	if len(res.Publishers) > 0 {
		pubs = strings.Join(res.Publishers, ",")
	}
	_, err := fmt.Fprintf(g.stdout, "channel %s: generation %d, %d products written, publishers run: %s\n",
		res.Channel, res.Generation, res.ProductsWritten, pubs)
	return err
}
