package events

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/strata-dataspace/strata/datablock"
)

// checkDecodedTraits fails unless every trait holds the Go type its
// TraitType names: readers (queries, the HTTP API, merges) rely on it.
func checkDecodedTraits(t *testing.T, traits []Trait) {
	t.Helper()
	for _, tr := range traits {
		var ok bool
		switch tr.Type {
		case TypeString:
			_, ok = tr.Value.(string)
		case TypeInteger:
			_, ok = tr.Value.(int64)
		case TypeFloat:
			_, ok = tr.Value.(float64)
		case TypeDatetime:
			_, ok = tr.Value.(time.Time)
		}
		if !ok {
			t.Fatalf("decoded trait %q of type %d holds %T", tr.Name, tr.Type, tr.Value)
		}
	}
}

// FuzzDecodeEvent feeds stored event values that may be damaged (any
// bytes, codec ids and raw size) to decodeEvent: it returns an error
// wrapping datablock.ErrCodec or traits that hold what their types say,
// and never panics.
func FuzzDecodeEvent(f *testing.F) {
	ev := &Event{MessageID: "m", Traits: []Trait{
		{Name: "host", Type: TypeString, Value: "host-1"},
		{Name: "vcpus", Type: TypeInteger, Value: int64(-4)},
		{Name: "load", Type: TypeFloat, Value: 0.5},
		{Name: "at", Type: TypeDatetime, Value: time.UnixMicro(1_700_000_000_000_000).UTC()},
	}, Raw: []byte(`{"a": 1}`)}
	small, err := encodeEvent(ev)
	if err != nil {
		f.Fatal(err)
	}
	ev.Raw = bytes.Repeat([]byte("x"), 2*compressMin)
	big, err := encodeEvent(ev)
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range []*encodedValue{small, big} {
		f.Add(uint8(v.encoding), uint8(v.compression), v.data, int64(v.rawSize))
		f.Add(uint8(v.encoding), uint8(v.compression), v.data[:len(v.data)-3], int64(v.rawSize))
	}
	f.Add(uint8(datablock.EncodingJSON), uint8(0), []byte(`{"traits":[{"n":"a","t":1,"s":"x"},{"n":"b","t":2,"i":3},{"n":"c","t":3,"f":1.5},{"n":"d","t":4,"i":5}],"raw":{"k":1}}`), int64(0))
	f.Add(uint8(datablock.EncodingJSON), uint8(0), []byte(`{"traits":[{"n":"a","t":2,"s":"x"}]}`), int64(0))
	f.Add(uint8(datablock.EncodingJSON), uint8(0), []byte(`{"traits":[{"n":"a","t":9}]}`), int64(0))
	f.Add(uint8(datablock.EncodingBytes), uint8(0), []byte{binaryVersion, 1, 1, 'a', 7}, int64(5))
	f.Fuzz(func(t *testing.T, encoding, compression uint8, data []byte, rawSize int64) {
		var e Event
		if err := decodeEvent(&e, encoding, compression, data, rawSize); err != nil {
			if !errors.Is(err, datablock.ErrCodec) {
				t.Fatalf("error %v does not wrap datablock.ErrCodec", err)
			}
			return
		}
		checkDecodedTraits(t, e.Traits)
	})
}

// FuzzEventRoundTrip checks that an event's traits and raw payload come
// back from encodeEvent and decodeEvent as they went in, compressed or
// not.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add("host", "host-1", int64(3), 1.5, int64(1_700_000_000_000_000), []byte(`{"a":1}`), 0)
	f.Add("", "", int64(math.MinInt64), math.Inf(-1), int64(0), []byte{}, 3000)
	f.Add("näme", "\x00\xff", int64(math.MaxInt64), -0.0, int64(-1), []byte("x"), 600)
	f.Fuzz(func(t *testing.T, name, s string, n int64, fl float64, micros int64, raw []byte, pad int) {
		if pad < 0 || pad > 1<<16 {
			pad = 0
		}
		in := &Event{MessageID: "m", Traits: []Trait{
			{Name: name, Type: TypeString, Value: s + string(bytes.Repeat([]byte("p"), pad))},
			{Name: name + "i", Type: TypeInteger, Value: n},
			{Name: name + "f", Type: TypeFloat, Value: fl},
			{Name: name + "d", Type: TypeDatetime, Value: time.UnixMicro(micros).UTC()},
		}, Raw: raw}
		v, err := encodeEvent(in)
		if err != nil {
			t.Fatal(err)
		}
		out := Event{MessageID: "m"}
		if err := decodeEvent(&out, uint8(v.encoding), uint8(v.compression), v.data, int64(v.rawSize)); err != nil {
			t.Fatal(err)
		}
		checkDecodedTraits(t, out.Traits)
		if len(out.Traits) != len(in.Traits) {
			t.Fatalf("%d traits came back, %d went in", len(out.Traits), len(in.Traits))
		}
		for i, want := range in.Traits {
			got := out.Traits[i]
			same := got.Name == want.Name && got.Type == want.Type
			switch w := want.Value.(type) {
			case float64:
				g := got.Value.(float64)
				same = same && (math.Float64bits(g) == math.Float64bits(w))
			case time.Time:
				same = same && got.Value.(time.Time).Equal(w)
			default:
				same = same && got.Value == want.Value
			}
			if !same {
				t.Fatalf("trait %d: got %#v, want %#v", i, got, want)
			}
		}
		if !bytes.Equal(out.Raw, in.Raw) {
			t.Fatalf("raw payload: got %q, want %q", out.Raw, in.Raw)
		}
	})
}

