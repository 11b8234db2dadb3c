// Package output prints tabular data in the formats every strata command
// offers: table, json, csv and vertical.
package output

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Formats lists the accepted --format values.
var Formats = []string{"table", "json", "csv", "vertical"}

// ErrFormat is wrapped when a --format value is unknown.
var ErrFormat = errors.New("unknown output format")

// CheckFormat returns an error unless f is one of Formats.
func CheckFormat(f string) error {
	for _, v := range Formats {
		if f == v {
			return nil
		}
	}
	return fmt.Errorf("%w %q: want one of %s", ErrFormat, f, strings.Join(Formats, ", "))
}

// Table is rows of values under named columns. Values keep their Go type
// for JSON; the text formats print them with Cell.
type Table struct {
	// Columns names each column; JSON objects use them as keys.
	Columns []string
	// Rows hold one value per column.
	Rows [][]any
}

// Add appends a row.
func (t *Table) Add(values ...any) { t.Rows = append(t.Rows, values) }

// Write prints t to w in format f.
func Write(w io.Writer, f string, t *Table) error {
	switch f {
	case "json":
		return writeJSON(w, t)
	case "csv":
		return writeCSV(w, t)
	case "vertical":
		return writeVertical(w, t)
	case "table", "":
		return writeTable(w, t)
	}
	return CheckFormat(f)
}

// Cell renders one value for the text formats.
func Cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.UTC().Format("2006-01-02T15:04:05.000000Z")
	case time.Duration:
		return x.String()
	case fmt.Stringer:
		return x.String()
	case []byte:
		return string(x)
	case json.RawMessage:
		return string(x)
	case float64:
		return fmt.Sprintf("%.6g", x)
	case int, int64, uint64, int32, uint8, bool:
		return fmt.Sprint(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func writeTable(w io.Writer, t *Table) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(t.Columns, "\t")))
	for _, r := range t.Rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = strings.ReplaceAll(Cell(v), "\t", " ")
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func writeCSV(w io.Writer, t *Table) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(t.Columns); err != nil {
		return err
	}
	for _, r := range t.Rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = Cell(v)
		}
		if err := cw.Write(cells); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeVertical(w io.Writer, t *Table) error {
	for i, r := range t.Rows {
		if _, err := io.WriteString(w, verticalRecord(i+1, t.Columns, r)); err != nil {
			return err
		}
	}
	return nil
}

// verticalRecord formats row n as the vertical format prints it: a header
// line, then one "column: value" line per column, the names right-aligned.
// Missing values print as nil cells.
func verticalRecord(n int, columns []string, values []any) string {
	width := 0
	for _, c := range columns {
		width = max(width, len(c))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*************************** %d. row ***************************\n", n)
	for j, c := range columns {
		var v any
		if j < len(values) {
			v = values[j]
		}
		fmt.Fprintf(&b, "%*s: %s\n", width, c, Cell(v))
	}
	return b.String()
}

func writeJSON(w io.Writer, t *Table) error {
	objs := make([]orderedObject, len(t.Rows))
	for i, r := range t.Rows {
		objs[i] = orderedObject{cols: t.Columns, vals: r}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(objs)
}

// orderedObject marshals as a JSON object with keys in column order.
type orderedObject struct {
	cols []string
	vals []any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, c := range o.cols {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c)
		b.Write(k)
		b.WriteByte(':')
		var v any
		if i < len(o.vals) {
			v = o.vals[i]
		}
		if t, ok := v.(time.Time); ok && t.IsZero() {
			v = nil // blank in the text formats, so null rather than year 1
		}
		vb, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c, err)
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}
