// Package clock is the time source of Strata's long-running loops (the
// task manager's channels, the reaper). They take a Clock instead of
// calling the time package, so that tests drive schedules, intervals and
// backoff by hand with clocktest.Clock, without sleeping.
package clock

import "time"

// Clock tells the time and wakes its caller up.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has passed
	// (at once when d ≤ 0).
	After(d time.Duration) <-chan time.Time
}

// System is the wall clock: Now is time.Now and After is time.After.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Real is the wall clock as a Clock.
var Real Clock = System{}
