package events_test

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/events"
)

// FuzzParseValue checks that a trait value either parses to the Go type of
// its trait type or gives an ErrInvalid error; that the parsed value
// formats (Trait.String, as Panko writes it) to text that parses back to
// the same value; and that a trait survives its JSON form.
func FuzzParseValue(f *testing.F) {
	for _, c := range []struct {
		t events.TraitType
		s string
	}{
		{events.TypeString, "compute.instance.create.end"},
		{events.TypeString, ""},
		{events.TypeString, " spaced "},
		{events.TypeString, "\xff"},
		{events.TypeInteger, "42"},
		{events.TypeInteger, " -7 "},
		{events.TypeInteger, "+0"},
		{events.TypeInteger, "9223372036854775807"},
		{events.TypeInteger, "-9223372036854775808"},
		{events.TypeInteger, "9223372036854775808"},
		{events.TypeInteger, "1e3"},
		{events.TypeInteger, "0x10"},
		{events.TypeInteger, "1_000"},
		{events.TypeFloat, "1.5"},
		{events.TypeFloat, "-0"},
		{events.TypeFloat, "1e308"},
		{events.TypeFloat, "1e309"},
		{events.TypeFloat, "NaN"},
		{events.TypeFloat, "-Inf"},
		{events.TypeFloat, "0x1p-1074"},
		{events.TypeFloat, "4.9e-324"},
		{events.TypeDatetime, "2026-01-02T15:04:05.123456789Z"},
		{events.TypeDatetime, "2026-01-02T15:04:05"},
		{events.TypeDatetime, "2026-01-02 15:04:05.5+02:00"},
		{events.TypeDatetime, "2026-01-02"},
		{events.TypeDatetime, "0000-01-01T00:00:00+01:00"},
		{events.TypeDatetime, "9999-12-31T23:00:00-02:00"},
		{events.TypeDatetime, "yesterday"},
		{0, "x"},
		{5, "x"},
		{255, "x"},
	} {
		f.Add(uint8(c.t), c.s)
	}
	f.Fuzz(func(t *testing.T, typ uint8, s string) {
		tt := events.TraitType(typ)
		v, err := events.ParseValue(tt, s)
		if err != nil {
			require.Nil(t, v)
			require.ErrorIs(t, err, events.ErrInvalid)
			return
		}
		trait := events.Trait{Name: "n", Type: tt, Value: v}
		text := trait.String()
		switch tt {
		case events.TypeString:
			require.Equal(t, s, v)
		case events.TypeInteger:
			n, ok := v.(int64)
			require.True(t, ok, "integer %q parsed as %T", s, v)
			require.Equal(t, strconv.FormatInt(n, 10), text)
			back, err := events.ParseValue(tt, text)
			require.NoError(t, err)
			require.Equal(t, n, back)
		case events.TypeFloat:
			x, ok := v.(float64)
			require.True(t, ok, "float %q parsed as %T", s, v)
			require.False(t, math.IsNaN(x) || math.IsInf(x, 0), "float %q is not finite", s)
			back, err := events.ParseValue(tt, text)
			require.NoError(t, err, "float %q formats as %q", s, text)
			require.Equal(t, math.Float64bits(x), math.Float64bits(back.(float64)), "float %q formats as %q", s, text)
		case events.TypeDatetime:
			tm, ok := v.(time.Time)
			require.True(t, ok, "datetime %q parsed as %T", s, v)
			same, err := events.ParseTime(s)
			require.NoError(t, err, "ParseValue accepts datetime %q, ParseTime does not", s)
			require.Equal(t, same, tm, "ParseValue and ParseTime disagree on %q", s)
			back, err := events.ParseValue(tt, text)
			require.NoError(t, err, "datetime %q formats as %q", s, text)
			require.True(t, tm.Equal(back.(time.Time)), "datetime %q formats as %q, read back as %v", s, text, back)
		default:
			t.Fatalf("ParseValue accepted unknown type %d", typ)
		}

		if !utf8.ValidString(s) {
			return // JSON replaces invalid UTF-8
		}
		b, err := json.Marshal(trait)
		require.NoError(t, err)
		var back events.Trait
		require.NoError(t, json.Unmarshal(b, &back), "trait %s does not read back", b)
		require.Equal(t, trait.Type, back.Type)
		require.Equal(t, text, back.String(), "trait %s reads back as %v", b, back.Value)
	})
}

