package events

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/strata-dataspace/strata/datablock"
)

// compressMin is the encoded size from which a value is compressed: below
// it a zstd frame costs more time than it saves bytes.
const compressMin = 512

// One zstd encoder per process (EncodeAll is safe for concurrent use).
// Events are small and many: it runs at zstd's default level, not the
// products' SpeedBetterCompression. Values are read back with
// datablock.Decompress, like any product value.
var (
	zOnce sync.Once
	zEnc  *zstd.Encoder
	zErr  error
)

func zstdEncoder() (*zstd.Encoder, error) {
	zOnce.Do(func() {
		zEnc, zErr = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	})
	return zEnc, zErr
}

// storedTrait is a trait inside a value stored as JSON (the first
// layout, still read).
type storedTrait struct {
	N string   `json:"n"`
	T uint8    `json:"t"`
	S *string  `json:"s,omitempty"`
	I *int64   `json:"i,omitempty"`
	F *float64 `json:"f,omitempty"`
}

type storedValue struct {
	Traits []storedTrait    `json:"traits"`
	Raw    *json.RawMessage `json:"raw,omitempty"`
}

// encodedValue is an event value ready to store with its codec ids.
type encodedValue struct {
	encoding    datablock.Encoding
	compression datablock.Compression
	data        []byte
	rawSize     int
}

// binaryVersion starts every value in the binary layout.
const binaryVersion = 1

// encodeEvent encodes the traits and raw payload of e and compresses them
// with zstd from compressMin bytes. The layout is binary (encoding id
// datablock.EncodingBytes): a version byte, the trait count, per trait its
// name, type and value (strings length-prefixed, integers and datetimes as
// varints, floats as 8 bytes), then the raw JSON payload to the end. It
// decodes several times faster than JSON, which is what queries pay for.
// Values stored as JSON (encoding id datablock.EncodingJSON) stay readable.
func encodeEvent(e *Event) (*encodedValue, error) {
	size := 2 + len(e.Raw)
	for _, t := range e.Traits {
		size += len(t.Name) + 12
		if v, ok := t.Value.(string); ok {
			size += len(v)
		}
	}
	b := make([]byte, 0, size)
	b = append(b, binaryVersion)
	b = binary.AppendUvarint(b, uint64(len(e.Traits)))
	for _, t := range e.Traits {
		b = binary.AppendUvarint(b, uint64(len(t.Name)))
		b = append(b, t.Name...)
		b = append(b, byte(t.Type))
		switch v := t.Value.(type) {
		case string:
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case int64:
			b = binary.AppendVarint(b, v)
		case float64:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		case time.Time:
			b = binary.AppendVarint(b, v.UnixMicro())
		default:
			return nil, fmt.Errorf("%w: encode event %q: trait %q holds %T", datablock.ErrCodec, e.MessageID, t.Name, t.Value)
		}
	}
	b = append(b, e.Raw...)
	out := &encodedValue{encoding: datablock.EncodingBytes, compression: datablock.CompressionNone, data: b, rawSize: len(b)}
	if len(b) < compressMin {
		return out, nil
	}
	enc, err := zstdEncoder()
	if err != nil {
		return nil, fmt.Errorf("%w: zstd: %v", datablock.ErrCodec, err)
	}
	out.compression = datablock.CompressionZstd
	out.data = enc.EncodeAll(b, make([]byte, 0, len(b)/2+32))
	return out, nil
}

// decodeEvent fills e's traits and raw payload from a stored value.
func decodeEvent(e *Event, encoding, compression uint8, data []byte, rawSize int64) error {
	data, err := datablock.Decompress(data, datablock.Compression(compression), rawSize)
	if err != nil {
		return fmt.Errorf("event %q: %w", e.MessageID, err)
	}
	switch datablock.Encoding(encoding) {
	case datablock.EncodingBytes:
		return decodeBinary(e, data)
	case datablock.EncodingJSON:
		return decodeJSON(e, data)
	}
	return fmt.Errorf("%w: event %q: unknown encoding %d", datablock.ErrCodec, e.MessageID, encoding)
}

