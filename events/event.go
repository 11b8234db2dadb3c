package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource"
)

// Sentinel errors callers branch on (errors.Is).
var (
	// ErrNotFound is wrapped when an event does not exist. It is
	// datasource.ErrNotFound, so either sentinel matches.
	ErrNotFound = datasource.ErrNotFound
	// ErrInvalid is wrapped by every rejected input: a bad event, filter,
	// operator, trait type, value, sort, limit or marker. It is
	// datasource.ErrInvalid.
	ErrInvalid = datasource.ErrInvalid
	// ErrUnknownMarker is wrapped (together with ErrInvalid) when a
	// pagination marker names no event of the namespace.
	ErrUnknownMarker = errors.New("events: unknown marker")
)

// TraitType is the type of a trait's value.
type TraitType uint8

// The trait types. Their numbers are stored in the trait index.
const (
	TypeString   TraitType = 1
	TypeInteger  TraitType = 2
	TypeFloat    TraitType = 3
	TypeDatetime TraitType = 4
)

// String names the type as Panko spells it.
func (t TraitType) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeInteger:
		return "integer"
	case TypeFloat:
		return "float"
	case TypeDatetime:
		return "datetime"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ParseTraitType reads "string" (also "str" and ""), "integer" ("int"),
// "float" ("double") or "datetime", in any case.
func ParseTraitType(s string) (TraitType, error) {
	switch strings.ToLower(s) {
	case "", "string", "str":
		return TypeString, nil
	case "integer", "int":
		return TypeInteger, nil
	case "float", "double":
		return TypeFloat, nil
	case "datetime":
		return TypeDatetime, nil
	}
	return 0, fmt.Errorf("%w: trait type %q: want string, integer, float or datetime", ErrInvalid, s)
}

// MarshalJSON writes the type's name.
func (t TraitType) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// UnmarshalJSON reads a type name.
func (t *TraitType) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: trait type %s is not a string", ErrInvalid, b)
	}
	v, err := ParseTraitType(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Trait is one typed attribute of an event. Value is a string, an int64, a
// float64 or a time.Time (UTC, microseconds), matching Type; a string is
// parsed as Type. Type zero means the type of Value's Go type.
type Trait struct {
	Name  string
	Type  TraitType
	Value any
}

// String formats the value as Panko does: integers and floats in decimal,
// datetimes in ISO 8601 without a zone.
func (t Trait) String() string { return formatValue(t.Value) }

func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		return FormatTime(x)
	}
	return fmt.Sprint(v)
}

// FormatTime writes t in UTC as Python's isoformat does without a zone:
// 2006-01-02T15:04:05 plus .ffffff when there are microseconds.
func FormatTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}

// ParseTime reads an ISO 8601 / RFC 3339 time; one without a zone is UTC.
// The result is UTC, truncated to microseconds, in the years 0000 to 9999
// (which FormatTime can write).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC().Truncate(time.Microsecond)
			if y := t.Year(); y < 0 || y > 9999 {
				return time.Time{}, fmt.Errorf("%w: time %q is in the year %d in UTC: want a year from 0000 to 9999", ErrInvalid, s, y)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: time %q: want ISO 8601 such as 2026-01-02T15:04:05.123456 (UTC unless a zone is given)", ErrInvalid, s)
}

// ParseValue converts s to a value of type t.
func ParseValue(t TraitType, s string) (any, error) {
	switch t {
	case TypeString:
		return s, nil
	case TypeInteger:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %q is not an integer", ErrInvalid, s)
		}
		return n, nil
	case TypeFloat:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: %q is not a finite float", ErrInvalid, s)
		}
		return f, nil
	case TypeDatetime:
		d, err := ParseTime(s)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	return nil, fmt.Errorf("%w: unknown trait type %d", ErrInvalid, t)
}

// normalize checks that the trait's value fits its type and converts
// compatible Go values (int, float32, a numeric string…) to the canonical
// one.
func (t Trait) normalize() (Trait, error) {
	if t.Name == "" {
		return t, fmt.Errorf("%w: trait without a name", ErrInvalid)
	}
	if t.Type == 0 {
		switch t.Value.(type) {
		case string:
			t.Type = TypeString
		case int, int32, int64:
			t.Type = TypeInteger
		case float32, float64:
			t.Type = TypeFloat
		case time.Time:
			t.Type = TypeDatetime
		}
	}
	bad := func() (Trait, error) {
		return t, fmt.Errorf("%w: trait %q: value %v (%T) does not fit type %s", ErrInvalid, t.Name, t.Value, t.Value, t.Type)
	}
	if s, ok := t.Value.(string); ok {
		v, err := ParseValue(t.Type, s)
		if err != nil {
			return t, fmt.Errorf("trait %q: %w", t.Name, err)
		}
		t.Value = v
		return t, nil
	}
	switch t.Type {
	case TypeString:
		return bad()
	case TypeInteger:
		switch x := t.Value.(type) {
		case int64:
		case int:
			t.Value = int64(x)
		case int32:
			t.Value = int64(x)
		case json.Number:
			n, err := x.Int64()
			if err != nil {
				return bad()
			}
			t.Value = n
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return bad()
			}
			t.Value = int64(x)
		default:
			return bad()
		}
	case TypeFloat:
		switch x := t.Value.(type) {
		case float64:
		case float32:
			t.Value = float64(x)
		case int64:
			t.Value = float64(x)
		case int:
			t.Value = float64(x)
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return bad()
			}
			t.Value = f
		default:
			return bad()
		}
		if f := t.Value.(float64); math.IsNaN(f) || math.IsInf(f, 0) {
			return bad()
		}
	case TypeDatetime:
		x, ok := t.Value.(time.Time)
		if !ok {
			return bad()
		}
		t.Value = x.UTC().Truncate(time.Microsecond)
	default:
		return t, fmt.Errorf("%w: trait %q: unknown type %d: want string, integer, float or datetime", ErrInvalid, t.Name, t.Type)
	}
	return t, nil
}

