package events

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/strata-dataspace/strata/datablock"
)

// A run is one piece of the trait index: the values of one trait name and
// type for a set of events, sorted by (value, generated, event id). A
// batch of events writes one run per trait it holds; runs are merged in
// tiers as they accumulate (see compact). A run is immutable: readers
// cache decoded runs by id.
type run struct {
	id       int64
	typ      TraitType
	minID    int64
	maxID    int64
	minGen   int64
	maxGen   int64
	strs     []string  // TypeString values
	ints     []int64   // TypeInteger and TypeDatetime (µs) values
	floats   []float64 // TypeFloat values
	gens     []int64   // each entry's generated time, µs
	ids      []int64   // each entry's event id
	byID     []int32   // entry positions in event id order
	memBytes int64     // what the decoded run holds in memory
}

// entry is one event's value of a trait, as a run is built from.
type entry struct {
	s   string
	n   int64
	f   float64
	gen int64
	id  int64
}

// compareEntries orders entries by (value, generated, id) for type typ.
func compareEntries(typ TraitType) func(a, b entry) int {
	switch typ {
	case TypeString:
		return compareStringEntries
	case TypeFloat:
		return compareFloatEntries
	}
	return compareIntEntries
}

// The orders of compareEntries, one per kind of value: a comparison
// chosen once per run rather than at every step of a sort or merge.
func compareStringEntries(a, b entry) int {
	return cmp.Or(strings.Compare(a.s, b.s), cmp.Compare(a.gen, b.gen), cmp.Compare(a.id, b.id))
}

func compareFloatEntries(a, b entry) int {
	return cmp.Or(cmp.Compare(a.f, b.f), cmp.Compare(a.gen, b.gen), cmp.Compare(a.id, b.id))
}

func compareIntEntries(a, b entry) int {
	return cmp.Or(cmp.Compare(a.n, b.n), cmp.Compare(a.gen, b.gen), cmp.Compare(a.id, b.id))
}

// traitEntry returns the index entry of trait t of event id.
func traitEntry(t Trait, gen, id int64) entry {
	e := entry{gen: gen, id: id}
	switch v := t.Value.(type) {
	case string:
		e.s = v
	case int64:
		e.n = v
	case float64:
		e.f = v
	case time.Time:
		e.n = v.UnixMicro()
	}
	return e
}

// runVersion starts every encoded run.
const runVersion = 1

// encodeRun encodes entries, sorted by compareEntries: a version byte, the type, the
// entry count, then three columns: the values (strings length-prefixed,
// integers as zig-zag varint deltas, floats as 8 bytes), the generated
// times and the event ids (both zig-zag varint deltas).
func encodeRun(typ TraitType, entries []entry) []byte {
	b := make([]byte, 0, 2+binary.MaxVarintLen64+len(entries)*12)
	b = append(b, runVersion, byte(typ))
	b = binary.AppendUvarint(b, uint64(len(entries)))
	var prev int64
	for _, e := range entries {
		switch typ {
		case TypeString:
			b = binary.AppendUvarint(b, uint64(len(e.s)))
			b = append(b, e.s...)
		case TypeFloat:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.f))
		default:
			b = binary.AppendVarint(b, e.n-prev)
			prev = e.n
		}
	}
	prev = 0
	for _, e := range entries {
		b = binary.AppendVarint(b, e.gen-prev)
		prev = e.gen
	}
	prev = 0
	for _, e := range entries {
		b = binary.AppendVarint(b, e.id-prev)
		prev = e.id
	}
	return b
}

