package events

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
)

func TestCodec(t *testing.T) {
	t.Parallel()
	ev := &Event{MessageID: "m", Traits: []Trait{
		{Name: "s", Type: TypeString, Value: "héllo"},
		{Name: "i", Type: TypeInteger, Value: int64(-42)},
		{Name: "f", Type: TypeFloat, Value: 2.5},
		{Name: "d", Type: TypeDatetime, Value: base.Add(time.Microsecond)},
	}, Raw: json.RawMessage(`{"k":[1,2]}`)}
	for _, tc := range []struct {
		name string
		raw  json.RawMessage
		comp datablock.Compression
	}{
		{"Small", ev.Raw, datablock.CompressionNone},
		{"Large", json.RawMessage(`{"p":"` + strings.Repeat("x", 2000) + `"}`), datablock.CompressionZstd},
		{"NoRaw", nil, datablock.CompressionNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := *ev
			in.Raw = tc.raw
			enc, err := encodeEvent(&in)
			require.NoError(t, err)
			require.Equal(t, datablock.EncodingBytes, enc.encoding)
			require.Equal(t, tc.comp, enc.compression)
			out := &Event{MessageID: "m"}
			require.NoError(t, decodeEvent(out, uint8(enc.encoding), uint8(enc.compression), enc.data, int64(enc.rawSize)))
			require.Equal(t, in.Traits, out.Traits)
			require.Equal(t, tc.raw, out.Raw)
		})
	}
	t.Run("JSONValuesStayReadable", func(t *testing.T) {
		stored := `{"traits": [{"n": "s", "t": 1, "s": "héllo"}, {"n": "i", "t": 2, "i": -42}, {"n": "f", "t": 3, "f": 2.5}, {"n": "d", "t": 4, "i": ` +
			jsonNumber(base.Add(time.Microsecond).UnixMicro()) + `}], "raw": {"k":[1,2]}}`
		out := &Event{MessageID: "m"}
		require.NoError(t, decodeEvent(out, uint8(datablock.EncodingJSON), 0, []byte(stored), int64(len(stored))))
		require.Equal(t, ev.Traits, out.Traits)
		require.JSONEq(t, string(ev.Raw), string(out.Raw))
	})
	t.Run("NamesAreInterned", func(t *testing.T) {
		long := strings.Repeat("n", internMax+1)
		in := &Event{Traits: []Trait{{Name: "interned", Type: TypeInteger, Value: int64(1)}, {Name: long, Type: TypeInteger, Value: int64(2)}}}
		enc, err := encodeEvent(in)
		require.NoError(t, err)
		var got [2]*Event
		for i := range got {
			got[i] = &Event{}
			require.NoError(t, decodeEvent(got[i], uint8(enc.encoding), uint8(enc.compression), enc.data, int64(enc.rawSize)))
			require.Equal(t, in.Traits, got[i].Traits)
		}
		require.Same(t, unsafe.StringData(got[0].Traits[0].Name), unsafe.StringData(got[1].Traits[0].Name),
			"two events share the name's bytes")
		require.NotSame(t, unsafe.StringData(got[0].Traits[1].Name), unsafe.StringData(got[1].Traits[1].Name),
			"a long name is not kept")
	})
	t.Run("DamagedValueIsAnError", func(t *testing.T) {
		for _, b := range [][]byte{{}, {9}, {binaryVersion, 5}, {binaryVersion, 1, 1, 'a', byte(TypeFloat), 1}} {
			err := decodeEvent(&Event{MessageID: "m"}, uint8(datablock.EncodingBytes), 0, b, int64(len(b)))
			require.ErrorIs(t, err, datablock.ErrCodec)
		}
		err := decodeEvent(&Event{MessageID: "m"}, 9, 0, nil, 0)
		require.ErrorContains(t, err, "unknown encoding 9")
	})
}

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }
