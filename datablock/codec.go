package datablock

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Encoding says how a value was serialised. It is stored with every value.
type Encoding uint8

// Encodings. Zero is never stored.
const (
	// EncodingJSON is encoding/json with sorted map keys.
	EncodingJSON Encoding = 1
	// EncodingBytes is a []byte value stored untouched.
	EncodingBytes Encoding = 2
)

// Compression says how an encoded value was compressed. It is stored with
// every value, so rows written under an older default stay readable.
type Compression uint8

// Compressions.
const (
	CompressionNone Compression = 0
	CompressionZstd Compression = 1
	CompressionZlib Compression = 2
)

// String names the compression as configuration spells it.
func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionZstd:
		return "zstd"
	case CompressionZlib:
		return "zlib"
	}
	return fmt.Sprintf("compression(%d)", uint8(c))
}

// ParseCompression reads "zstd" (also ""), "zlib" or "none".
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "", "zstd":
		return CompressionZstd, nil
	case "zlib":
		return CompressionZlib, nil
	case "none":
		return CompressionNone, nil
	}
	return 0, fmt.Errorf("%w: compression %q: want zstd, zlib or none", ErrCodec, s)
}

// ErrCodec is wrapped by every failure to encode, compress, decompress or
// decode a value.
var ErrCodec = errors.New("datablock: value codec")

// compressMin is the encoded size below which compression is skipped: it
// would not pay for the frame.
const compressMin = 64

// One encoder and one decoder per process: EncodeAll and DecodeAll are safe
// for concurrent use and allocate nothing per call beyond the output.
var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
	zstdErr  error
)

func zstdCodec() (*zstd.Encoder, *zstd.Decoder, error) {
	zstdOnce.Do(func() {
		zstdEnc, zstdErr = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
		if zstdErr != nil {
			return
		}
		zstdDec, zstdErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<32))
	})
	return zstdEnc, zstdDec, zstdErr
}

// parallelMin is the size from which a value is compressed in parallel:
// it is cut into one part per core (at most 4), each compressed by the
// shared encoder as its own zstd frame, and the frames are concatenated,
// which is still one valid zstd stream (DecodeAll reads every frame). A
// 1 MB value then compresses about twice as fast on two cores, a few bytes
// larger.
const parallelMin = 256 << 10

func compressParallel(enc *zstd.Encoder, raw []byte) []byte {
	parts := min(runtime.GOMAXPROCS(0), 4)
	size := (len(raw) + parts - 1) / parts
	frames := make([][]byte, parts)
	var wg sync.WaitGroup
	for i := range parts {
		lo, hi := i*size, min((i+1)*size, len(raw))
		wg.Go(func() { frames[i] = enc.EncodeAll(raw[lo:hi], make([]byte, 0, (hi-lo)/4+64)) })
	}
	wg.Wait()
	return bytes.Join(frames, nil)
}

// encoded is a value ready to store.
type encoded struct {
	encoding    Encoding
	compression Compression
	data        []byte
	rawSize     int
}

// encodeValue serialises v ([]byte untouched, json.RawMessage checked,
// anything else as JSON) and compresses it with c.
func encodeValue(v any, c Compression) (*encoded, error) {
	var (
		raw []byte
		enc = EncodingJSON
	)
	switch x := v.(type) {
	case []byte:
		raw, enc = x, EncodingBytes
	case json.RawMessage:
		if !json.Valid(x) {
			return nil, fmt.Errorf("%w: json.RawMessage value is not valid JSON", ErrCodec)
		}
		raw = x
	default:
		var err error
		if raw, err = marshalJSON(v); err != nil {
			return nil, fmt.Errorf("%w: encode %T as JSON: %v", ErrCodec, v, err)
		}
	}
	out := &encoded{encoding: enc, compression: CompressionNone, data: raw, rawSize: len(raw)}
	if len(raw) < compressMin || c == CompressionNone {
		return out, nil
	}
	data, err := compress(raw, c)
	if err != nil {
		return nil, err
	}
	out.compression, out.data = c, data
	return out, nil
}

// marshalJSON is the one JSON seam: map keys sorted, HTML left unescaped.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func compress(raw []byte, c Compression) ([]byte, error) {
	switch c {
	case CompressionZstd:
		enc, _, err := zstdCodec()
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrCodec, err)
		}
		if len(raw) >= parallelMin && runtime.GOMAXPROCS(0) > 1 {
			return compressParallel(enc, raw), nil
		}
		return enc.EncodeAll(raw, make([]byte, 0, len(raw)/4+64)), nil
	case CompressionZlib:
		var buf bytes.Buffer
		w := zlib.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			return nil, fmt.Errorf("%w: zlib: %v", ErrCodec, err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("%w: zlib: %v", ErrCodec, err)
		}
		return buf.Bytes(), nil
	case CompressionNone:
		return raw, nil
	}
	return nil, fmt.Errorf("%w: unknown compression %d", ErrCodec, c)
}

// Decompress undoes the compression c of a stored value; rawSize, the
// size before compression when known (zero otherwise), sizes the output.
// Errors wrap ErrCodec. Stores that keep values with datablock's codec ids
// beside the product table (package events) read them with it.
func Decompress(data []byte, c Compression, rawSize int64) ([]byte, error) {
	return decompress(data, c, rawSize)
}

// preallocMax caps the room decompress makes up front from a value's
// recorded raw size. The size is read from the database beside the value:
// a damaged one must not demand memory (or, past what an int holds,
// panic) before the value itself has been decoded. Larger values still
// decode, their buffer growing as they do.
const preallocMax = 64 << 20

// decompress undoes compress; rawSize (if known) sizes the output.
func decompress(data []byte, c Compression, rawSize int64) ([]byte, error) {
	rawSize = min(max(rawSize, 0), preallocMax)
	switch c {
	case CompressionNone:
		return data, nil
	case CompressionZstd:
		_, dec, err := zstdCodec()
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrCodec, err)
		}
		out, err := dec.DecodeAll(data, make([]byte, 0, rawSize))
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrCodec, err)
		}
		return out, nil
	case CompressionZlib:
		r, err := zlib.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: zlib: %v", ErrCodec, err)
		}
		defer r.Close()
		buf := bytes.NewBuffer(make([]byte, 0, rawSize))
		if _, err := io.Copy(buf, r); err != nil {
			return nil, fmt.Errorf("%w: zlib: %v", ErrCodec, err)
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("%w: unknown compression %d", ErrCodec, c)
}

// decodeValue decodes raw (already decompressed) bytes of encoding e into
// dst, a non-nil pointer. JSON numbers decoded into interface values keep
// their exact digits (json.Number).
func decodeValue(raw []byte, e Encoding, dst any) error {
	switch e {
	case EncodingBytes:
		switch d := dst.(type) {
		case *[]byte:
			*d = raw
		case *any:
			*d = raw
		default:
			return fmt.Errorf("%w: value is raw bytes: decode it into *[]byte, not %T", ErrCodec, dst)
		}
		return nil
	case EncodingJSON:
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(dst); err != nil {
			return fmt.Errorf("%w: decode JSON into %T: %v", ErrCodec, dst, err)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown encoding %d", ErrCodec, e)
}