// FuzzDecodeRun feeds trait index runs that may be damaged to decodeRun:
// it returns an error wrapping datablock.ErrCodec or a run whose columns
// agree, and never panics.
func FuzzDecodeRun(f *testing.F) {
	f.Add(encodeRun(TypeString, []entry{{s: "a", gen: 1, id: 1}, {s: "b", gen: 2, id: 3}}))
	f.Add(encodeRun(TypeInteger, []entry{{n: -5, gen: 1, id: 7}, {n: 9, gen: -2, id: 2}}))
	f.Add(encodeRun(TypeFloat, []entry{{f: 1.5, gen: 1, id: 1}}))
	f.Add(encodeRun(TypeDatetime, []entry{{n: 1 << 50, gen: 1 << 50, id: 1 << 40}}))
	f.Add([]byte{runVersion, byte(TypeString), 0})
	f.Add([]byte{runVersion, byte(TypeString), 1, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRun(1, data)
		if err != nil {
			if !errors.Is(err, datablock.ErrCodec) {
				t.Fatalf("error %v does not wrap datablock.ErrCodec", err)
			}
			return
		}
		n := r.len()
		if n == 0 || len(r.gens) != n || len(r.byID) != n {
			t.Fatalf("run of %d entries has %d times and %d positions", n, len(r.gens), len(r.byID))
		}
		for k := 1; k < n; k++ {
			if r.ids[r.byID[k-1]] > r.ids[r.byID[k]] {
				t.Fatalf("positions by id out of order at %d", k)
			}
		}
		if r.minID != r.ids[r.byID[0]] || r.maxGen != slices.Max(r.gens) {
			t.Fatalf("run ranges disagree with its entries")
		}
		entries := make([]entry, n)
		for i := range entries {
			entries[i] = r.entry(i)
		}
		back, err := decodeRun(1, encodeRun(r.typ, entries))
		if err != nil {
			t.Fatalf("a decoded run does not decode again once encoded: %v", err)
		}
		for i := range entries {
			if back.entry(i) != entries[i] && !(r.typ == TypeFloat && math.IsNaN(entries[i].f)) {
				t.Fatalf("entry %d: %#v came back as %#v", i, entries[i], back.entry(i))
			}
		}
	})
}

// FuzzRunRoundTrip checks that sorted entries come back from encodeRun
// and decodeRun as they went in.
func FuzzRunRoundTrip(f *testing.F) {
	f.Add(uint8(1), []byte("abc"), int64(5), 2.5, int64(10), int64(1), 3)
	f.Add(uint8(2), []byte{}, int64(math.MinInt64), math.Inf(1), int64(math.MaxInt64), int64(math.MinInt64), 1)
	f.Fuzz(func(t *testing.T, kind uint8, seed []byte, n int64, fl float64, gen, id int64, count int) {
		typ := TraitType(kind%4) + TypeString
		if count < 1 || count > 200 || math.IsNaN(fl) {
			return
		}
		entries := make([]entry, count)
		for i := range entries {
			k := int64(i)
			entries[i] = entry{s: string(seed) + string(rune('a'+i%26)), n: n ^ k*7919, f: fl + float64(i%5), gen: gen + k*k, id: id - k*3}
		}
		slices.SortFunc(entries, compareEntries(typ))
		r, err := decodeRun(9, encodeRun(typ, entries))
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range entries {
			got := r.entry(i)
			switch typ {
			case TypeString:
				want.n, want.f = 0, 0
			case TypeFloat:
				want.s, want.n = "", 0
			default:
				want.s, want.f = "", 0
			}
			if got != want {
				t.Fatalf("entry %d: got %#v, want %#v", i, got, want)
			}
		}
	})
}
