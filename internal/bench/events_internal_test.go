package bench

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEvGenSpreadsOver24h checks that the E workloads' events are spread
// over 24 h at every size, E1b's 1,000,000 included.
func TestEvGenSpreadsOver24h(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{20000, 1000000} {
		first, last := evGen(r, 0, n).Generated, evGen(r, n-1, n).Generated
		require.Equal(t, evStart, first)
		require.True(t, last.Before(evStart.Add(evSpan)), "n=%d: last event at %s", n, last)
		require.True(t, last.After(evStart.Add(evSpan-time.Minute)), "n=%d: last event at %s", n, last)
		mid := evGen(r, n/2, n).Generated
		require.Equal(t, evStart.Add(evSpan/2), mid, "n=%d", n)
	}
}
