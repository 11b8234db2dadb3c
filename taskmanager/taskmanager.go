package taskmanager

import (
	"context"
	"errors"
	"sync"

	"github.com/strata-dataspace/strata/dataspace"
)

// TaskManager runs several channels side by side. A channel that fails
// never stops the others.
type TaskManager struct {
	channels []*Channel
}

// New builds every channel of channels (see NewChannel). All their
// configuration errors are returned together.
func New(ctx context.Context, space *dataspace.DataSpace, channels []*ChannelConfig, cfg *Config) (*TaskManager, error) {
	t := &TaskManager{}
	var errs []error
	seen := map[string]bool{}
	for _, cc := range channels {
		if seen[cc.Name] {
			errs = append(errs, errors.New("channel "+cc.Name+" is configured twice: channel names must be unique"))
			continue
		}
		seen[cc.Name] = true
		c, err := NewChannel(ctx, space, cc, cfg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.channels = append(t.channels, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// Channels returns the channels, sorted as configured.
func (t *TaskManager) Channels() []*Channel { return t.channels }

// Run runs every channel until ctx ends or each has stopped by itself
// (MaxCycles, offline, error). It returns the errors of the channels that
// ended OFFLINE or in ERROR, joined; nil when all shut down cleanly.
func (t *TaskManager) Run(ctx context.Context) error {
	errs := make([]error, len(t.channels))
	var wg sync.WaitGroup
	for i, c := range t.channels {
		wg.Go(func() { errs[i] = c.Run(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
