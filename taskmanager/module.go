package taskmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Source acquires products from outside the channel, on its schedule.
type Source interface {
	// Acquire returns one value for every product the source produces.
	Acquire(ctx context.Context) (map[string]any, error)
	// Produces names the products Acquire returns.
	Produces() []string
}

// Transform computes products from other products of the cycle.
type Transform interface {
	// Consumes names the products the transform reads.
	Consumes() []string
	// Produces names the products Transform returns.
	Produces() []string
	// Transform returns one value for every product it produces.
	Transform(ctx context.Context, in *Products) (map[string]any, error)
}

// LogicEngine decides which publishers run in a cycle.
type LogicEngine interface {
	// Consumes names the products the engine reads.
	Consumes() []string
	// Evaluate returns the cycle's decision.
	Evaluate(ctx context.Context, in *Products) (*Decision, error)
}

// ActionLister is implemented by logic engines that know at start which
// publishers their rules may choose, so the channel can check the names.
type ActionLister interface {
	// Actions names every publisher a rule may choose.
	Actions() []string
}

// Publisher acts on the products of a cycle when the logic engine chooses
// it (or every cycle when the channel has no logic engine).
type Publisher interface {
	// Consumes names the products the publisher reads.
	Consumes() []string
	// Publish acts on the products.
	Publish(ctx context.Context, in *Products) error
}

// Decision is what a logic engine concluded in one cycle. It is stored as
// the product FactsKey of the cycle's generation.
type Decision struct {
	// Facts are the evaluated facts, including those set by rules.
	Facts map[string]bool `json:"facts"`
	// Rules are the evaluated rule expressions.
	Rules map[string]bool `json:"rules"`
	// Actions name the publishers to run, sorted, without repeats.
	Actions []string `json:"actions"`
	// Reasons say, per chosen publisher, which rules chose it: a rule
	// name when the rule was true, "!rule" when it was false and chose the
	// publisher through its false actions.
	Reasons map[string][]string `json:"reasons,omitempty"`
}

// Products are the product values a module sees in one cycle: the ones it
// declared it consumes, as JSON.
type Products struct {
	// Channel names the channel running the cycle.
	Channel string
	// Generation is the generation the cycle writes.
	Generation int64
	// Time is when the cycle started, from the channel's clock.
	Time time.Time

	values map[string]json.RawMessage
}

// NewProducts returns products holding values (JSON, keyed by product
// name). It is meant for testing modules.
func NewProducts(channel string, generation int64, at time.Time, values map[string]json.RawMessage) *Products {
	if values == nil {
		values = map[string]json.RawMessage{}
	}
	return &Products{Channel: channel, Generation: generation, Time: at, values: values}
}

// Get decodes the product key into dst, a non-nil pointer.
func (p *Products) Get(key string, dst any) error {
	raw, ok := p.values[key]
	if !ok {
		return fmt.Errorf("product %q: %w (declare it in Consumes)", key, ErrNoProduct)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("decode product %q: %w", key, err)
	}
	return nil
}

// Raw returns the JSON of product key.
func (p *Products) Raw(key string) (json.RawMessage, bool) {
	raw, ok := p.values[key]
	return raw, ok
}

// Keys lists the product names, sorted.
func (p *Products) Keys() []string {
	keys := make([]string, 0, len(p.values))
	for k := range p.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Get decodes product key of p as a T.
func Get[T any](p *Products, key string) (T, error) {
	var v T
	err := p.Get(key, &v)
	return v, err
}

// Params are a module's parameters from the channel config, as JSON.
type Params json.RawMessage

// Decode decodes the parameters into dst, rejecting unknown fields. Empty
// parameters leave dst untouched.
func (p Params) Decode(dst any) error {
	if len(bytes.TrimSpace(p)) == 0 || string(bytes.TrimSpace(p)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%w: parameters: %v", ErrConfig, err)
	}
	return nil
}

// MarshalJSON returns the parameters' JSON ("null" when empty).
func (p Params) MarshalJSON() ([]byte, error) {
	if len(p) == 0 {
		return []byte("null"), nil
	}
	return p, nil
}

// UnmarshalJSON keeps a copy of the parameters' JSON.
func (p *Params) UnmarshalJSON(data []byte) error {
	*p = append((*p)[:0], data...)
	return nil
}
