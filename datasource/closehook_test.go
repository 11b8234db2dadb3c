package datasource

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCloseHooksRunOnceInOrder(t *testing.T) {
	var h CloseHooks
	var got []int
	h.OnClose(func() { got = append(got, 1) })
	h.OnClose(func() { got = append(got, 2) })
	require.Empty(t, got, "a hook ran before Close")
	h.Run()
	require.Equal(t, []int{1, 2}, got)
	h.Run()
	require.Equal(t, []int{1, 2}, got, "a hook ran twice")
	h.OnClose(func() { got = append(got, 3) })
	require.Equal(t, []int{1, 2, 3}, got, "a hook registered after Close did not run at once")
}
