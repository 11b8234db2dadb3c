package datablock

import (
	"errors"
	"fmt"
	"time"
)

// ExpirationDefault is how long after its creation a product expires when
// its header does not say.
const ExpirationDefault = 30 * time.Minute

// Header describes where a product came from and how long it is good for.
type Header struct {
	// CreateTime is when the product was made. Zero means the time of Put.
	CreateTime time.Time `json:"create_time"`
	// ExpirationTime is when the product becomes stale. Zero means
	// CreateTime + ExpirationDefault.
	ExpirationTime time.Time `json:"expiration_time"`
	// ScheduledCreateTime is when the product was due. Zero means CreateTime.
	ScheduledCreateTime time.Time `json:"scheduled_create_time"`
	// Creator names the module that made the product. Empty means the task
	// manager's name.
	Creator string `json:"creator"`
	// SchemaID identifies the value's schema; zero means none.
	SchemaID int64 `json:"schema_id,omitempty"`
}

// withDefaults returns a copy of h (nil allowed) with zero fields filled.
func (h *Header) withDefaults(now time.Time, creator string) Header {
	var out Header
	if h != nil {
		out = *h
	}
	if out.CreateTime.IsZero() {
		out.CreateTime = now
	}
	if out.ExpirationTime.IsZero() {
		out.ExpirationTime = out.CreateTime.Add(ExpirationDefault)
	}
	if out.ScheduledCreateTime.IsZero() {
		out.ScheduledCreateTime = out.CreateTime
	}
	if out.Creator == "" {
		out.Creator = creator
	}
	out.CreateTime = out.CreateTime.UTC().Truncate(time.Microsecond)
	out.ExpirationTime = out.ExpirationTime.UTC().Truncate(time.Microsecond)
	out.ScheduledCreateTime = out.ScheduledCreateTime.UTC().Truncate(time.Microsecond)
	return out
}

// State is the life-cycle state of a product within a decision cycle.
type State string

// The metadata states of the original decision engine.
const (
	StateNew            State = "NEW"
	StateStartBackup    State = "START_BACKUP"
	StateMetadataUpdate State = "METADATA_UPDATE"
	StateEndCycle       State = "END_CYCLE"
)

// States lists every valid State.
var States = []State{StateNew, StateStartBackup, StateMetadataUpdate, StateEndCycle}

// ErrInvalidState is matched (errors.Is) by every *InvalidStateError.
var ErrInvalidState = errors.New("datablock: invalid metadata state")

// InvalidStateError reports a metadata state outside States.
type InvalidStateError struct {
	// State is the rejected value.
	State string
}

func (e *InvalidStateError) Error() string {
	return fmt.Sprintf("invalid metadata state %q: want one of NEW, START_BACKUP, METADATA_UPDATE, END_CYCLE", e.State)
}

// Is makes errors.Is(err, ErrInvalidState) true.
func (e *InvalidStateError) Is(target error) bool { return target == ErrInvalidState }

// Validate returns an *InvalidStateError unless s is one of States.
func (s State) Validate() error {
	for _, v := range States {
		if s == v {
			return nil
		}
	}
	return &InvalidStateError{State: string(s)}
}

// Metadata tracks a product's state in the decision cycle.
type Metadata struct {
	// State is the product's state. Empty means StateNew.
	State State `json:"state"`
	// GenerationID is the generation the product version was written in.
	// It is set by Put; a product inherited by later generations keeps it.
	GenerationID int64 `json:"generation_id"`
	// GenerationTime is when the product version was written. Zero means
	// the time of Put.
	GenerationTime time.Time `json:"generation_time"`
	// MissedUpdateCount counts cycles in which the product was due and did
	// not arrive.
	MissedUpdateCount int64 `json:"missed_update_count"`
}

// withDefaults returns a copy of m (nil allowed) with zero fields filled,
// or an error for an invalid state.
func (m *Metadata) withDefaults(now time.Time, gen int64) (Metadata, error) {
	var out Metadata
	if m != nil {
		out = *m
	}
	if out.State == "" {
		out.State = StateNew
	}
	if err := out.State.Validate(); err != nil {
		return out, err
	}
	if out.GenerationTime.IsZero() {
		out.GenerationTime = now
	}
	out.GenerationTime = out.GenerationTime.UTC().Truncate(time.Microsecond)
	out.GenerationID = gen
	return out, nil
}
