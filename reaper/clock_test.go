package reaper_test

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock the test advances by hand. It counts the After
// calls, so a test can wait until the reaper's loop is waiting again.
type fakeClock struct {
	mu         sync.Mutex
	now        time.Time
	waiters    []fakeWaiter
	registered int
	changed    chan struct{} // closed and replaced at every After
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, changed: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
	} else {
		c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	}
	c.registered++
	close(c.changed)
	c.changed = make(chan struct{})
	return ch
}

// Advance moves the time on and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// WaitAfterCalls waits until After has been called n times in all.
func (c *fakeClock) WaitAfterCalls(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second) // a safety net, not a wait
	for {
		c.mu.Lock()
		got, ch := c.registered, c.changed
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("the reaper called After %d times, want %d", got, n)
		}
	}
}
