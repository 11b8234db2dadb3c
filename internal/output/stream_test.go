package output_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/internal/output"
)

func TestRowWriterMatchesWrite(t *testing.T) {
	t.Parallel()
	table := &output.Table{Columns: []string{"name", "n", "when", "tags"}}
	table.Add("alpha", int64(1), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), map[string]any{"a": 1})
	table.Add("b\tc", nil, time.Time{}, []string{"x", "<y>"})
	table.Add("longer value", int64(12345), time.Time{}, nil)
	for _, f := range output.Formats {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			var want, got bytes.Buffer
			require.NoError(t, output.Write(&want, f, table))
			rw, err := output.NewRowWriter(&got, f, table.Columns)
			require.NoError(t, err)
			for _, r := range table.Rows {
				require.NoError(t, rw.Write(r...))
			}
			require.NoError(t, rw.Close())
			require.Equal(t, want.String(), got.String())
			require.Equal(t, 3, rw.Rows())
		})
	}
}

func TestRowWriterEmpty(t *testing.T) {
	t.Parallel()
	for _, f := range output.Formats {
		var want, got bytes.Buffer
		require.NoError(t, output.Write(&want, f, &output.Table{Columns: []string{"a", "b"}}))
		rw, err := output.NewRowWriter(&got, f, []string{"a", "b"})
		require.NoError(t, err)
		require.NoError(t, rw.Close())
		require.Equal(t, want.String(), got.String(), f)
	}
	_, err := output.NewRowWriter(&bytes.Buffer{}, "yaml", []string{"a"})
	require.ErrorIs(t, err, output.ErrFormat)
}

func TestRowWriterStreamsTables(t *testing.T) {
	t.Parallel()
	var got bytes.Buffer
	rw, err := output.NewRowWriter(&got, "table", []string{"i"})
	require.NoError(t, err)
	require.NoError(t, rw.Write(1))
	require.Empty(t, got.String(), "buffered to size the columns")
	require.NoError(t, rw.Flush())
	require.Equal(t, "I\n1\n", got.String())
	require.NoError(t, rw.Write(22))
	require.Equal(t, "I\n1\n22\n", got.String(), "printed at once after a flush")
	require.NoError(t, rw.Close())
}

// TestZeroTimeIsNull: a zero time prints blank in the text formats and
// null in JSON, never as the year 1.
func TestZeroTimeIsNull(t *testing.T) {
	t.Parallel()
	table := &output.Table{Columns: []string{"sealed_at"}}
	table.Add(time.Time{})
	var buf bytes.Buffer
	require.NoError(t, output.Write(&buf, "json", table))
	require.JSONEq(t, `[{"sealed_at": null}]`, buf.String())
	buf.Reset()
	require.NoError(t, output.Write(&buf, "csv", table))
	require.Equal(t, "sealed_at\n\n", buf.String())
}

func TestVerticalFormat(t *testing.T) {
	t.Parallel()
	table := &output.Table{Columns: []string{"name", "n"}}
	table.Add("alpha", int64(1))
	table.Add("b", nil)
	var b bytes.Buffer
	require.NoError(t, output.Write(&b, "vertical", table))
	require.Equal(t, "*************************** 1. row ***************************\n"+
		"name: alpha\n"+
		"   n: 1\n"+
		"*************************** 2. row ***************************\n"+
		"name: b\n"+
		"   n: "+output.Cell(nil)+"\n", b.String())
}
