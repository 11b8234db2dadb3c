package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Kronos-style streams. A stream is an event type of the store's
// namespace whose events are free-form JSON objects: "@time" is the
// event's time (Kronos time, 100 ns units since the Unix epoch, or an ISO
// 8601 string; absent means now) and "@id" its id (absent means a new
// UUIDv7). The object is kept as the event's raw payload, and its
// top-level strings and numbers are indexed as traits, so stream events
// answer the same filters as any event.

// Kronos time fields.
const (
	FieldTime = "@time"
	FieldID   = "@id"
)

// KronosTime converts a time to Kronos time: 100 ns units since the epoch.
func KronosTime(t time.Time) int64 { return t.UnixNano() / 100 }

// FromKronosTime converts Kronos time to a UTC time (microseconds). k must
// lie in [KronosMin, KronosMax].
func FromKronosTime(k int64) time.Time { return time.Unix(0, k*100).UTC().Truncate(time.Microsecond) }

// KronosMin and KronosMax bound the Kronos times a time converts to and
// from: 100 ns units of nanoseconds that fit an int64, the years 1677 to
// 2262 (KronosMin is the earliest such whole microsecond, as times are
// kept to the microsecond).
const (
	KronosMin = math.MinInt64 / 1000 * 10
	KronosMax = math.MaxInt64 / 100
)

// The times of KronosMin and KronosMax.
var (
	kronosFirst = FromKronosTime(KronosMin)
	kronosLast  = FromKronosTime(KronosMax)
)

// ParseKronos converts Kronos time k to a UTC time, as FromKronosTime, or
// fails with ErrInvalid when k lies outside [KronosMin, KronosMax], where
// the conversion would wrap around to another year.
func ParseKronos(k int64) (time.Time, error) {
	if k < KronosMin || k > KronosMax {
		return time.Time{}, errKronosRange(k)
	}
	return FromKronosTime(k), nil
}

// errKronosRange says which Kronos times there are; v is the one given.
func errKronosRange(v any) error {
	return fmt.Errorf("%w: Kronos time %v is out of range: it lies between %d and %d (the years 1677 to 2262)",
		ErrInvalid, v, int64(KronosMin), int64(KronosMax))
}

// streamEvent turns one stream object into an event of the stream.
func (s *Store) streamEvent(stream string, obj json.RawMessage, now time.Time) (*Event, error) {
	d := json.NewDecoder(bytes.NewReader(obj))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("%w: stream %q: event is not a JSON object", ErrInvalid, stream)
	}
	e := &Event{EventType: stream, Generated: now}
	switch t := m[FieldTime].(type) {
	case nil:
	case json.Number:
		k, err := t.Int64()
		if err != nil {
			f, ferr := t.Float64()
			if ferr != nil {
				return nil, fmt.Errorf("%w: stream %q: %s %s is not Kronos time", ErrInvalid, stream, FieldTime, t)
			}
			if !(f >= KronosMin && f <= KronosMax) { // nor may it convert to int64
				return nil, fmt.Errorf("stream %q: %s: %w", stream, FieldTime, errKronosRange(t))
			}
			k = int64(math.Round(f))
		}
		if e.Generated, err = ParseKronos(k); err != nil {
			return nil, fmt.Errorf("stream %q: %s: %w", stream, FieldTime, err)
		}
	case string:
		tt, err := ParseTime(t)
		if err != nil {
			return nil, fmt.Errorf("stream %q: %s: %w", stream, FieldTime, err)
		}
		// Its @time is written back as Kronos time.
		if tt.Before(kronosFirst) || tt.After(kronosLast) {
			return nil, fmt.Errorf("stream %q: %s: %w", stream, FieldTime, errKronosRange(t))
		}
		e.Generated = tt
	default:
		return nil, fmt.Errorf("%w: stream %q: %s must be Kronos time or an ISO 8601 string", ErrInvalid, stream, FieldTime)
	}
	switch id := m[FieldID].(type) {
	case nil:
		nid, err := NewID(e.Generated)
		if err != nil {
			return nil, err
		}
		e.MessageID = nid
	case string:
		e.MessageID = id
	default:
		return nil, fmt.Errorf("%w: stream %q: %s must be a string", ErrInvalid, stream, FieldID)
	}
	m[FieldTime] = KronosTime(e.Generated)
	m[FieldID] = e.MessageID
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == FieldTime || k == FieldID {
			continue
		}
		switch v := m[k].(type) {
		case string:
			e.Traits = append(e.Traits, Trait{Name: k, Type: TypeString, Value: v})
		case json.Number:
			if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
				e.Traits = append(e.Traits, Trait{Name: k, Type: TypeInteger, Value: n})
			} else if f, err := v.Float64(); err == nil && !math.IsInf(f, 0) {
				e.Traits = append(e.Traits, Trait{Name: k, Type: TypeFloat, Value: f})
			}
		}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: stream %q: %v", ErrInvalid, stream, err)
	}
	e.Raw = raw
	return e, nil
}

