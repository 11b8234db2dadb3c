package reaper

import "github.com/strata-dataspace/strata/internal/clock"

// Clock tells the reaper the time and wakes it up. Tests inject one they
// advance by hand (clocktest.Clock), so that delays, intervals and backoff
// run without sleeping.
type Clock = clock.Clock

// SystemClock is the wall clock.
type SystemClock = clock.System
