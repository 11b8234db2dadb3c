// Package inspect answers the questions people ask about a dataspace: which
// task managers exist, what each generation holds, what a product contains,
// how a product changed across generations, and what the reaper did last.
// It is shared by `strata inspect` and the HTTP API, so both print the same
// data.
//
// Listings stream: generations are read page by page and the rows of a
// tabular product (a JSON array of objects) are decoded one at a time from
// the compressed value, so a 10,000-generation listing or a 100,000-row
// product never sits in memory whole. Row filters (--query) are expressions
// of github.com/expr-lang/expr evaluated in Go against each decoded row;
// nothing the user types is ever part of an SQL statement.
package inspect

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource"
)

// notFound is a sentinel that also matches datasource.ErrNotFound.
type notFound struct{ msg string }

func (e *notFound) Error() string        { return e.msg }
func (e *notFound) Is(target error) bool { return target == datasource.ErrNotFound }

// Sentinel errors that callers branch on (the HTTP API maps them to 404 and
// 400). The not-found ones also match datasource.ErrNotFound.
var (
	// ErrTaskManagerNotFound: no task manager has that name.
	ErrTaskManagerNotFound error = &notFound{"unknown task manager"}
	// ErrGenerationNotFound: the task manager has no such generation.
	ErrGenerationNotFound error = &notFound{"unknown generation"}
	// ErrProductNotFound: no product with that key in the generation.
	ErrProductNotFound error = &notFound{"unknown product"}
	// ErrQuery: a --query expression does not compile or fails on a row.
	ErrQuery = errors.New("bad query expression")
	// ErrInvalid: other bad input (a column that does not exist, a
	// --query on a value that is not tabular, a negative limit).
	ErrInvalid = errors.New("invalid request")
)

const (
	// ReaperName is the task manager under which the reaper records its
	// last run report.
	ReaperName = "strata.reaper"
	// ReaperReportKey is the key of the reaper's report, a JSON product.
	ReaperReportKey = "report"
)

// PageSizeDefault is how many generations one query reads while listing
// when Options.PageSize is zero.
const PageSizeDefault = 500

// Options tune an Inspector. The zero value is ready to use.
type Options struct {
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time
	// PageSize is how many generations one query reads while listing.
	// Zero means PageSizeDefault.
	PageSize int
}

// Inspector runs read-only queries over a datasource. It is safe for
// concurrent use.
type Inspector struct {
	ds       datasource.DataSource
	clock    func() time.Time
	pageSize int
}

// New returns an Inspector over ds. A nil opts means defaults.
func New(ds datasource.DataSource, opts *Options) *Inspector {
	in := &Inspector{ds: ds, clock: time.Now, pageSize: PageSizeDefault}
	if opts != nil && opts.Clock != nil {
		in.clock = opts.Clock
	}
	if opts != nil && opts.PageSize > 0 {
		in.pageSize = opts.PageSize
	}
	return in
}

// TaskManager summarises the newest instance of a named task manager.
type TaskManager struct {
	// Name is the task manager's (channel's) name.
	Name string `json:"name"`
	// ID is the newest instance's UUID.
	ID string `json:"id"`
	// SequenceID is the newest instance's store id.
	SequenceID int64 `json:"sequence_id"`
	// Started is when the newest instance started.
	Started time.Time `json:"started"`
	// Instances counts the instances stored under this name.
	Instances int `json:"instances"`
	// LastGeneration is the newest generation of the newest instance.
	LastGeneration int64 `json:"last_generation"`
	// LastCycle is when the newest generation was opened.
	LastCycle time.Time `json:"last_cycle"`
	// Products counts the products valid in the newest generation.
	Products int `json:"products"`
}

// taskManager resolves a name to its newest instance.
func (in *Inspector) taskManager(ctx context.Context, name string) (*datasource.TaskManager, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: the task manager name is empty (list them with `strata inspect taskmanagers`)", ErrInvalid)
	}
	tm, err := in.ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: name})
	if errors.Is(err, datasource.ErrNotFound) {
		return nil, fmt.Errorf("%w %q (list them with `strata inspect taskmanagers`)", ErrTaskManagerNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("look up task manager %q: %w", name, err)
	}
	return tm, nil
}

