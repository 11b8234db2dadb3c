// Package modules holds the modules of the resource-provisioning example
// channel (examples/channel/channel.json). They need no network: the two
// sources generate their tables from a seeded generator, so a run is
// reproducible.
//
//   - jobqueue (source): idle jobs waiting in batch queues → "jobs", and the
//     cores already provisioned → "capacity";
//   - resourceoffers (source): instance offers of several sites → "offers";
//   - demand (transform): jobs + capacity → "demand" (cores asked, short);
//   - figureofmerit (transform): offers → "offer_fom", offers ranked by
//     cores per dollar-hour, scaled by availability;
//   - chooser (transform): offer_fom + demand → "requests", the instances to
//     ask for to cover the shortfall, best figure of merit first;
//   - jsonlines (publisher): appends one JSON line per record of a product
//     to a file.
//
// Products are tabular: JSON arrays of objects (or one object).
package modules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/strata-dataspace/strata/taskmanager"
)

// Register registers every module of the example in r.
func Register(r *taskmanager.Registry) error {
	return errors.Join(
		r.RegisterSource("jobqueue", newJobQueue),
		r.RegisterSource("resourceoffers", newResourceOffers),
		r.RegisterTransform("demand", func(p taskmanager.Params) (taskmanager.Transform, error) {
			return demandTransform{}, p.Decode(&struct{}{})
		}),
		r.RegisterTransform("figureofmerit", func(p taskmanager.Params) (taskmanager.Transform, error) {
			return fomTransform{}, p.Decode(&struct{}{})
		}),
		r.RegisterTransform("chooser", newChooser),
		r.RegisterPublisher("jsonlines", newJSONLines),
	)
}

// Job is one idle job of the "jobs" product.
type Job struct {
	ID          string  `json:"id"`
	Queue       string  `json:"queue"`
	Cores       int     `json:"cores"`
	MemoryGB    float64 `json:"memory_gb"`
	WaitMinutes int     `json:"wait_minutes"`
}

// Capacity is the "capacity" product: what is already provisioned.
type Capacity struct {
	Cores    int     `json:"cores"`
	MemoryGB float64 `json:"memory_gb"`
}

// JobQueueParams are the jobqueue source's parameters.
type JobQueueParams struct {
	// Seed makes the generated queue reproducible. Zero means 1.
	Seed uint64 `json:"seed"`
	// Queues names the batch queues. Empty means ["short", "long"].
	Queues []string `json:"queues"`
	// MaxIdle is the most idle jobs in one acquisition. Zero means 40.
	MaxIdle int `json:"max_idle"`
	// ProvisionedCores is the capacity around which the provisioned cores
	// wander. Zero means 64.
	ProvisionedCores int `json:"provisioned_cores"`
}

type jobQueue struct {
	p        JobQueueParams
	mu       sync.Mutex
	rng      *rand.Rand
	nextID   int
	queue    []Job
	capacity int
}

func newJobQueue(params taskmanager.Params) (taskmanager.Source, error) {
	q := &jobQueue{p: JobQueueParams{Seed: 1, Queues: []string{"short", "long"}, MaxIdle: 40, ProvisionedCores: 64}}
	if err := params.Decode(&q.p); err != nil {
		return nil, err
	}
	if q.p.MaxIdle < 0 || q.p.ProvisionedCores < 0 || len(q.p.Queues) == 0 {
		return nil, fmt.Errorf("%w: jobqueue: max_idle and provisioned_cores must not be negative, queues not empty", taskmanager.ErrConfig)
	}
	q.rng = rand.New(rand.NewPCG(q.p.Seed, 0x6a6f6273))
	q.capacity = q.p.ProvisionedCores
	return q, nil
}

func (q *jobQueue) Produces() []string { return []string{"jobs", "capacity"} }

// Acquire moves the simulated queue on by one step: about a third of the
// idle jobs start running, new ones arrive, those left wait longer, and the
// provisioned capacity drifts.
func (q *jobQueue) Acquire(ctx context.Context) (map[string]any, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rng := q.rng
	kept := q.queue[:0:0]
	for _, j := range q.queue {
		if rng.Float64() < 0.35 {
			continue // started running
		}
		j.WaitMinutes += 1 + rng.IntN(5)
		kept = append(kept, j)
	}
	arrivals := rng.IntN(q.p.MaxIdle/2 + 1)
	for range arrivals {
		if len(kept) >= q.p.MaxIdle {
			break
		}
		q.nextID++
		cores := []int{1, 1, 2, 4, 8}[rng.IntN(5)]
		kept = append(kept, Job{
			ID:       fmt.Sprintf("job-%05d", q.nextID),
			Queue:    q.p.Queues[rng.IntN(len(q.p.Queues))],
			Cores:    cores,
			MemoryGB: float64(cores) * []float64{1, 2, 4}[rng.IntN(3)],
		})
	}
	q.queue = kept
	lo, hi := q.p.ProvisionedCores/2, q.p.ProvisionedCores*3/2
	q.capacity = min(hi, max(lo, q.capacity+rng.IntN(17)-8))
	return map[string]any{
		"jobs":     append([]Job{}, q.queue...),
		"capacity": Capacity{Cores: q.capacity, MemoryGB: float64(q.capacity) * 2},
	}, nil
}

