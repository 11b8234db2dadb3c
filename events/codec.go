package events

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/strata-dataspace/strata/datablock"
)

// compressMin is the encoded size from which a value is compressed: below
// it a zstd frame costs more time than it saves bytes.
const compressMin = 256

// One zstd encoder and decoder per process (EncodeAll and DecodeAll are
// safe for concurrent use). Events are small and many: the encoder runs at
// zstd's default level, not the products' SpeedBetterCompression.
var (
	zOnce sync.Once
	zEnc  *zstd.Encoder
	zDec  *zstd.Decoder
	zErr  error
)

func zstdCodec() (*zstd.Encoder, *zstd.Decoder, error) {
	zOnce.Do(func() {
		zEnc, zErr = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if zErr != nil {
			return
		}
		zDec, zErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
	})
	return zEnc, zDec, zErr
}

// storedTrait is a trait inside a stored value: typed fields decode
// faster than interface values.
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

// encodeEvent encodes the traits and raw payload of e as JSON and
// compresses them with zstd from compressMin bytes.
func encodeEvent(e *Event) (*encodedValue, error) {
	sv := storedValue{Traits: make([]storedTrait, len(e.Traits))}
	for i, t := range e.Traits {
		st := storedTrait{N: t.Name, T: uint8(t.Type)}
		switch v := t.Value.(type) {
		case string:
			st.S = &v
		case int64:
			st.I = &v
		case float64:
			st.F = &v
		case time.Time:
			us := v.UnixMicro()
			st.I = &us
		}
		sv.Traits[i] = st
	}
	if len(e.Raw) > 0 {
		sv.Raw = &e.Raw
	}
	raw, err := json.Marshal(sv)
	if err != nil {
		return nil, fmt.Errorf("%w: encode event %q: %v", datablock.ErrCodec, e.MessageID, err)
	}
	out := &encodedValue{encoding: datablock.EncodingJSON, compression: datablock.CompressionNone, data: raw, rawSize: len(raw)}
	if len(raw) < compressMin {
		return out, nil
	}
	enc, _, err := zstdCodec()
	if err != nil {
		return nil, fmt.Errorf("%w: zstd: %v", datablock.ErrCodec, err)
	}
	out.compression = datablock.CompressionZstd
	out.data = enc.EncodeAll(raw, make([]byte, 0, len(raw)/2+32))
	return out, nil
}

// decodeEvent fills e's traits and raw payload from a stored value.
func decodeEvent(e *Event, encoding, compression uint8, data []byte, rawSize int64) error {
	if datablock.Encoding(encoding) != datablock.EncodingJSON {
		return fmt.Errorf("%w: event %q: unknown encoding %d", datablock.ErrCodec, e.MessageID, encoding)
	}
	switch datablock.Compression(compression) {
	case datablock.CompressionNone:
	case datablock.CompressionZstd:
		_, dec, err := zstdCodec()
		if err != nil {
			return fmt.Errorf("%w: zstd: %v", datablock.ErrCodec, err)
		}
		out, err := dec.DecodeAll(data, make([]byte, 0, rawSize))
		if err != nil {
			return fmt.Errorf("%w: event %q: zstd: %v", datablock.ErrCodec, e.MessageID, err)
		}
		data = out
	default:
		return fmt.Errorf("%w: event %q: unknown compression %d", datablock.ErrCodec, e.MessageID, compression)
	}
	var sv storedValue
	if err := json.Unmarshal(data, &sv); err != nil {
		return fmt.Errorf("%w: decode event %q: %v", datablock.ErrCodec, e.MessageID, err)
	}
	e.Traits = make([]Trait, len(sv.Traits))
	for i, st := range sv.Traits {
		t := Trait{Name: st.N, Type: TraitType(st.T)}
		switch {
		case st.S != nil:
			t.Value = *st.S
		case st.F != nil:
			t.Value = *st.F
		case st.I != nil && t.Type == TypeDatetime:
			t.Value = time.UnixMicro(*st.I).UTC()
		case st.I != nil:
			t.Value = *st.I
		}
		e.Traits[i] = t
	}
	if sv.Raw != nil {
		e.Raw = *sv.Raw
	}
	return nil
}
