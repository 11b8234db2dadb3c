package inspect

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/klauspost/compress/zstd"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource"
)

// openValue streams the decompressed, encoded value of a stored product:
// only the compressed bytes and the decoder's window are in memory.
func openValue(p *datasource.Product) (io.ReadCloser, error) {
	src := bytes.NewReader(p.Value)
	switch datablock.Compression(p.Compression) {
	case datablock.CompressionNone:
		return io.NopCloser(src), nil
	case datablock.CompressionZstd:
		d, _ := zstdPool.Get().(*zstd.Decoder)
		if d == nil {
			var err error
			d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(1<<32))
			if err != nil {
				return nil, fmt.Errorf("%w: zstd: %v", datablock.ErrCodec, err)
			}
		}
		if err := d.Reset(src); err != nil {
			zstdPool.Put(d)
			return nil, fmt.Errorf("%w: zstd: %v", datablock.ErrCodec, err)
		}
		return &pooledZstd{d}, nil
	case datablock.CompressionZlib:
		r, err := zlib.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("%w: zlib: %v", datablock.ErrCodec, err)
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: unknown compression %d", datablock.ErrCodec, p.Compression)
}

// zstdPool keeps streaming zstd decoders, whose history buffers are worth
// reusing from one pass over a value to the next.
var zstdPool sync.Pool

// pooledZstd returns its decoder to zstdPool on Close.
type pooledZstd struct{ d *zstd.Decoder }

func (p *pooledZstd) Read(b []byte) (int, error) { return p.d.Read(b) }

func (p *pooledZstd) Close() error {
	if p.d != nil {
		_ = p.d.Reset(nil)
		zstdPool.Put(p.d)
		p.d = nil
	}
	return nil
}

// scanArray calls fn once for each element of a JSON array value, with the
// decoder positioned at the element: fn must decode exactly one value. The
// decoder keeps numbers as json.Number. scanArray reports false (and calls
// nothing) when the value is not a JSON array.
func scanArray(p *datasource.Product, fn func(dec *json.Decoder) error) (bool, error) {
	if datablock.Encoding(p.Encoding) != datablock.EncodingJSON {
		return false, nil
	}
	r, err := openValue(p)
	if err != nil {
		return false, err
	}
	defer r.Close()
	dec := json.NewDecoder(r)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return false, fmt.Errorf("%w: decode JSON: %v", datablock.ErrCodec, err)
	}
	if tok != json.Delim('[') {
		return false, nil
	}
	for dec.More() {
		if err := fn(dec); err != nil {
			return true, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return true, fmt.Errorf("%w: decode JSON: %v", datablock.ErrCodec, err)
	}
	return true, nil
}

// decodeObject decodes the next element, which must be a JSON object.
func decodeObject(dec *json.Decoder) (map[string]any, error) {
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: decode JSON: %v", datablock.ErrCodec, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errNotTabular
	}
	return m, nil
}

// errNotTabular stops a scan at the first element that is not an object.
var errNotTabular = errors.New("not tabular")

// countRows counts the rows of a tabular value (a JSON array of objects).
// It scans the decompressed bytes without decoding them: only the nesting
// depth and whether it is inside a string matter, so listing products
// costs a decompression per value, not a JSON decode of every row. The
// values were written by encoding/json, so they are valid JSON; a value
// that ends early is a codec error.
func countRows(p *datasource.Product) (int64, bool, error) {
	if datablock.Encoding(p.Encoding) != datablock.EncodingJSON {
		return 0, false, nil
	}
	r, err := openValue(p)
	if err != nil {
		return 0, false, err
	}
	defer r.Close()
	var (
		buf     [32 << 10]byte
		n       int64
		depth   int  // 0: before the value's first byte
		inStr   bool // inside a string
		esc     bool // after a backslash in a string
		element = true
	)
	for {
		m, err := r.Read(buf[:])
		for _, c := range buf[:m] {
			if inStr {
				switch {
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					inStr = false
				}
				continue
			}
			switch c {
			case ' ', '\t', '\n', '\r':
				continue
			}
			if depth == 0 {
				if c != '[' {
					return 0, false, nil
				}
				depth = 1
				continue
			}
			if depth == 1 && element {
				// The first byte of an element, or the end of an empty array.
				switch c {
				case ']':
					return n, true, nil
				case '{':
					n++
					depth, element = 2, false
					continue
				}
				return 0, false, nil
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return n, true, nil
				}
			case ',':
				element = depth == 1
			}
		}
		if err == io.EOF {
			return 0, false, fmt.Errorf("%w: decode JSON: the value ends inside the array", datablock.ErrCodec)
		}
		if err != nil {
			return 0, false, fmt.Errorf("%w: decompress: %v", datablock.ErrCodec, err)
		}
	}
}

// row is one decoded object of a tabular value, keys in document order.
type row struct {
	keys   []string
	values map[string]any
}

