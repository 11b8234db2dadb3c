package output

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// StreamBuffer is how many rows a table-format RowWriter holds to size its
// columns before it starts printing; later rows use those widths.
const StreamBuffer = 256

// RowWriter prints rows one at a time in one of Formats, for listings too
// long to hold as a Table. Its output matches Write's for the same rows,
// except that in table format a cell wider than the first StreamBuffer
// rows' widest pushes the rest of its line right.
type RowWriter struct {
	w       io.Writer
	format  string
	columns []string
	rows    int

	// table
	pending [][]string
	widths  []int
	// csv
	csv *csv.Writer
	err error
}

// NewRowWriter returns a RowWriter printing columns in format f.
func NewRowWriter(w io.Writer, f string, columns []string) (*RowWriter, error) {
	if f == "" {
		f = "table"
	}
	if err := CheckFormat(f); err != nil {
		return nil, err
	}
	rw := &RowWriter{w: w, format: f, columns: columns}
	if f == "csv" {
		rw.csv = csv.NewWriter(w)
		if err := rw.csv.Write(columns); err != nil {
			return nil, err
		}
	}
	return rw, nil
}

// Write prints one row (one value per column). The writer does not keep
// the slice.
func (rw *RowWriter) Write(values ...any) error {
	if rw.err != nil {
		return rw.err
	}
	rw.rows++
	switch rw.format {
	case "json":
		obj, err := json.MarshalIndent(orderedObject{cols: rw.columns, vals: values}, "  ", "  ")
		if err != nil {
			return rw.fail(err)
		}
		sep := ",\n  "
		if rw.rows == 1 {
			sep = "[\n  "
		}
		_, err = io.WriteString(rw.w, sep+string(obj))
		return rw.fail(err)
	case "csv":
		cells := make([]string, len(values))
		for i, v := range values {
			cells[i] = Cell(v)
		}
		if err := rw.csv.Write(cells); err != nil {
			return rw.fail(err)
		}
		if rw.rows%StreamBuffer == 0 {
			rw.csv.Flush()
			return rw.fail(rw.csv.Error())
		}
		return nil
	case "vertical":
		return rw.fail(rw.vertical(values))
	}
	cells := make([]string, len(rw.columns))
	for i := range cells {
		if i < len(values) {
			cells[i] = strings.ReplaceAll(Cell(values[i]), "\t", " ")
		}
	}
	if rw.widths == nil {
		rw.pending = append(rw.pending, cells)
		if len(rw.pending) >= StreamBuffer {
			return rw.Flush()
		}
		return nil
	}
	return rw.fail(rw.line(cells))
}

// Flush prints what is buffered. In table format it fixes the column
// widths from the rows seen so far; later rows are printed at once.
func (rw *RowWriter) Flush() error {
	if rw.err != nil {
		return rw.err
	}
	switch rw.format {
	case "csv":
		rw.csv.Flush()
		return rw.fail(rw.csv.Error())
	case "table":
		if rw.widths != nil {
			return nil
		}
		rw.widths = make([]int, len(rw.columns))
		head := make([]string, len(rw.columns))
		for i, c := range rw.columns {
			head[i] = strings.ToUpper(c)
			rw.widths[i] = utf8.RuneCountInString(head[i])
		}
		for _, r := range rw.pending {
			for i, c := range r {
				rw.widths[i] = max(rw.widths[i], utf8.RuneCountInString(c))
			}
		}
		if err := rw.line(head); err != nil {
			return rw.fail(err)
		}
		for _, r := range rw.pending {
			if err := rw.line(r); err != nil {
				return rw.fail(err)
			}
		}
		rw.pending = nil
	}
	return nil
}

// line prints table cells padded like text/tabwriter with padding 2.
func (rw *RowWriter) line(cells []string) error {
	var b strings.Builder
	for i, c := range cells {
		b.WriteString(c)
		if i < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", max(rw.widths[i]-utf8.RuneCountInString(c), 0)+2))
		}
	}
	b.WriteByte('\n')
	_, err := io.WriteString(rw.w, b.String())
	return err
}

// vertical prints one row as writeVertical does.
func (rw *RowWriter) vertical(values []any) error {
	_, err := io.WriteString(rw.w, verticalRecord(rw.rows, rw.columns, values))
	return err
}

// Close prints what is left and ends the output (the JSON array's
// closing bracket).
func (rw *RowWriter) Close() error {
	if err := rw.Flush(); err != nil {
		return err
	}
	if rw.format == "json" {
		end := "\n]\n"
		if rw.rows == 0 {
			end = "[]\n"
		}
		_, err := io.WriteString(rw.w, end)
		return rw.fail(err)
	}
	return nil
}

// Rows reports how many rows were written.
func (rw *RowWriter) Rows() int { return rw.rows }

func (rw *RowWriter) fail(err error) error {
	if err != nil && rw.err == nil {
		rw.err = fmt.Errorf("write output: %w", err)
	}
	return rw.err
}
