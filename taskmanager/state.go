package taskmanager

import "github.com/strata-dataspace/strata/internal/clock"

// State is where a channel is in its life.
type State string

// States of a channel.
const (
	// StateBoot: built and checked, not running yet.
	StateBoot State = "BOOT"
	// StateIdle: running, waiting for every source's first products.
	StateIdle State = "IDLE"
	// StateActive: a decision cycle is running.
	StateActive State = "ACTIVE"
	// StateSteady: at least one cycle done, waiting for new source products.
	StateSteady State = "STEADY"
	// StateShuttingDown: stopping; the cycle in flight finishes or is abandoned.
	StateShuttingDown State = "SHUTTINGDOWN"
	// StateShutdown: stopped cleanly.
	StateShutdown State = "SHUTDOWN"
	// StateOffline: stopped because a module failed under FailurePolicyOffline.
	StateOffline State = "OFFLINE"
	// StateError: stopped because the framework itself failed (the
	// datasource refused a write).
	StateError State = "ERROR"
)

// States lists every state, in life order.
var States = []State{StateBoot, StateIdle, StateActive, StateSteady, StateShuttingDown, StateShutdown, StateOffline, StateError}

// FailurePolicy says what a channel does when one of its modules fails.
type FailurePolicy string

// Failure policies.
const (
	// FailurePolicySkip logs the failure and skips the cycle; the channel
	// tries again when its sources next deliver. This is the default.
	FailurePolicySkip FailurePolicy = "skip"
	// FailurePolicyOffline logs the failure and takes the channel offline.
	FailurePolicyOffline FailurePolicy = "offline"
)

// Clock tells the time and waits. Tests inject one they drive
// (clocktest.Clock).
type Clock = clock.Clock

// RealClock is the wall clock.
var RealClock Clock = clock.Real