// parseRow decodes one JSON object, keeping its key order. Numbers stay
// json.Number, so they print with their exact digits.
func parseRow(raw json.RawMessage) (*row, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errNotTabular
	}
	r := &row{values: map[string]any{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: decode JSON: %v", datablock.ErrCodec, err)
		}
		k, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: decode JSON: %v", datablock.ErrCodec, err)
		}
		if _, dup := r.values[k]; !dup {
			r.keys = append(r.keys, k)
		}
		r.values[k] = v
	}
	return r, nil
}

// ColumnType describes one column of a tabular product.
type ColumnType struct {
	// Column is the column (object key) name.
	Column string `json:"column"`
	// Types lists the JSON types seen, in order of first appearance,
	// joined by "|": string, number, bool, null, object, array.
	Types string `json:"types"`
	// Count is how many rows have a non-null value in the column.
	Count int64 `json:"count"`
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64, int, int64:
		return "number"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// ProductParams selects one product and how to show it.
type ProductParams struct {
	// Name is the task manager's name. Required.
	Name string
	// Key is the product key. Required.
	Key string
	// Generation is the generation to read; zero means the newest.
	Generation int64
	// Columns, when set, picks and orders the columns of a tabular value.
	Columns []string
	// Query, when set, keeps the rows of a tabular value for which this
	// expr-lang expression is true. The row's columns are its variables
	// (`cpu > 2 && site == "FNAL"`; `$env["odd-name"]` for other names).
	Query string
}

// Value is one product read for display: a tabular value streams its rows
// through Rows; any other value is in JSON.
type Value struct {
	// Block is the generation read.
	Block *Block `json:"block"`
	// Product describes the product.
	Product *Product `json:"product"`
	// Tabular is true for a JSON array of objects.
	Tabular bool `json:"tabular"`
	// Columns are the columns Rows returns, in order.
	Columns []string `json:"columns,omitempty"`
	// Types describes every column of a tabular value.
	Types []*ColumnType `json:"types,omitempty"`
	// JSON is the value of a product that is not tabular (raw bytes
	// appear as a base64 JSON string).
	JSON json.RawMessage `json:"value,omitempty"`

	stored  *datasource.Product
	query   *vm.Program
	qtext   string
	unknown []string // the query's variables that are not columns
	all     []string // every column, for error messages
}

// Product reads product p.Key of a generation. For a tabular value it
// checks the columns and compiles the query once, reading the rows one at
// a time to learn the columns and their types; the rows themselves come
// from Rows.
func (in *Inspector) Product(ctx context.Context, p *ProductParams) (*Value, error) {
	tm, b, err := in.block(ctx, p.Name, p.Generation)
	if err != nil {
		return nil, err
	}
	stored, err := in.product(ctx, tm, b.Generation, p.Key, true)
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf("product %q of generation %d of task manager %q", p.Key, b.Generation, p.Name)
	v := &Value{Block: b, Product: productOf(stored), stored: stored}
	var prog *vm.Program
	if strings.TrimSpace(p.Query) != "" {
		if prog, err = CompileQuery(p.Query); err != nil {
			return nil, err
		}
	}

	types := map[string]*ColumnType{}
	var order []string
	var n int64
	seen := func(k string, x any) {
		ct, ok := types[k]
		if !ok {
			ct = &ColumnType{Column: k}
			types[k] = ct
			order = append(order, k)
		}
		t := jsonType(x)
		if t != "null" {
			ct.Count++
		}
		if !strings.Contains("|"+ct.Types+"|", "|"+t+"|") {
			if ct.Types != "" {
				ct.Types += "|"
			}
			ct.Types += t
		}
	}
	isArray, err := scanArray(stored, func(dec *json.Decoder) error {
		n++
		if n == 1 {
			// The first row gives the column order as written.
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return fmt.Errorf("%w: decode JSON: %v", datablock.ErrCodec, err)
			}
			r, err := parseRow(raw)
			if err != nil {
				return err
			}
			for _, k := range r.keys {
				seen(k, r.values[k])
			}
			return nil
		}
		m, err := decodeObject(dec)
		if err != nil {
			return err
		}
		var fresh []string
		for k, x := range m {
			if _, ok := types[k]; !ok {
				fresh = append(fresh, k)
				continue
			}
			seen(k, x)
		}
		// Columns that appear later are appended in name order.
		sort.Strings(fresh)
		for _, k := range fresh {
			seen(k, m[k])
		}
		return nil
	})
	switch {
	case errors.Is(err, errNotTabular), err == nil && !isArray:
		if prog != nil || len(p.Columns) > 0 {
			return nil, fmt.Errorf("%w: --query and --columns need a tabular product (a JSON array of objects) and %s is not one", ErrInvalid, where)
		}
		if v.JSON, err = readJSON(stored); err != nil {
			return nil, fmt.Errorf("read %s: %w", where, err)
		}
		return v, nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", where, err)
	}

	v.Tabular, v.Product.Tabular, v.Product.Rows = true, true, &n
	for _, k := range order {
		v.Types = append(v.Types, types[k])
	}
	v.Columns = order
	if len(p.Columns) > 0 {
		v.Columns = nil
		picked := map[string]bool{}
		for _, c := range p.Columns {
			c = strings.TrimSpace(c)
			if c == "" || picked[c] {
				continue // a column named twice is shown once (JSON keys are unique)
			}
			picked[c] = true
			if _, ok := types[c]; !ok {
				return nil, fmt.Errorf("%w: column %q is not in %s (its columns: %s)", ErrInvalid, c, where, strings.Join(order, ", "))
			}
			v.Columns = append(v.Columns, c)
		}
	}
	v.query, v.qtext, v.all = prog, p.Query, order
	if prog != nil {
		v.unknown = unknownNames(prog, types)
	}
	return v, nil
}