// decodeBinary reads the binary layout of encodeEvent.
func decodeBinary(e *Event, b []byte) error {
	bad := func(what string) error {
		return fmt.Errorf("%w: event %q: stored value is damaged: %s", datablock.ErrCodec, e.MessageID, what)
	}
	if len(b) == 0 || b[0] != binaryVersion {
		return bad("unknown layout version")
	}
	b = b[1:]
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	count, ok := uvarint()
	if !ok || count > uint64(len(b)) {
		return bad("trait count")
	}
	e.Traits = make([]Trait, count)
	for i := range e.Traits {
		n, ok := uvarint()
		if !ok || n > uint64(len(b)) || int(n)+1 > len(b) {
			return bad("trait name")
		}
		t := Trait{Name: intern(b[:n]), Type: TraitType(b[n])}
		b = b[n+1:]
		switch t.Type {
		case TypeString:
			n, ok := uvarint()
			if !ok || n > uint64(len(b)) {
				return bad("string value")
			}
			t.Value = string(b[:n])
			b = b[n:]
		case TypeInteger, TypeDatetime:
			v, n := binary.Varint(b)
			if n <= 0 {
				return bad("integer value")
			}
			b = b[n:]
			if t.Type == TypeDatetime {
				t.Value = time.UnixMicro(v).UTC()
			} else {
				t.Value = v
			}
		case TypeFloat:
			if len(b) < 8 {
				return bad("float value")
			}
			t.Value = math.Float64frombits(binary.LittleEndian.Uint64(b))
			b = b[8:]
		default:
			return bad("trait type")
		}
		e.Traits[i] = t
	}
	if len(b) > 0 {
		e.Raw = json.RawMessage(b)
	}
	return nil
}

// interned holds the trait names, event types and sources that decoded
// events carry: a store sees a few dozen of each, and without it every
// event read from the database allocated each of them again (10 of the 21
// allocations of a bench event). Strings up to internMax bytes are kept,
// up to internedMax of them; others are allocated as before.
var interned = struct {
	sync.RWMutex
	m map[string]string
}{m: map[string]string{}}

const (
	internMax   = 64
	internedMax = 4096
)

// intern returns b as a string, interned when it is short.
func intern(b []byte) string {
	if len(b) > internMax {
		return string(b)
	}
	interned.RLock()
	s, ok := interned.m[string(b)]
	interned.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	interned.Lock()
	if len(interned.m) < internedMax {
		interned.m[s] = s
	}
	interned.Unlock()
	return s
}

// decodeJSON reads values stored as JSON. A trait whose type is unknown
// or whose value is not of its type is damage, as in the binary layout:
// readers rely on a trait holding what its type says.
func decodeJSON(e *Event, data []byte) error {
	var sv storedValue
	if err := json.Unmarshal(data, &sv); err != nil {
		return fmt.Errorf("%w: decode event %q: %v", datablock.ErrCodec, e.MessageID, err)
	}
	e.Traits = make([]Trait, len(sv.Traits))
	for i, st := range sv.Traits {
		t := Trait{Name: st.N, Type: TraitType(st.T)}
		switch {
		case t.Type == TypeString && st.S != nil:
			t.Value = *st.S
		case t.Type == TypeFloat && st.F != nil:
			t.Value = *st.F
		case t.Type == TypeDatetime && st.I != nil:
			t.Value = time.UnixMicro(*st.I).UTC()
		case t.Type == TypeInteger && st.I != nil:
			t.Value = *st.I
		default:
			return fmt.Errorf("%w: event %q: stored value is damaged: trait %q of type %d has no value of that type", datablock.ErrCodec, e.MessageID, st.N, st.T)
		}
		e.Traits[i] = t
	}
	if sv.Raw != nil {
		e.Raw = *sv.Raw
	}
	return nil
}
