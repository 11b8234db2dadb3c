package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/strata-dataspace/strata/datasource"
)

// Change kinds reported by Diff.
const (
	// ChangeAdded: the product is in the new generation only.
	ChangeAdded = "added"
	// ChangeRemoved: the product is in the old generation only.
	ChangeRemoved = "removed"
	// ChangeChanged: both hold the product with different values.
	ChangeChanged = "changed"
	// ChangeRewritten: a new version was written with the same value.
	ChangeRewritten = "rewritten"
	// ChangeRowAdded: a row of a changed tabular product that is new.
	ChangeRowAdded = "+row"
	// ChangeRowRemoved: a row of a changed tabular product that is gone.
	ChangeRowRemoved = "-row"
	// ChangeValueOld carries the old value of a changed product that is
	// not tabular.
	ChangeValueOld = "-value"
	// ChangeValueNew carries its new value.
	ChangeValueNew = "+value"
)

// Change is one line of a diff: a product added, removed or changed, or a
// row (or value) of a changed product.
type Change struct {
	// Key is the product key.
	Key string `json:"key"`
	// Change is one of the Change… constants.
	Change string `json:"change"`
	// OldVersion is the generation the old version was written in (zero
	// when absent or on row lines).
	OldVersion int64 `json:"old_version,omitempty"`
	// NewVersion is the generation the new version was written in.
	NewVersion int64 `json:"new_version,omitempty"`
	// OldSize is the stored size of the old version.
	OldSize int64 `json:"old_size,omitempty"`
	// NewSize is the stored size of the new version.
	NewSize int64 `json:"new_size,omitempty"`
	// RowsAdded counts the rows only the new version of a tabular product
	// has (on its "changed" line).
	RowsAdded int64 `json:"rows_added,omitempty"`
	// RowsRemoved counts the rows only the old version has.
	RowsRemoved int64 `json:"rows_removed,omitempty"`
	// Row is the row (or value) of a row or value line, as JSON.
	Row json.RawMessage `json:"row,omitempty"`
}

// DiffParams names the two generations to compare.
type DiffParams struct {
	// Name is the task manager's name. Required.
	Name string
	// From is the old generation. Required.
	From int64
	// To is the new generation. Required.
	To int64
}