// readJSON returns a whole value as JSON; raw bytes become a base64 string.
func readJSON(p *datasource.Product) (json.RawMessage, error) {
	r, err := openValue(p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %v", datablock.ErrCodec, err)
	}
	if datablock.Encoding(p.Encoding) == datablock.EncodingBytes {
		return json.Marshal(raw)
	}
	return raw, nil
}

// CompileQuery compiles a row filter once. Variables are the row's
// columns; a column a row lacks is nil. The expression must be boolean: one
// that cannot be (`1 + 1`) fails here, one whose type depends on the rows
// (`cpu + 1`) fails on the first row with a message saying so (Match).
func CompileQuery(q string) (*vm.Program, error) {
	if _, err := expr.Compile(q, expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.AsBool()); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrQuery, q, firstLine(err.Error()))
	}
	prog, err := expr.Compile(q, expr.Env(map[string]any{}), expr.AllowUndefinedVariables())
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrQuery, q, firstLine(err.Error()))
	}
	return prog, nil
}

// unknownNames returns the variables of a compiled query that are not
// columns, in order of appearance: names bound by `let`, function names
// and $env are not variables.
func unknownNames(prog *vm.Program, columns map[string]*ColumnType) []string {
	v := &identifiers{declared: map[string]bool{}, callees: map[ast.Node]bool{}}
	root := prog.Node()
	ast.Walk(&root, v)
	var out []string
	seen := map[string]bool{}
	for _, id := range v.idents {
		n := id.Value
		if _, ok := columns[n]; ok || v.callees[id] || v.declared[n] || seen[n] || strings.HasPrefix(n, "$") {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}

// identifiers collects the identifiers of an expression (ast.Walk visits
// a call's callee before the call, so callees are filtered out after).
type identifiers struct {
	idents   []*ast.IdentifierNode
	declared map[string]bool
	callees  map[ast.Node]bool
}

func (v *identifiers) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.VariableDeclaratorNode:
		v.declared[n.Name] = true
	case *ast.CallNode:
		v.callees[n.Callee] = true
	case *ast.IdentifierNode:
		v.idents = append(v.idents, n)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Match runs a compiled query against one row (column name to value).
func Match(prog *vm.Program, env map[string]any) (bool, error) {
	out, err := expr.Run(prog, env)
	if err != nil {
		return false, err
	}
	ok, isBool := out.(bool)
	if !isBool {
		return false, fmt.Errorf("the expression must be true or false, got %s %v", jsonType(out), out)
	}
	return ok, nil
}

// queryValue converts decoded JSON for expressions: json.Number becomes
// int or float64 so that comparisons and arithmetic work.
func queryValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = queryValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = queryValue(e)
		}
		return out
	}
	return v
}

// Rows calls fn with each row of a tabular value that passes the query,
// as values in Columns order, decoding one row at a time. fn must not keep
// the slice. It returns fn's first error.
func (v *Value) Rows(fn func([]any) error) error {
	if !v.Tabular {
		return fmt.Errorf("%w: product %q is not tabular", ErrInvalid, v.Product.Key)
	}
	out := make([]any, len(v.Columns))
	var i int64
	_, err := scanArray(v.stored, func(dec *json.Decoder) error {
		i++
		m, err := decodeObject(dec)
		if err != nil {
			return err
		}
		if v.query != nil {
			env := make(map[string]any, len(m))
			for k, x := range m {
				env[k] = queryValue(x)
			}
			ok, err := Match(v.query, env)
			if err != nil {
				hint := ""
				if names := v.unknown; len(names) > 0 {
					hint = fmt.Sprintf(" (%s: not a column of this product; its columns: %s)", strings.Join(names, ", "), strings.Join(v.all, ", "))
				}
				return fmt.Errorf("%w %q on row %d: %v%s", ErrQuery, v.qtext, i, firstLine(err.Error()), hint)
			}
			if !ok {
				return nil
			}
		}
		for j, c := range v.Columns {
			out[j] = m[c]
		}
		return fn(out)
	})
	return err
}