// Offer is one row of the "offers" product.
type Offer struct {
	OfferID      string  `json:"offer_id"`
	Site         string  `json:"site"`
	InstanceType string  `json:"instance_type"`
	Cores        int     `json:"cores"`
	MemoryGB     float64 `json:"memory_gb"`
	PricePerHour float64 `json:"price_per_hour"`
	Available    int     `json:"available"`
}

var instanceTypes = []struct {
	name   string
	cores  int
	memory float64
	price  float64
}{
	{"small", 2, 4, 0.10}, {"medium", 4, 16, 0.19}, {"large", 16, 64, 0.80}, {"xlarge", 32, 128, 1.70},
}

// ResourceOffersParams are the resourceoffers source's parameters.
type ResourceOffersParams struct {
	// Seed makes the offers reproducible. Zero means 2.
	Seed uint64 `json:"seed"`
	// Sites name the sites offering instances. Empty means three sites.
	Sites []string `json:"sites"`
}

type resourceOffers struct {
	p  ResourceOffersParams
	mu sync.Mutex
	n  uint64
}

func newResourceOffers(params taskmanager.Params) (taskmanager.Source, error) {
	o := &resourceOffers{p: ResourceOffersParams{Seed: 2, Sites: []string{"fnal-cloud", "nersc", "aws-us-east-1"}}}
	if err := params.Decode(&o.p); err != nil {
		return nil, err
	}
	if len(o.p.Sites) == 0 {
		return nil, fmt.Errorf("%w: resourceoffers: sites must not be empty", taskmanager.ErrConfig)
	}
	return o, nil
}

func (o *resourceOffers) Produces() []string { return []string{"offers"} }

func (o *resourceOffers) Acquire(ctx context.Context) (map[string]any, error) {
	o.mu.Lock()
	o.n++
	n := o.n
	o.mu.Unlock()
	rng := rand.New(rand.NewPCG(o.p.Seed, n))
	var offers []Offer
	for _, site := range o.p.Sites {
		siteFactor := 0.7 + 0.6*rng.Float64()
		for _, it := range instanceTypes {
			if rng.IntN(4) == 0 {
				continue // this site offers no such instance now
			}
			offers = append(offers, Offer{
				OfferID:      site + "/" + it.name,
				Site:         site,
				InstanceType: it.name,
				Cores:        it.cores,
				MemoryGB:     it.memory,
				PricePerHour: math.Round(it.price*siteFactor*(0.9+0.2*rng.Float64())*1000) / 1000,
				Available:    rng.IntN(12),
			})
		}
	}
	if offers == nil {
		offers = []Offer{}
	}
	return map[string]any{"offers": offers}, nil
}

// Demand is the "demand" product.
type Demand struct {
	IdleJobs       int     `json:"idle_jobs"`
	Cores          int     `json:"cores"`
	MemoryGB       float64 `json:"memory_gb"`
	CapacityCores  int     `json:"capacity_cores"`
	ShortfallCores int     `json:"shortfall_cores"`
}

type demandTransform struct{}

func (demandTransform) Consumes() []string { return []string{"jobs", "capacity"} }
func (demandTransform) Produces() []string { return []string{"demand"} }

func (demandTransform) Transform(ctx context.Context, in *taskmanager.Products) (map[string]any, error) {
	jobs, err := taskmanager.Get[[]Job](in, "jobs")
	if err != nil {
		return nil, err
	}
	capacity, err := taskmanager.Get[Capacity](in, "capacity")
	if err != nil {
		return nil, err
	}
	d := Demand{IdleJobs: len(jobs), CapacityCores: capacity.Cores}
	for _, j := range jobs {
		d.Cores += j.Cores
		d.MemoryGB += j.MemoryGB
	}
	d.ShortfallCores = max(0, d.Cores-capacity.Cores)
	return map[string]any{"demand": d}, nil
}

// RankedOffer is one row of the "offer_fom" product.
type RankedOffer struct {
	Offer
	// FigureOfMerit is cores per dollar-hour, scaled down when few
	// instances are available.
	FigureOfMerit float64 `json:"figure_of_merit"`
}

type fomTransform struct{}

func (fomTransform) Consumes() []string { return []string{"offers"} }
func (fomTransform) Produces() []string { return []string{"offer_fom"} }