// Diff compares two generations of the newest instance of p.Name and
// calls fn with each change, ordered by key: the product line first, then
// the removed and the added rows of a changed tabular product (compared as
// multisets of rows, whatever their key order), streaming the rows. It
// returns the two blocks compared, also along with an error fn returned.
func (in *Inspector) Diff(ctx context.Context, p *DiffParams, fn func(*Change) error) (from, to *Block, err error) {
	if p.From <= 0 || p.To <= 0 {
		return nil, nil, fmt.Errorf("%w: diff needs two generation numbers (from 1), got %d and %d", ErrInvalid, p.From, p.To)
	}
	tm, from, err := in.block(ctx, p.Name, p.From)
	if err != nil {
		return nil, nil, err
	}
	to, err = in.blockOf(ctx, tm, p.To)
	if err != nil {
		return nil, nil, err
	}
	list := func(g int64) (map[string]*datasource.Product, error) {
		rows, err := in.ds.ProductList(ctx, &datasource.ProductListParams{TaskManagerSeq: tm.SequenceID, Generation: g})
		if err != nil {
			return nil, fmt.Errorf("list products of generation %d of task manager %q: %w", g, p.Name, err)
		}
		m := make(map[string]*datasource.Product, len(rows))
		for _, r := range rows {
			m[r.Key] = r
		}
		return m, nil
	}
	olds, err := list(from.Generation)
	if err != nil {
		return nil, nil, err
	}
	news, err := list(to.Generation)
	if err != nil {
		return nil, nil, err
	}
	keys := make([]string, 0, len(olds)+len(news))
	for k := range olds {
		keys = append(keys, k)
	}
	for k := range news {
		if _, ok := olds[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		o, n := olds[k], news[k]
		switch {
		case o == nil:
			err = fn(&Change{Key: k, Change: ChangeAdded, NewVersion: n.FirstGeneration, NewSize: n.StoredSize})
		case n == nil:
			err = fn(&Change{Key: k, Change: ChangeRemoved, OldVersion: o.FirstGeneration, OldSize: o.StoredSize})
		case o.FirstGeneration == n.FirstGeneration:
			continue // the same stored version
		default:
			err = in.diffProduct(ctx, tm, from.Generation, to.Generation, o, n, fn)
		}
		if err != nil {
			return from, to, err
		}
	}
	return from, to, nil
}

// diffProduct reports one product stored in two different versions.
func (in *Inspector) diffProduct(ctx context.Context, tm *datasource.TaskManager, g1, g2 int64, o, n *datasource.Product, fn func(*Change) error) error {
	oldP, err := in.product(ctx, tm, g1, o.Key, true)
	if err != nil {
		return err
	}
	newP, err := in.product(ctx, tm, g2, n.Key, true)
	if err != nil {
		return err
	}
	line := &Change{Key: o.Key, Change: ChangeChanged, OldVersion: o.FirstGeneration, NewVersion: n.FirstGeneration, OldSize: o.StoredSize, NewSize: n.StoredSize}
	where := func(err error) error {
		return fmt.Errorf("diff product %q of task manager %q: %w", o.Key, tm.Name, err)
	}
	_, oldTab, err := countRows(oldP)
	if err != nil {
		return where(err)
	}
	_, newTab, err := countRows(newP)
	if err != nil {
		return where(err)
	}
	if !oldTab || !newTab {
		ov, err := canonicalValue(oldP)
		if err != nil {
			return where(err)
		}
		nv, err := canonicalValue(newP)
		if err != nil {
			return where(err)
		}
		if bytes.Equal(ov, nv) {
			line.Change = ChangeRewritten
			return fn(line)
		}
		if err := fn(line); err != nil {
			return err
		}
		if err := fn(&Change{Key: o.Key, Change: ChangeValueOld, Row: ov}); err != nil {
			return err
		}
		return fn(&Change{Key: o.Key, Change: ChangeValueNew, Row: nv})
	}

	// Rows are compared as multisets of canonical JSON, by hash: four
	// streaming passes, one map of hashes in memory.
	remaining := map[uint64]int{} // old rows not (yet) matched by a new row
	if err := hashRows(oldP, func(h uint64, _ []byte) error { remaining[h]++; return nil }); err != nil {
		return where(err)
	}
	added := map[uint64]int{}
	if err := hashRows(newP, func(h uint64, _ []byte) error {
		if remaining[h] > 0 {
			remaining[h]--
		} else {
			added[h]++
			line.RowsAdded++
		}
		return nil
	}); err != nil {
		return where(err)
	}
	for _, c := range remaining {
		line.RowsRemoved += int64(c)
	}
	if line.RowsAdded == 0 && line.RowsRemoved == 0 {
		line.Change = ChangeRewritten
		return fn(line)
	}
	if err := fn(line); err != nil {
		return err
	}
	if line.RowsRemoved > 0 {
		if err := hashRows(oldP, func(h uint64, canon []byte) error {
			if remaining[h] > 0 {
				remaining[h]--
				return fn(&Change{Key: o.Key, Change: ChangeRowRemoved, Row: bytes.Clone(canon)})
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if line.RowsAdded > 0 {
		return hashRows(newP, func(h uint64, canon []byte) error {
			if added[h] > 0 {
				added[h]--
				return fn(&Change{Key: o.Key, Change: ChangeRowAdded, Row: bytes.Clone(canon)})
			}
			return nil
		})
	}
	return nil
}

// hashRows streams the rows of a tabular value as canonical JSON (sorted
// keys) with their FNV-1a hash. canon is only valid during fn.
func hashRows(p *datasource.Product, fn func(h uint64, canon []byte) error) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	h := fnv.New64a()
	_, err := scanArray(p, func(dec *json.Decoder) error {
		m, err := decodeObject(dec)
		if err != nil {
			return err
		}
		buf.Reset()
		if err := enc.Encode(m); err != nil {
			return err
		}
		canon := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		h.Reset()
		h.Write(canon)
		return fn(h.Sum64(), canon)
	})
	return err
}

// canonical re-encodes JSON with sorted object keys and exact numbers.
func canonical(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func canonicalValue(p *datasource.Product) ([]byte, error) {
	raw, err := readJSON(p)
	if err != nil {
		return nil, err
	}
	return canonical(raw)
}