// generation resolves gen (zero: the newest) of an instance.
func (in *Inspector) generation(ctx context.Context, tm *datasource.TaskManager, gen int64) (*datasource.Generation, error) {
	if gen == 0 {
		gen = tm.LastGeneration
	}
	g, err := in.ds.GenerationGet(ctx, tm.SequenceID, gen)
	if errors.Is(err, datasource.ErrNotFound) {
		// The reaper deletes old generations: name the oldest one kept.
		first := int64(1)
		if gs, err := in.ds.GenerationList(ctx, &datasource.GenerationListParams{TaskManagerSeq: tm.SequenceID, Limit: 1}); err == nil && len(gs) > 0 {
			first = gs[0].Number
		}
		return nil, fmt.Errorf("%w %d of task manager %q (it has generations %d to %d; list them with `strata inspect generations %s`)",
			ErrGenerationNotFound, gen, tm.Name, first, tm.LastGeneration, tm.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("look up generation %d of task manager %q: %w", gen, tm.Name, err)
	}
	return g, nil
}

// TaskManagers lists the newest instance of every task manager name,
// ordered by name.
func (in *Inspector) TaskManagers(ctx context.Context) ([]*TaskManager, error) {
	return in.summaries(ctx, "")
}

// TaskManagerNamed summarises the newest instance of the task manager
// named name, as TaskManagers does, reading only that name's instances. It
// returns nil when no task manager has that name.
func (in *Inspector) TaskManagerNamed(ctx context.Context, name string) (*TaskManager, error) {
	if name == "" {
		return nil, nil
	}
	tms, err := in.summaries(ctx, name)
	if err != nil || len(tms) == 0 {
		return nil, err
	}
	return tms[0], nil
}

// summaries summarises the task managers named only, or all of them when
// only is empty.
func (in *Inspector) summaries(ctx context.Context, only string) ([]*TaskManager, error) {
	all, err := in.ds.TaskManagerList(ctx, &datasource.TaskManagerListParams{Name: only})
	if err != nil {
		return nil, fmt.Errorf("list task managers: %w", err)
	}
	newest := map[string]*datasource.TaskManager{}
	count := map[string]int{}
	for _, tm := range all {
		count[tm.Name]++
		if cur, ok := newest[tm.Name]; !ok || tm.SequenceID > cur.SequenceID {
			newest[tm.Name] = tm
		}
	}
	out := make([]*TaskManager, 0, len(newest))
	for name, tm := range newest {
		t := &TaskManager{
			Name: name, ID: tm.TaskManagerID, SequenceID: tm.SequenceID, Started: tm.Datestamp,
			Instances: count[name], LastGeneration: tm.LastGeneration,
		}
		g, err := in.ds.GenerationGet(ctx, tm.SequenceID, tm.LastGeneration)
		if err != nil {
			return nil, fmt.Errorf("task manager %q generation %d: %w", name, tm.LastGeneration, err)
		}
		t.LastCycle = g.CreatedAt
		ps, err := in.ds.ProductList(ctx, &datasource.ProductListParams{TaskManagerSeq: tm.SequenceID, Generation: tm.LastGeneration})
		if err != nil {
			return nil, fmt.Errorf("task manager %q products: %w", name, err)
		}
		t.Products = len(ps)
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Generation describes one generation of a task manager instance.
type Generation struct {
	// Number counts the instance's generations from 1.
	Number int64 `json:"generation"`
	// Time is when the generation was opened.
	Time time.Time `json:"time"`
	// Sealed is true once the next generation was opened.
	Sealed bool `json:"sealed"`
	// SealedAt is when it was sealed; zero while open.
	SealedAt time.Time `json:"sealed_at,omitzero"`
	// Written counts the products written in this generation (not
	// inherited from an earlier one).
	Written int64 `json:"written"`
	// Bytes is the stored size of the products written in it.
	Bytes int64 `json:"bytes"`
}

// GenerationsParams selects generations to list.
type GenerationsParams struct {
	// Name is the task manager's name. Required.
	Name string
	// After skips generations numbered After or lower.
	After int64
	// Limit caps the rows; zero means all.
	Limit int
}

// Generations calls fn for each generation of the newest instance of
// p.Name, oldest first, reading them Options.PageSize at a time. It returns fn's
// first error.
func (in *Inspector) Generations(ctx context.Context, p *GenerationsParams, fn func(*Generation) error) error {
	if p.Limit < 0 || p.After < 0 {
		return fmt.Errorf("%w: --limit and --after must not be negative", ErrInvalid)
	}
	tm, err := in.taskManager(ctx, p.Name)
	if err != nil {
		return err
	}
	_, err = in.generationsOf(ctx, tm, p.After, p.Limit, false, fn)
	return err
}

// generationsOf streams an instance's generations after `after` and returns
// the number of the last one passed to fn (after when none). With hold, it
// stops before an open generation that holds no product yet: a task
// manager opens a cycle's generation before its publishers run and writes
// the cycle's products after them, so the counts are not known yet.
func (in *Inspector) generationsOf(ctx context.Context, tm *datasource.TaskManager, after int64, limit int, hold bool, fn func(*Generation) error) (int64, error) {
	sent := 0
	for {
		page := in.pageSize
		if limit > 0 {
			page = min(page, limit-sent)
		}
		if page <= 0 {
			return after, nil
		}
		gens, err := in.ds.GenerationList(ctx, &datasource.GenerationListParams{TaskManagerSeq: tm.SequenceID, After: after, Limit: page})
		if err != nil {
			return after, fmt.Errorf("list generations of task manager %q: %w", tm.Name, err)
		}
		if len(gens) == 0 {
			return after, nil
		}
		written, err := in.writtenIn(ctx, tm.SequenceID, gens[0].Number, gens[len(gens)-1].Number)
		if err != nil {
			return after, fmt.Errorf("count products of task manager %q: %w", tm.Name, err)
		}
		for _, g := range gens {
			w := written[g.Number]
			if hold && !g.Sealed() && w.count == 0 {
				return after, nil
			}
			if err := fn(&Generation{Number: g.Number, Time: g.CreatedAt, Sealed: g.Sealed(), SealedAt: g.SealedAt, Written: w.count, Bytes: w.bytes}); err != nil {
				return g.Number, err
			}
			after = g.Number
			sent++
		}
		if len(gens) < page {
			return after, nil
		}
	}
}

// Follow lists the generations of p.Name after p.After like Generations,
// then lists the new ones each time tick fires, until ctx ends (it then
// returns nil). An open generation that holds no product yet is listed
// once it does or once it is sealed, so that its counts are final for a
// task manager that writes a cycle in one transaction. When the task
// manager restarts as a new instance, Follow lists what is left of the old
// one, then moves on to the new one from its generation 1. flush, when
// set, is called after each batch, so that output appears at once.
func (in *Inspector) Follow(ctx context.Context, p *GenerationsParams, tick <-chan time.Time, fn func(*Generation) error, flush func() error) error {
	tm, err := in.taskManager(ctx, p.Name)
	if err != nil {
		return err
	}
	after := p.After
	for {
		if after, err = in.generationsOf(ctx, tm, after, 0, true, fn); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if flush != nil {
			if err := flush(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		}
		next, err := in.taskManager(ctx, p.Name)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if next.SequenceID != tm.SequenceID {
			if _, err := in.generationsOf(ctx, tm, after, 0, false, fn); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			tm, after = next, 0
		}
	}
}

// Product describes one product of a generation, without its value.
type Product struct {
	// Key names the product.
	Key string `json:"key"`
	// Generation is the generation the stored version was written in.
	Generation int64 `json:"generation"`
	// Creator names the module that made it.
	Creator string `json:"creator"`
	// Created is the header's creation time.
	Created time.Time `json:"created"`
	// Expires is the header's expiration time.
	Expires time.Time `json:"expires"`
	// State is the metadata state.
	State string `json:"state"`
	// Size is the stored (compressed) size in bytes.
	Size int64 `json:"size"`
	// RawSize is the encoded size before compression.
	RawSize int64 `json:"raw_size"`
	// Tabular is true for a JSON array of objects.
	Tabular bool `json:"tabular"`
	// Rows counts a tabular product's rows; nil otherwise.
	Rows *int64 `json:"rows"`
}

func productOf(p *datasource.Product) *Product {
	return &Product{
		Key: p.Key, Generation: p.FirstGeneration, Creator: p.Creator, Created: p.CreateTime,
		Expires: p.ExpirationTime, State: p.State, Size: p.StoredSize, RawSize: p.RawSize,
	}
}

// Block names the generation a query read.
type Block struct {
	// TaskManager is the name.
	TaskManager string `json:"taskmanager"`
	// ID is the instance's UUID.
	ID string `json:"id"`
	// Generation is the generation read.
	Generation int64 `json:"generation"`
	// Time is when the generation was opened.
	Time time.Time `json:"time"`
	// Sealed is true once the next generation was opened.
	Sealed bool `json:"sealed"`
}

func (in *Inspector) block(ctx context.Context, name string, gen int64) (*datasource.TaskManager, *Block, error) {
	if gen < 0 {
		return nil, nil, fmt.Errorf("%w: generation %d: generations count from 1", ErrInvalid, gen)
	}
	tm, err := in.taskManager(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	b, err := in.blockOf(ctx, tm, gen)
	if err != nil {
		return nil, nil, err
	}
	return tm, b, nil
}

// blockOf resolves generation gen (zero: the newest) of an instance.
func (in *Inspector) blockOf(ctx context.Context, tm *datasource.TaskManager, gen int64) (*Block, error) {
	g, err := in.generation(ctx, tm, gen)
	if err != nil {
		return nil, err
	}
	return &Block{TaskManager: tm.Name, ID: tm.TaskManagerID, Generation: g.Number, Time: g.CreatedAt, Sealed: g.Sealed()}, nil
}

// Products lists the products valid in generation gen (zero: the newest)
// of the task manager named name, ordered by key. Counting the rows of
// tabular products reads each JSON value once, one at a time (the listing
// leaves values out so that they are never all in memory together).
func (in *Inspector) Products(ctx context.Context, name string, gen int64) (*Block, []*Product, error) {
	tm, b, err := in.block(ctx, name, gen)
	if err != nil {
		return nil, nil, err
	}
	rows, err := in.ds.ProductList(ctx, &datasource.ProductListParams{TaskManagerSeq: tm.SequenceID, Generation: b.Generation})
	if err != nil {
		return nil, nil, fmt.Errorf("list products of generation %d of task manager %q: %w", b.Generation, name, err)
	}
	out := make([]*Product, len(rows))
	for i, r := range rows {
		out[i] = productOf(r)
		if datablock.Encoding(r.Encoding) != datablock.EncodingJSON {
			continue // not tabular: no need to read the value
		}
		full, err := in.product(ctx, tm, b.Generation, r.Key, true)
		if err != nil {
			return nil, nil, err
		}
		n, tabular, err := countRows(full)
		if err != nil {
			return nil, nil, fmt.Errorf("read product %q of generation %d of task manager %q: %w", r.Key, b.Generation, name, err)
		}
		if tabular {
			out[i].Tabular, out[i].Rows = true, &n
		}
	}
	return b, out, nil
}

// product reads one stored product version.
func (in *Inspector) product(ctx context.Context, tm *datasource.TaskManager, gen int64, key string, withValue bool) (*datasource.Product, error) {
	if key == "" {
		return nil, fmt.Errorf("%w: the product key is empty (list them with `strata inspect products %s`)", ErrInvalid, tm.Name)
	}
	p, err := in.ds.ProductGet(ctx, &datasource.ProductGetParams{TaskManagerSeq: tm.SequenceID, Generation: gen, Key: key, WithoutValue: !withValue})
	if errors.Is(err, datasource.ErrNotFound) {
		return nil, fmt.Errorf("%w %q in generation %d of task manager %q: nothing produced it (list them with `strata inspect products %s --generation %d`)",
			ErrProductNotFound, key, gen, tm.Name, tm.Name, gen)
	}
	if err != nil {
		return nil, fmt.Errorf("read product %q of generation %d of task manager %q: %w", key, gen, tm.Name, err)
	}
	return p, nil
}

// Header returns the header of product key in generation gen (zero: the
// newest) of the task manager named name.
func (in *Inspector) Header(ctx context.Context, name, key string, gen int64) (*Block, *datablock.Header, error) {
	tm, b, err := in.block(ctx, name, gen)
	if err != nil {
		return nil, nil, err
	}
	p, err := in.product(ctx, tm, b.Generation, key, false)
	if err != nil {
		return nil, nil, err
	}
	return b, &datablock.Header{
		CreateTime: p.CreateTime, ExpirationTime: p.ExpirationTime, ScheduledCreateTime: p.ScheduledCreateTime,
		Creator: p.Creator, SchemaID: p.SchemaID,
	}, nil
}

// Metadata returns the metadata of product key in generation gen (zero:
// the newest) of the task manager named name.
func (in *Inspector) Metadata(ctx context.Context, name, key string, gen int64) (*Block, *datablock.Metadata, error) {
	tm, b, err := in.block(ctx, name, gen)
	if err != nil {
		return nil, nil, err
	}
	p, err := in.product(ctx, tm, b.Generation, key, false)
	if err != nil {
		return nil, nil, err
	}
	return b, &datablock.Metadata{
		State: datablock.State(p.State), GenerationID: p.FirstGeneration, GenerationTime: p.GenerationTime,
		MissedUpdateCount: p.MissedUpdateCount,
	}, nil
}

// Version is one stored version of a product in a History.
type Version struct {
	// From is the generation the version was written in.
	From int64 `json:"from_generation"`
	// Until is the first generation the version is no longer valid in;
	// zero while it is current.
	Until int64 `json:"until_generation,omitempty"`
	// Created is the header's creation time.
	Created time.Time `json:"created"`
	// Expires is the header's expiration time.
	Expires time.Time `json:"expires"`
	// Creator names the module that made it.
	Creator string `json:"creator"`
	// State is the metadata state.
	State string `json:"state"`
	// Size is the stored size in bytes.
	Size int64 `json:"size"`
	// RawSize is the encoded size before compression.
	RawSize int64 `json:"raw_size"`
}

// HistoryParams selects the versions of a product.
type HistoryParams struct {
	// Name is the task manager's name. Required.
	Name string
	// Key is the product key. Required.
	Key string
	// Since, when set, drops versions created before it.
	Since time.Time
	// Until, when set, drops versions created after it.
	Until time.Time
	// Limit keeps the newest Limit versions; zero means all.
	Limit int
}

// History lists the versions of a product across the generations of the
// newest instance of p.Name, newest first.
func (in *Inspector) History(ctx context.Context, p *HistoryParams) ([]*Version, error) {
	if p.Limit < 0 {
		return nil, fmt.Errorf("%w: --limit %d must not be negative", ErrInvalid, p.Limit)
	}
	tm, err := in.taskManager(ctx, p.Name)
	if err != nil {
		return nil, err
	}
	if p.Key == "" {
		return nil, fmt.Errorf("%w: the product key is empty", ErrInvalid)
	}
	rows, err := in.ds.ProductHistory(ctx, &datasource.ProductHistoryParams{TaskManagerSeq: tm.SequenceID, Key: p.Key})
	if err != nil {
		return nil, fmt.Errorf("history of product %q of task manager %q: %w", p.Key, p.Name, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w %q in task manager %q: nothing ever produced it (list them with `strata inspect products %s`)",
			ErrProductNotFound, p.Key, p.Name, p.Name)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].FirstGeneration > rows[j].FirstGeneration })
	out := []*Version{}
	for _, r := range rows {
		if !p.Since.IsZero() && r.CreateTime.Before(p.Since) || !p.Until.IsZero() && r.CreateTime.After(p.Until) {
			continue
		}
		v := &Version{From: r.FirstGeneration, Created: r.CreateTime, Expires: r.ExpirationTime, Creator: r.Creator,
			State: r.State, Size: r.StoredSize, RawSize: r.RawSize}
		if r.LastGeneration != datasource.OpenGeneration {
			v.Until = r.LastGeneration
		}
		out = append(out, v)
		if p.Limit > 0 && len(out) == p.Limit {
			break
		}
	}
	return out, nil
}
