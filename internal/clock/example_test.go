package clock_test

import (
	"fmt"
	"time"

	"github.com/strata-dataspace/strata/internal/clock"
)

// poll calls f every interval by c, n times.
func poll(c clock.Clock, interval time.Duration, n int, f func(time.Time)) {
	for range n {
		f(<-c.After(interval))
	}
}

func ExampleClock() {
	var ticks int
	poll(clock.Real, time.Millisecond, 3, func(time.Time) { ticks++ })
	fmt.Println(ticks)
	// Output: 3
}