// decodeRun reads a run encoded by encodeRun.
func decodeRun(id int64, data []byte) (*run, error) {
	bad := func(what string) error {
		return fmt.Errorf("%w: trait index run %d: %s", datablock.ErrCodec, id, what)
	}
	if len(data) < 3 || data[0] != runVersion {
		return nil, bad("unknown layout")
	}
	r := &run{id: id, typ: TraitType(data[1])}
	if r.typ < TypeString || r.typ > TypeDatetime {
		return nil, bad(fmt.Sprintf("trait type %d", data[1]))
	}
	b := data[2:]
	count, k := binary.Uvarint(b)
	if k <= 0 || count == 0 || count > uint64(len(b)) {
		return nil, bad("entry count")
	}
	b = b[k:]
	n := int(count)
	var prev int64
	varints := func(dst []int64) bool {
		prev = 0
		for i := range dst {
			d, k := binary.Varint(b)
			if k <= 0 {
				return false
			}
			b = b[k:]
			prev += d
			dst[i] = prev
		}
		return true
	}
	switch r.typ {
	case TypeString:
		r.strs = make([]string, n)
		// One string holds every value; the entries are slices of it.
		all := string(b)
		off := 0
		for i := range n {
			l, k := binary.Uvarint(b[off:])
			if k <= 0 || uint64(len(b)-off-k) < l {
				return nil, bad("string value")
			}
			off += k
			r.strs[i] = all[off : off+int(l)]
			off += int(l)
		}
		b = b[off:]
	case TypeFloat:
		if len(b) < 8*n {
			return nil, bad("float values")
		}
		r.floats = make([]float64, n)
		for i := range n {
			r.floats[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		b = b[8*n:]
	default:
		r.ints = make([]int64, n)
		if !varints(r.ints) {
			return nil, bad("integer values")
		}
	}
	r.gens = make([]int64, n)
	r.ids = make([]int64, n)
	if !varints(r.gens) || !varints(r.ids) || len(b) != 0 {
		return nil, bad("times or ids")
	}
	r.finish(int64(len(data)))
	return r, nil
}

// finish builds the id order of a run's entries and its ranges; data is
// the size of the values' bytes.
func (r *run) finish(data int64) {
	n := len(r.ids)
	r.byID = positionsByID(r.ids)
	r.minID, r.maxID = r.ids[r.byID[0]], r.ids[r.byID[n-1]]
	r.minGen, r.maxGen = slices.Min(r.gens), slices.Max(r.gens)
	r.memBytes = data + int64(n)*(8+8+4+16)
}

// positionsByID returns the positions of ids in ascending id order (of
// equal ids, the first first). A run holds the events of consecutive
// batches, so its ids mostly fill their range: then a counting sort finds
// the order in two passes, a tenth of the time of a general sort, which
// was most of what decoding a large run cost. Sparse ids (a trait only a
// few event types carry, say) are sorted.
func positionsByID(ids []int64) []int32 {
	n := len(ids)
	pos := make([]int32, n)
	if n == 0 {
		return pos
	}
	lo, hi := slices.Min(ids), slices.Max(ids)
	if lo < 0 || uint64(hi-lo) >= uint64(denseIDs*n) {
		for i := range pos {
			pos[i] = int32(i)
		}
		slices.SortStableFunc(pos, func(x, y int32) int { return cmp.Compare(ids[x], ids[y]) })
		return pos
	}
	// at[k] is where the first entry of id lo+k goes.
	at := make([]int32, hi-lo+2)
	for _, id := range ids {
		at[id-lo+1]++
	}
	for k := 1; k < len(at); k++ {
		at[k] += at[k-1]
	}
	for i, id := range ids {
		pos[at[id-lo]] = int32(i)
		at[id-lo]++
	}
	return pos
}

// denseIDs is how many times the entry count a run's id range may span
// for positionsByID to count rather than sort: its counts take 4 bytes a
// slot.
const denseIDs = 8

// run returns the decoded form of a run just built, as decodeRun would.
func (nr *newRun) run() *run {
	n := len(nr.entries)
	r := &run{id: nr.id, typ: nr.typ, gens: make([]int64, n), ids: make([]int64, n)}
	switch nr.typ {
	case TypeString:
		r.strs = make([]string, n)
	case TypeFloat:
		r.floats = make([]float64, n)
	default:
		r.ints = make([]int64, n)
	}
	for i, e := range nr.entries {
		r.gens[i], r.ids[i] = e.gen, e.id
		switch nr.typ {
		case TypeString:
			r.strs[i] = e.s
		case TypeFloat:
			r.floats[i] = e.f
		default:
			r.ints[i] = e.n
		}
	}
	r.finish(int64(len(nr.data)))
	return r
}

// len is the run's entry count.
func (r *run) len() int { return len(r.ids) }

// entry returns entry i of the run.
func (r *run) entry(i int) entry {
	e := entry{gen: r.gens[i], id: r.ids[i]}
	switch r.typ {
	case TypeString:
		e.s = r.strs[i]
	case TypeFloat:
		e.f = r.floats[i]
	default:
		e.n = r.ints[i]
	}
	return e
}

// trait returns entry i as a trait named name.
func (r *run) trait(name string, i int) Trait {
	t := Trait{Name: name, Type: r.typ}
	switch r.typ {
	case TypeString:
		t.Value = r.strs[i]
	case TypeFloat:
		t.Value = r.floats[i]
	case TypeDatetime:
		t.Value = time.UnixMicro(r.ints[i]).UTC()
	default:
		t.Value = r.ints[i]
	}
	return t
}

// compareAt compares entry i's value with the filter's value.
func (r *run) compareAt(i int, f *traitFilter) int {
	switch r.typ {
	case TypeString:
		return strings.Compare(r.strs[i], f.s)
	case TypeFloat:
		return cmp.Compare(r.floats[i], f.f)
	default:
		return cmp.Compare(r.ints[i], f.n)
	}
}

// bounds returns the positions [lo, hi) of the entries whose value equals
// the filter's: entries before lo are smaller, from hi larger.
func (r *run) bounds(f *traitFilter) (lo, hi int) {
	n := r.len()
	lo = sort.Search(n, func(i int) bool { return r.compareAt(i, f) >= 0 })
	hi = lo + sort.Search(n-lo, func(i int) bool { return r.compareAt(lo+i, f) > 0 })
	return lo, hi
}

// spans returns the position ranges of the entries that match f, each a
// [start, end) pair.
func (r *run) spans(f *traitFilter) [][2]int {
	lo, hi := r.bounds(f)
	n := r.len()
	var out [][2]int
	add := func(a, b int) {
		if a < b {
			out = append(out, [2]int{a, b})
		}
	}
	switch f.op {
	case OpEq:
		add(lo, hi)
	case OpNe:
		add(0, lo)
		add(hi, n)
	case OpLt:
		add(0, lo)
	case OpLe:
		add(0, hi)
	case OpGt:
		add(hi, n)
	case OpGe:
		add(lo, n)
	}
	return out
}

// matchesAt says whether entry i satisfies f.
func (r *run) matchesAt(i int, f *traitFilter) bool {
	c := r.compareAt(i, f)
	switch f.op {
	case OpEq:
		return c == 0
	case OpNe:
		return c != 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	case OpGt:
		return c > 0
	case OpGe:
		return c >= 0
	}
	return false
}

// find returns the position of the entry of event id, if the run has one.
func (r *run) find(id int64) (int, bool) {
	if id < r.minID || id > r.maxID {
		return 0, false
	}
	j := sort.Search(len(r.byID), func(j int) bool { return r.ids[r.byID[j]] >= id })
	if j < len(r.byID) && r.ids[r.byID[j]] == id {
		return int(r.byID[j]), true
	}
	return 0, false
}
