// Package clocktest provides a clock.Clock that tests drive by hand.
//
// Time moves only when the test calls Advance, which fires the timers then
// due. A test learns that the code under test is waiting again, without
// sleeping, by waiting for a number of After calls (WaitAfterCalls) or of
// pending timers (WaitPending), or for the next After call (NextAfter).
package clocktest

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Safety is how long the Wait methods wait before failing the test. It is
// a safety net against a hung test, never a way to wait for something.
var Safety = 30 * time.Second

// Clock is a clock.Clock that moves only when Advance is called. It is safe
// for concurrent use. Create it with New.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []timer
	calls   []time.Duration // the d of every After call, in order
	next    int             // the calls NextAfter has returned
	changed chan struct{}   // closed and replaced at every change
}

type timer struct {
	at time.Time
	ch chan time.Time
}

// New returns a Clock whose time is now.
func New(now time.Time) *Clock {
	return &Clock{now: now, changed: make(chan struct{})}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the clock's time once Advance has
// moved it d on; when d ≤ 0 it has received already. Every call is
// counted, whatever d.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
	} else {
		c.timers = append(c.timers, timer{at: c.now.Add(d), ch: ch})
	}
	c.calls = append(c.calls, d)
	c.notify()
	return ch
}

// Advance moves the clock's time d on and fires the timers then due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	clear(c.timers[len(kept):])
	c.timers = kept
	c.notify()
}

// AfterCalls returns how many times After has been called.
func (c *Clock) AfterCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

// Pending returns how many timers wait for Advance: After calls with a
// positive duration that have not fired yet.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Timers returns how long each pending timer still has to go, shortest
// first.
func (c *Clock) Timers() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	ds := make([]time.Duration, len(c.timers))
	for i, t := range c.timers {
		ds[i] = t.at.Sub(c.now)
	}
	slices.Sort(ds)
	return ds
}

// WaitAfterCalls waits until After has been called at least n times in
// all, and returns the duration of the nth call.
func (c *Clock) WaitAfterCalls(t testing.TB, n int) time.Duration {
	t.Helper()
	var d time.Duration
	c.wait(t, func() bool {
		if len(c.calls) < n {
			return false
		}
		if n > 0 {
			d = c.calls[n-1]
		}
		return true
	}, "After calls", n)
	return d
}

// WaitPending waits until at least n timers are pending, that is until
// the code under test waits on n timers that Advance has not fired yet.
func (c *Clock) WaitPending(t testing.TB, n int) {
	t.Helper()
	c.wait(t, func() bool { return len(c.timers) >= n }, "pending timers", n)
}

// NextAfter waits for the first After call it has not returned yet, and
// returns its duration: a test calls it each time it expects the code under
// test to wait on the clock again.
func (c *Clock) NextAfter(t testing.TB) time.Duration {
	t.Helper()
	var d time.Duration
	c.wait(t, func() bool {
		if c.next >= len(c.calls) {
			return false
		}
		d = c.calls[c.next]
		c.next++
		return true
	}, "After calls (NextAfter)", c.nextWanted())
	return d
}

func (c *Clock) nextWanted() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next + 1
}

// wait waits until ok, called under the lock, holds; it fails t after
// Safety.
func (c *Clock) wait(t testing.TB, ok func() bool, what string, n int) {
	t.Helper()
	timeout := time.NewTimer(Safety)
	defer timeout.Stop()
	for {
		c.mu.Lock()
		done, ch := ok(), c.changed
		calls, pending := len(c.calls), len(c.timers)
		c.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("clocktest: waited %s for %d %s; After was called %d times, %d timers pending",
				Safety, n, what, calls, pending)
			return
		}
	}
}

// notify wakes the waiters; c.mu is held.
func (c *Clock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}