// PutStream records events into a stream, like Record: each object that is not
// valid is rejected and each duplicate @id reported, per event.
func (s *Store) PutStream(ctx context.Context, stream string, objs []json.RawMessage) (*RecordResult, error) {
	res, err := s.PutStreams(ctx, map[string][]json.RawMessage{stream: objs})
	if err != nil {
		return nil, err
	}
	return res[stream], nil
}

// PutStreams records events into several streams in one Record, so in one
// transaction: every stream's valid events are stored, or (on an error)
// none. It reports per stream, as PutStream does.
func (s *Store) PutStreams(ctx context.Context, streams map[string][]json.RawMessage) (map[string]*RecordResult, error) {
	names := slices.Sorted(maps.Keys(streams))
	if len(names) > 0 && names[0] == "" {
		return nil, fmt.Errorf("%w: put: no stream name", ErrInvalid)
	}
	now := s.now()
	var evs []*Event
	bad := map[int]error{}
	for _, name := range names {
		for _, o := range streams[name] {
			e, err := s.streamEvent(name, o, now)
			if err != nil {
				bad[len(evs)] = err
				// A placeholder the validation rejects, so indexes stay aligned.
				e = &Event{}
			}
			evs = append(evs, e)
		}
	}
	all, err := s.Record(ctx, evs)
	if err != nil {
		return nil, err
	}
	for i, err := range bad {
		all.Outcomes[i].Err = err
	}
	out := make(map[string]*RecordResult, len(names))
	at := 0
	for _, name := range names {
		n := len(streams[name])
		res := &RecordResult{Outcomes: all.Outcomes[at : at+n : at+n]}
		for i := range res.Outcomes {
			res.Outcomes[i].Index = i
		}
		res.count()
		out[name] = res
		at += n
	}
	return out, nil
}

// StreamQuery selects a time range of a stream.
type StreamQuery struct {
	// Stream is the stream's name.
	Stream string
	// Start (included) and End (excluded) bound the events' times; zero
	// means no bound.
	Start, End time.Time
	// Desc returns the newest events first.
	Desc bool
	// Limit caps the events returned; zero means all of them.
	Limit int
}

// GetStream returns the events of a stream in [Start, End), oldest first
// unless Desc, as the JSON objects that were put (with @time and @id).
func (s *Store) GetStream(ctx context.Context, q *StreamQuery) ([]json.RawMessage, error) {
	if q.Stream == "" {
		return nil, fmt.Errorf("%w: get: no stream name", ErrInvalid)
	}
	if q.Limit < 0 {
		return nil, fmt.Errorf("%w: stream %q: limit %d: want zero (all) or a positive number", ErrInvalid, q.Stream, q.Limit)
	}
	out := []json.RawMessage{}
	page := Query{
		Filter: Filter{Start: q.Start, End: q.End, EventType: q.Stream},
		Sort:   []SortKey{{Field: FieldGenerated, Desc: q.Desc}, {Field: FieldMessageID, Desc: q.Desc}},
	}
	for {
		page.Limit = s.maxLimit
		if q.Limit > 0 {
			page.Limit = min(page.Limit, q.Limit-len(out))
		}
		evs, err := s.Query(ctx, &page)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			raw := e.Raw
			if len(raw) == 0 {
				raw = json.RawMessage(`{}`)
			}
			out = append(out, raw)
		}
		if len(evs) < page.Limit || (q.Limit > 0 && len(out) >= q.Limit) {
			return out, nil
		}
		page.Marker = evs[len(evs)-1].MessageID
	}
}

// Streams lists the namespace's streams (its event types), sorted.
func (s *Store) Streams(ctx context.Context) ([]string, error) { return s.EventTypes(ctx) }

// DeleteStream removes the events of a stream in [start, end) and returns
// how many went.
func (s *Store) DeleteStream(ctx context.Context, stream string, start, end time.Time) (int64, error) {
	if stream == "" {
		return 0, fmt.Errorf("%w: delete: no stream name", ErrInvalid)
	}
	return s.Delete(ctx, &Filter{EventType: stream, Start: start, End: end})
}

// InferSchema returns a JSON Schema (draft 4) that every event of the
// stream satisfies: the union of the types seen per field, with the fields
// present in every event required. An empty stream is ErrNotFound.
func (s *Store) InferSchema(ctx context.Context, stream string) (map[string]any, error) {
	objs, err := s.GetStream(ctx, &StreamQuery{Stream: stream})
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("infer schema of stream %q in namespace %q: no events: %w", stream, s.ns, ErrNotFound)
	}
	var root schemaNode
	for _, o := range objs {
		d := json.NewDecoder(bytes.NewReader(o))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("infer schema of stream %q: %w", stream, err)
		}
		root.add(v)
	}
	out := root.schema()
	out["$schema"] = "http://json-schema.org/draft-04/schema#"
	return out, nil
}
