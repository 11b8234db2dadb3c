package datablock

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// FuzzDecompress feeds stored values that may be damaged (any bytes, any
// compression id, any recorded raw size) to decompress: it must return
// the bytes or an error wrapping ErrCodec, never panic, and never trust a
// raw size the data cannot back.
func FuzzDecompress(f *testing.F) {
	for _, c := range []Compression{CompressionNone, CompressionZstd, CompressionZlib} {
		good, err := compress([]byte(`{"i": 1, "name": "product-1"}`), c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(good, uint8(c), int64(29))
		f.Add(good, uint8(c), int64(0))
		f.Add(good, uint8(c), int64(-1))
		// A raw size damaged to one no buffer can hold.
		f.Add(good, uint8(c), int64(math.MaxInt64))
		f.Add(good, uint8(c), int64(1)<<40)
		f.Add(good[:len(good)/2], uint8(c), int64(29))
	}
	f.Add([]byte{}, uint8(3), int64(0))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}, uint8(CompressionZstd), int64(10))
	f.Fuzz(func(t *testing.T, data []byte, c uint8, rawSize int64) {
		out, err := decompress(data, Compression(c), rawSize)
		if err != nil {
			if !errors.Is(err, ErrCodec) {
				t.Fatalf("error %v does not wrap ErrCodec", err)
			}
			return
		}
		if c > uint8(CompressionZlib) {
			t.Fatalf("unknown compression %d decompressed without an error", c)
		}
		if Compression(c) == CompressionNone && !bytes.Equal(out, data) {
			t.Fatalf("uncompressed value changed: %q -> %q", data, out)
		}
	})
}

// FuzzCompressRoundTrip checks that every compression gives back the
// bytes it was given, whatever raw size is recorded beside them.
func FuzzCompressRoundTrip(f *testing.F) {
	f.Add([]byte(""), uint8(0), int64(0))
	f.Add([]byte("x"), uint8(1), int64(1))
	f.Add(bytes.Repeat([]byte("product-"), 500), uint8(1), int64(-5))
	f.Add(bytes.Repeat([]byte{0}, 10000), uint8(2), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, raw []byte, c uint8, rawSize int64) {
		comp := Compression(c % 3)
		enc, err := compress(raw, comp)
		if err != nil {
			t.Fatalf("compress %s: %v", comp, err)
		}
		for _, size := range []int64{int64(len(raw)), 0, rawSize} {
			out, err := decompress(enc, comp, size)
			if err != nil {
				t.Fatalf("decompress %s (raw size %d): %v", comp, size, err)
			}
			if !bytes.Equal(out, raw) {
				t.Fatalf("%s round trip (raw size %d) changed %d bytes into %d", comp, size, len(raw), len(out))
			}
		}
	})
}