type traitJSON struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// MarshalJSON writes {"name", "type", "value"} with the value as a JSON
// string, as Panko does.
func (t Trait) MarshalJSON() ([]byte, error) {
	v, _ := json.Marshal(formatValue(t.Value))
	return json.Marshal(traitJSON{Name: t.Name, Type: t.Type.String(), Value: v})
}

// UnmarshalJSON reads {"name", "type", "value"}; the value may be a JSON
// string or number. A value that does not fit the type is an error.
func (t *Trait) UnmarshalJSON(b []byte) error {
	var j traitJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("%w: trait: %v", ErrInvalid, err)
	}
	typ, err := ParseTraitType(j.Type)
	if err != nil {
		return fmt.Errorf("trait %q: %w", j.Name, err)
	}
	var s string
	raw := bytes.TrimSpace(j.Value)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return fmt.Errorf("%w: trait %q has no value", ErrInvalid, j.Name)
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("%w: trait %q: %v", ErrInvalid, j.Name, err)
		}
	case raw[0] == '{' || raw[0] == '[':
		return fmt.Errorf("%w: trait %q: value %s is not a scalar", ErrInvalid, j.Name, raw)
	default:
		s = string(raw)
		if typ == TypeString && j.Type == "" {
			// An untyped number stays a number.
			if _, err := strconv.ParseInt(s, 10, 64); err == nil {
				typ = TypeInteger
			} else if _, err := strconv.ParseFloat(s, 64); err == nil {
				typ = TypeFloat
			}
		}
	}
	v, err := ParseValue(typ, s)
	if err != nil {
		return fmt.Errorf("trait %q: %w", j.Name, err)
	}
	*t = Trait{Name: j.Name, Type: typ, Value: v}
	return nil
}

// Event is one recorded event. It is stored as a product: MessageID is its
// key, Generated its header's create_time, Expires its expiration_time and
// Source its creator.
type Event struct {
	// MessageID identifies the event in its namespace. Empty on Record means
	// a new time-sortable id (UUIDv7).
	MessageID string
	// EventType is required, e.g. "compute.instance.create.end".
	EventType string
	// Generated is when the event happened (UTC, microseconds). Zero on
	// Record means now.
	Generated time.Time
	// Traits are the typed attributes the queries filter on.
	Traits []Trait
	// Raw is the original payload (JSON), kept as it came.
	Raw json.RawMessage
	// Source is who sent the event. Empty means the store's namespace.
	Source string
	// Expires is when the event may be dropped. Zero on Record means
	// Generated + the store's TTL.
	Expires time.Time
}

// Header is the event's product header.
func (e *Event) Header() datablock.Header {
	return datablock.Header{CreateTime: e.Generated, ExpirationTime: e.Expires, ScheduledCreateTime: e.Generated, Creator: e.Source}
}

// Trait returns the trait named name, if the event has it.
func (e *Event) Trait(name string) (Trait, bool) {
	for _, t := range e.Traits {
		if t.Name == name {
			return t, true
		}
	}
	return Trait{}, false
}

type eventJSON struct {
	MessageID string          `json:"message_id"`
	EventType string          `json:"event_type"`
	Generated string          `json:"generated"`
	Traits    []Trait         `json:"traits"`
	Raw       json.RawMessage `json:"raw"`
	Source    string          `json:"source,omitempty"`
	Expires   string          `json:"expires,omitempty"`
}

// MarshalJSON writes the Panko event shape: message_id, event_type,
// generated (ISO time without a zone), traits with string values, raw
// (an empty object when absent), plus source and expires when set.
func (e Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{MessageID: e.MessageID, EventType: e.EventType, Traits: e.Traits, Raw: e.Raw, Source: e.Source}
	if j.Traits == nil {
		j.Traits = []Trait{}
	}
	if len(j.Raw) == 0 {
		j.Raw = json.RawMessage(`{}`)
	}
	if !e.Generated.IsZero() {
		j.Generated = FormatTime(e.Generated)
	}
	if !e.Expires.IsZero() {
		j.Expires = FormatTime(e.Expires)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the Panko event shape. generated may carry a zone
// (none means UTC); traits may carry string or number values.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j eventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		if errors.Is(err, ErrInvalid) {
			return err // a trait's own error says what is wrong
		}
		return fmt.Errorf("%w: event: %v", ErrInvalid, err)
	}
	out := Event{MessageID: j.MessageID, EventType: j.EventType, Traits: j.Traits, Source: j.Source}
	if len(j.Raw) > 0 && string(j.Raw) != "null" {
		out.Raw = append(json.RawMessage(nil), j.Raw...)
	}
	if j.Generated != "" {
		t, err := ParseTime(j.Generated)
		if err != nil {
			return fmt.Errorf("event generated: %w", err)
		}
		out.Generated = t
	}
	if j.Expires != "" {
		t, err := ParseTime(j.Expires)
		if err != nil {
			return fmt.Errorf("event expires: %w", err)
		}
		out.Expires = t
	}
	*e = out
	return nil
}
