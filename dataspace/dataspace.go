package dataspace

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/datasource/postgres"
	"github.com/strata-dataspace/strata/datasource/sqlite"
)

// DefaultURL is the datasource used when none is configured: a SQLite file
// in the working directory.
const DefaultURL = "sqlite://./strata.db"

// DataSpace is an open datasource plus what Strata needs around it: schema
// migrations, DataBlocks and the configuration they share.
type DataSpace struct {
	ds      datasource.DataSource
	backend string
	cfg     Config
}

// Open opens the datasource at rawURL ("sqlite:///path/to/file.db",
// "sqlite://./relative.db", "sqlite://:memory:", "postgres://…") and
// migrates its schema unless cfg.SkipMigrate. A nil cfg means defaults.
func Open(ctx context.Context, rawURL string, cfg *Config) (*DataSpace, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if rawURL == "" {
		rawURL = c.URL
	}
	if rawURL == "" {
		rawURL = DefaultURL
	}
	c.URL = rawURL
	if err := c.validate(); err != nil {
		return nil, err
	}
	ds, backend, err := openDataSource(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if !c.SkipMigrate {
		if err := ds.Migrate(ctx); err != nil {
			ds.Close()
			return nil, fmt.Errorf("open dataspace %s: %w", Redact(rawURL), err)
		}
	}
	return &DataSpace{ds: ds, backend: backend, cfg: c}, nil
}

// OpenConfig opens the dataspace a Config describes.
func OpenConfig(ctx context.Context, cfg *Config) (*DataSpace, error) {
	return Open(ctx, cfg.URL, cfg)
}

// ErrUnknownScheme is wrapped when a URL names no known backend.
var ErrUnknownScheme = errors.New("dataspace: unknown datasource URL scheme")

// openDataSource is the one place a URL scheme picks a backend.
func openDataSource(ctx context.Context, rawURL string) (datasource.DataSource, string, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, "", fmt.Errorf("datasource url %q: %w: want sqlite:///path/to/file.db, sqlite://:memory: or postgres://user@host/db", Redact(rawURL), ErrUnknownScheme)
	}
	switch scheme {
	case "sqlite":
		path, cfg, err := sqlite.ParseURL(rawURL)
		if err != nil {
			return nil, "", err
		}
		ds, err := sqlite.Open(ctx, path, cfg)
		return ds, "sqlite", err
	case "postgres", "postgresql":
		ds, err := postgres.Open(ctx, rawURL, nil)
		return ds, "postgres", err
	}
	return nil, "", fmt.Errorf("datasource url %q: %w %q: want sqlite:// or postgres://", Redact(rawURL), ErrUnknownScheme, scheme)
}

// Redact hides the password of a URL for logs and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// DataSource returns the underlying datasource.
func (s *DataSpace) DataSource() datasource.DataSource { return s.ds }

// WithDataSource returns a dataspace with the same backend and
// configuration over ds, which usually wraps s.DataSource(): to count or
// trace calls, or to inject faults in tests. Closing either closes ds's
// underlying datasource.
func (s *DataSpace) WithDataSource(ds datasource.DataSource) *DataSpace {
	return &DataSpace{ds: ds, backend: s.backend, cfg: s.cfg}
}

// Backend names the backend: "sqlite" or "postgres".
func (s *DataSpace) Backend() string { return s.backend }

// Config returns the configuration the dataspace was opened with.
func (s *DataSpace) Config() Config { return s.cfg }

// DataBlock returns the newest generation of the task manager named name,
// starting it at generation 1 when the name is new.
func (s *DataSpace) DataBlock(ctx context.Context, name string) (*datablock.DataBlock, error) {
	return datablock.Open(ctx, s.ds, name, &s.cfg.Block)
}

// NewDataBlock starts a new instance of the task manager named name.
func (s *DataSpace) NewDataBlock(ctx context.Context, name string) (*datablock.DataBlock, error) {
	return datablock.New(ctx, s.ds, name, &s.cfg.Block)
}

// TaskManager returns the newest instance of the task manager named name.
func (s *DataSpace) TaskManager(ctx context.Context, name string) (*datasource.TaskManager, error) {
	return s.ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: name})
}

// Close closes the datasource.
func (s *DataSpace) Close() error { return s.ds.Close() }