// FuzzParseTime checks that an accepted time is UTC, whole microseconds,
// and reads back from the form FormatTime writes.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2026-01-02T15:04:05.123456789Z", "2026-01-02T15:04:05.123456", "2026-01-02T15:04:05", " 2026-01-02T15:04:05 ",
		"2026-01-02 15:04:05+02:00", "2026-01-02 15:04:05.999999999", "2026-01-02", "2026-01-02T15:04:05-23:59",
		"0000-01-01T00:00:00Z", "0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999Z", "9999-12-31T23:00:00-02:00",
		"2026-02-30", "2026-01-02T24:00:00", "", "now",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := events.ParseTime(s)
		if err != nil {
			require.ErrorIs(t, err, events.ErrInvalid)
			require.True(t, tm.IsZero())
			return
		}
		require.Equal(t, time.UTC, tm.Location(), "ParseTime(%q) is not UTC", s)
		require.Zero(t, tm.Nanosecond()%1000, "ParseTime(%q) is not whole microseconds", s)
		text := events.FormatTime(tm)
		back, err := events.ParseTime(text)
		require.NoError(t, err, "ParseTime(%q) formats as %q, which does not read back", s, text)
		require.Equal(t, tm, back, "ParseTime(%q) formats as %q", s, text)
		require.Equal(t, text, events.FormatTime(back))
	})
}

// FuzzParseNames checks that ParseOp, ParseSort and ParseTraitType accept
// exactly the names their comments list, and that what they return names
// itself the same way.
func FuzzParseNames(f *testing.F) {
	for _, s := range []string{
		"", "eq", "ne", "lt", "le", "gt", "ge", "EQ", "Ge", " eq", "like", "=",
		"generated", "message_id", "generated:asc", "generated:desc", "message_id:DESC", " generated : desc ",
		"generated:", "generated:sideways", "generated:asc:desc", "Generated", "raw",
		"string", "str", "integer", "int", "float", "double", "datetime", "DateTime", "blob", " int",
	} {
		f.Add(s)
	}
	ops := []events.Op{events.OpEq, events.OpNe, events.OpLt, events.OpLe, events.OpGt, events.OpGe}
	types := map[string]events.TraitType{
		"": events.TypeString, "string": events.TypeString, "str": events.TypeString,
		"integer": events.TypeInteger, "int": events.TypeInteger,
		"float": events.TypeFloat, "double": events.TypeFloat,
		"datetime": events.TypeDatetime,
	}
	f.Fuzz(func(t *testing.T, s string) {
		// ParseOp: eq, ne, lt, le, gt or ge in any case; "" is eq.
		op, err := events.ParseOp(s)
		wantOp := events.OpEq
		if s != "" {
			wantOp = ""
			for _, o := range ops {
				if strings.ToLower(s) == string(o) {
					wantOp = o
				}
			}
		}
		if wantOp == "" {
			require.ErrorIs(t, err, events.ErrInvalid, "ParseOp(%q)", s)
		} else {
			require.NoError(t, err, "ParseOp(%q)", s)
			require.Equal(t, wantOp, op, "ParseOp(%q)", s)
		}

		// ParseSort: generated or message_id, then maybe :asc or :desc
		// (direction in any case), spaces around either ignored.
		k, err := events.ParseSort(s)
		field, dir, _ := strings.Cut(s, ":")
		field, dir = strings.TrimSpace(field), strings.TrimSpace(dir)
		okField := field == string(events.FieldGenerated) || field == string(events.FieldMessageID)
		dir = strings.ToLower(dir)
		okDir := dir == "" || dir == "asc" || dir == "desc"
		if okField && okDir {
			require.NoError(t, err, "ParseSort(%q)", s)
			require.Equal(t, events.SortKey{Field: events.Field(field), Desc: dir == "desc"}, k, "ParseSort(%q)", s)
			canonical := string(k.Field) + ":asc"
			if k.Desc {
				canonical = string(k.Field) + ":desc"
			}
			again, err := events.ParseSort(canonical)
			require.NoError(t, err)
			require.Equal(t, k, again)
		} else {
			require.ErrorIs(t, err, events.ErrInvalid, "ParseSort(%q)", s)
		}

		// ParseTraitType: the names of types (and "" for string), in any
		// case.
		tt, err := events.ParseTraitType(s)
		want, known := types[strings.ToLower(s)]
		if known {
			require.NoError(t, err, "ParseTraitType(%q)", s)
			require.Equal(t, want, tt, "ParseTraitType(%q)", s)
			again, err := events.ParseTraitType(tt.String())
			require.NoError(t, err, "%v does not name itself", tt)
			require.Equal(t, tt, again)
		} else {
			require.ErrorIs(t, err, events.ErrInvalid, "ParseTraitType(%q)", s)
		}
	})
}
