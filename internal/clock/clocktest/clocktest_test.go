package clocktest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/internal/clock"
	"github.com/strata-dataspace/strata/internal/clock/clocktest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var _ clock.Clock = (*clocktest.Clock)(nil)

func fired(ch <-chan time.Time) (time.Time, bool) {
	select {
	case at := <-ch:
		return at, true
	default:
		return time.Time{}, false
	}
}

func TestAdvanceFiresDueTimers(t *testing.T) {
	c := clocktest.New(t0)
	require.Equal(t, t0, c.Now())
	a := c.After(time.Minute)
	b := c.After(2 * time.Minute)
	now := c.After(0)
	require.Equal(t, 3, c.AfterCalls())
	require.Equal(t, 2, c.Pending())
	require.Equal(t, []time.Duration{time.Minute, 2 * time.Minute}, c.Timers())

	at, ok := fired(now)
	require.True(t, ok, "After(0) fires at once")
	require.Equal(t, t0, at)

	c.Advance(time.Minute - time.Second)
	_, ok = fired(a)
	require.False(t, ok, "not due yet")

	c.Advance(time.Second)
	at, ok = fired(a)
	require.True(t, ok)
	require.Equal(t, t0.Add(time.Minute), at)
	_, ok = fired(b)
	require.False(t, ok)
	require.Equal(t, 1, c.Pending())
	require.Equal(t, []time.Duration{time.Minute}, c.Timers())

	c.Advance(time.Hour)
	at, ok = fired(b)
	require.True(t, ok)
	require.Equal(t, t0.Add(time.Hour+time.Minute), at, "a late timer receives the time it fired at")
	require.Zero(t, c.Pending())
}

func TestWaits(t *testing.T) {
	c := clocktest.New(t0)
	go func() {
		for _, d := range []time.Duration{time.Second, 0, 3 * time.Second} {
			<-c.After(d)
		}
	}()
	// The goroutine's first timer: wait for it, fire it.
	c.WaitPending(t, 1)
	require.Equal(t, time.Second, c.NextAfter(t))
	c.Advance(time.Second)
	require.Equal(t, 3*time.Second, c.WaitAfterCalls(t, 3))
	require.Equal(t, time.Duration(0), c.NextAfter(t))
	require.Equal(t, 3*time.Second, c.NextAfter(t))
	c.WaitPending(t, 1)
	c.Advance(3 * time.Second)
	c.WaitPending(t, 0)
	require.Equal(t, 3, c.AfterCalls())
}

// failTB records a Fatalf instead of stopping the test.
type failTB struct {
	testing.TB
	msg string
}

func (f *failTB) Helper() {}
func (f *failTB) Fatalf(format string, args ...any) {
	f.msg = format
}

func TestWaitFailsAfterTheSafetyNet(t *testing.T) {
	old := clocktest.Safety
	clocktest.Safety = time.Millisecond
	t.Cleanup(func() { clocktest.Safety = old })
	c := clocktest.New(t0)
	tb := &failTB{TB: t}
	c.WaitAfterCalls(tb, 1)
	require.Contains(t, tb.msg, "clocktest: waited")
}

func ExampleClock() {
	c := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	wake := c.After(time.Hour) // as the code under test would
	fmt.Println(c.Pending())
	c.Advance(time.Hour)
	fmt.Println(<-wake, c.Pending())
	// Output:
	// 1
	// 2026-01-01 01:00:00 +0000 UTC 0
}