func (fomTransform) Transform(ctx context.Context, in *taskmanager.Products) (map[string]any, error) {
	offers, err := taskmanager.Get[[]Offer](in, "offers")
	if err != nil {
		return nil, err
	}
	ranked := make([]RankedOffer, 0, len(offers))
	for _, o := range offers {
		if o.Available == 0 || o.PricePerHour <= 0 {
			continue
		}
		avail := math.Min(1, float64(o.Available)/4)
		fom := float64(o.Cores) / o.PricePerHour * avail
		ranked = append(ranked, RankedOffer{Offer: o, FigureOfMerit: math.Round(fom*100) / 100})
	}
	sort.SliceStable(ranked, func(i, j int) bool {
		if ranked[i].FigureOfMerit != ranked[j].FigureOfMerit {
			return ranked[i].FigureOfMerit > ranked[j].FigureOfMerit
		}
		return ranked[i].OfferID < ranked[j].OfferID
	})
	return map[string]any{"offer_fom": ranked}, nil
}

// Request is one row of the "requests" product.
type Request struct {
	OfferID      string  `json:"offer_id"`
	Site         string  `json:"site"`
	InstanceType string  `json:"instance_type"`
	Count        int     `json:"count"`
	Cores        int     `json:"cores"`
	CostPerHour  float64 `json:"cost_per_hour"`
}

// ChooserParams are the chooser transform's parameters.
type ChooserParams struct {
	// MaxPerOffer caps the instances asked from one offer. Zero means no cap
	// beyond what the offer has available.
	MaxPerOffer int `json:"max_per_offer"`
}

type chooser struct{ p ChooserParams }

func newChooser(params taskmanager.Params) (taskmanager.Transform, error) {
	c := &chooser{}
	if err := params.Decode(&c.p); err != nil {
		return nil, err
	}
	if c.p.MaxPerOffer < 0 {
		return nil, fmt.Errorf("%w: chooser: max_per_offer must not be negative", taskmanager.ErrConfig)
	}
	return c, nil
}

func (c *chooser) Consumes() []string { return []string{"offer_fom", "demand"} }
func (c *chooser) Produces() []string { return []string{"requests"} }

func (c *chooser) Transform(ctx context.Context, in *taskmanager.Products) (map[string]any, error) {
	offers, err := taskmanager.Get[[]RankedOffer](in, "offer_fom")
	if err != nil {
		return nil, err
	}
	d, err := taskmanager.Get[Demand](in, "demand")
	if err != nil {
		return nil, err
	}
	need := d.ShortfallCores
	requests := []Request{}
	for _, o := range offers {
		if need <= 0 {
			break
		}
		count := min(o.Available, (need+o.Cores-1)/o.Cores)
		if c.p.MaxPerOffer > 0 {
			count = min(count, c.p.MaxPerOffer)
		}
		if count == 0 {
			continue
		}
		requests = append(requests, Request{
			OfferID: o.OfferID, Site: o.Site, InstanceType: o.InstanceType, Count: count,
			Cores: count * o.Cores, CostPerHour: math.Round(float64(count)*o.PricePerHour*1000) / 1000,
		})
		need -= count * o.Cores
	}
	return map[string]any{"requests": requests}, nil
}

// JSONLinesParams are the jsonlines publisher's parameters.
type JSONLinesParams struct {
	// Path is the file lines are appended to. Required.
	Path string `json:"path"`
	// Product is the product written: one line per element of an array,
	// or one line for any other value. Required.
	Product string `json:"product"`
}

type jsonLines struct {
	p  JSONLinesParams
	mu sync.Mutex
}

func newJSONLines(params taskmanager.Params) (taskmanager.Publisher, error) {
	j := &jsonLines{}
	if err := params.Decode(&j.p); err != nil {
		return nil, err
	}
	if j.p.Path == "" || j.p.Product == "" {
		return nil, fmt.Errorf(`%w: jsonlines: "path" and "product" are required`, taskmanager.ErrConfig)
	}
	return j, nil
}

func (j *jsonLines) Consumes() []string { return []string{j.p.Product} }

// Line is one line a jsonlines publisher writes.
type Line struct {
	Channel    string          `json:"channel"`
	Generation int64           `json:"generation"`
	Time       string          `json:"time"`
	Product    string          `json:"product"`
	Record     json.RawMessage `json:"record"`
}

func (j *jsonLines) Publish(ctx context.Context, in *taskmanager.Products) error {
	raw, ok := in.Raw(j.p.Product)
	if !ok {
		return fmt.Errorf("product %q is missing", j.p.Product)
	}
	var records []json.RawMessage
	if err := json.Unmarshal(raw, &records); err != nil {
		records = []json.RawMessage{raw}
	}
	var buf []byte
	for _, r := range records {
		line, err := json.Marshal(Line{Channel: in.Channel, Generation: in.Generation, Time: in.Time.UTC().Format("2006-01-02T15:04:05.000Z"), Product: j.p.Product, Record: r})
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if dir := filepath.Dir(j.p.Path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create directory of %s: %w", j.p.Path, err)
		}
	}
	f, err := os.OpenFile(j.p.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", j.p.Path, err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", j.p.Path, err)
	}
	return f.Close()
}
