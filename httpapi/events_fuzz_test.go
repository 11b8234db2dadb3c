package httpapi

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/events"
)

// The fuzz targets of the event API drive the real handlers over a real
// SQLite file. Each opens its store once, records a few events up front,
// and checks every answer against what a client relies on: the status,
// Panko's error body, and for the read endpoints the exact events a model
// of the recorded data says the answer holds.
//
//	go test ./httpapi/ -run '^$' -fuzz '^FuzzPankoList$' -fuzztime 3m -parallel 1

// fuzzNow is the server's clock: stream objects without @time get it.
var fuzzNow = t0.Add(time.Hour)

// fuzzServer opens a SQLite dataspace in a temporary directory of f,
// records evs in the default namespace and the stream objects of streams,
// and returns the server over it.
func fuzzServer(f *testing.F, evs []*events.Event, streams map[string][]json.RawMessage) *Server {
	f.Helper()
	ctx := context.Background()
	space, err := dataspace.Open(ctx, "sqlite://"+filepath.Join(f.TempDir(), "strata.db"), nil)
	require.NoError(f, err)
	f.Cleanup(func() { space.Close() })
	st, err := events.Open(ctx, space, &events.Config{Clock: func() time.Time { return fuzzNow }})
	require.NoError(f, err)
	if len(evs) > 0 {
		res, err := st.Record(ctx, evs)
		require.NoError(f, err)
		require.Equal(f, len(evs), res.Stored, "%+v", res.Outcomes)
	}
	for name, objs := range streams {
		res, err := st.PutStream(ctx, name, objs)
		require.NoError(f, err)
		require.Equal(f, len(objs), res.Stored, "%+v", res.Outcomes)
	}
	return New(space, &Config{Clock: func() time.Time { return fuzzNow }})
}

// fuzzRequest builds the request a server reads for method and target
// (the request line's URI), as net/http parses it. ok is false when no
// server would hand such a request to a handler (net/http answers it with
// its own 400).
func fuzzRequest(method, target, contentType string, body []byte) (*http.Request, bool) {
	if strings.ContainsAny(target, "\r\n") || strings.ContainsFunc(contentType, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
		return nil, false
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: strata.test\r\n\r\n")))
	if err != nil {
		return nil, false
	}
	if ct := strings.Trim(contentType, " \t"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	return req, true
}

// fuzzServe serves one request; ok is false when it cannot reach a
// handler (see fuzzRequest).
func fuzzServe(s *Server, method, target, contentType string, body []byte) (*httptest.ResponseRecorder, bool) {
	req, ok := fuzzRequest(method, target, contentType, body)
	if !ok {
		return nil, false
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec, true
}

// requireFault checks that an error answer has Panko's body,
// {"error_message": {"faultstring": "…"}}, and returns the faultstring.
func requireFault(t *testing.T, rec *httptest.ResponseRecorder, what string) string {
	t.Helper()
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), "%s: %s", what, rec.Body)
	var body map[string]map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "%s: not Panko's error body: %s", what, rec.Body)
	require.Len(t, body, 1, "%s: %s", what, rec.Body)
	require.Len(t, body["error_message"], 1, "%s: %s", what, rec.Body)
	fault, ok := body["error_message"]["faultstring"].(string)
	require.True(t, ok && fault != "", "%s: no faultstring: %s", what, rec.Body)
	return fault
}

// requireJSON decodes a successful answer.
func requireJSON(t *testing.T, rec *httptest.ResponseRecorder, what string, dst any) {
	t.Helper()
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), "%s: %s", what, rec.Body)
	d := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	d.UseNumber()
	require.NoError(t, d.Decode(dst), "%s: %s", what, rec.Body)
}

// escapeSegment escapes one path segment as a careful client does: also
// the dot segments, which would otherwise be cleaned away.
func escapeSegment(s string) string {
	if s == "." || s == ".." {
		return strings.Repeat("%2E", len(s))
	}
	return url.PathEscape(s)
}

// muxCleanPath is how http.ServeMux cleans a path before routing: a path
// it changes is answered with a redirect to the clean one.
func muxCleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			np = p
		} else {
			np += "/"
		}
	}
	return np
}

// fuzzPankoEvents are the events of the Panko targets: two events at the
// same time, ids that sort apart from their times, a trait name with
// different types in different events, and ids that need escaping.
func fuzzPankoEvents() []*events.Event {
	s := func(name, v string) events.Trait { return events.Trait{Name: name, Type: events.TypeString, Value: v} }
	i := func(name string, v int64) events.Trait {
		return events.Trait{Name: name, Type: events.TypeInteger, Value: v}
	}
	fl := func(name string, v float64) events.Trait {
		return events.Trait{Name: name, Type: events.TypeFloat, Value: v}
	}
	return []*events.Event{
		{MessageID: "e1", EventType: "compute.instance.create.end", Generated: t0, Raw: json.RawMessage(`{"k": "v"}`),
			Traits: []events.Trait{s("host", "node 1"), i("vcpus", 4), {Name: "launched", Type: events.TypeDatetime, Value: t0.Add(-time.Hour)}}},
		{MessageID: "e2", EventType: "compute.instance.create.end", Generated: t0.Add(time.Minute),
			Traits: []events.Trait{s("host", "node2"), i("vcpus", 16), fl("load", 1.25)}},
		{MessageID: "a3", EventType: "compute.instance.delete.end", Generated: t0.Add(2 * time.Minute),
			Traits: []events.Trait{s("host", "node 1"), fl("load", 0.5), s("vcpus", "many")}},
		{MessageID: "b4", EventType: "compute.instance.delete.end", Generated: t0.Add(2 * time.Minute),
			Traits: []events.Trait{s("host", ""), fl("load", -3)}},
		{MessageID: "id with/slash", EventType: "image.upload", Generated: t0.Add(3*time.Minute + 123456*time.Microsecond),
			Traits: []events.Trait{i("size", -7), s("ünïcode", "wert")}},
		{MessageID: "..", EventType: "image.upload", Generated: t0.Add(-24 * time.Hour)},
	}
}

// pankoModel answers Panko requests from the recorded events alone.
type pankoModel struct{ evs []*events.Event }

// event returns the event with message_id id.
func (m pankoModel) event(id string) *events.Event {
	for _, e := range m.evs {
		if e.MessageID == id {
			return e
		}
	}
	return nil
}

// traitMatches says whether e has trait name with type typ and a value
// that compares to want as op says.
func traitMatches(e *events.Event, name string, typ events.TraitType, op events.Op, want any) bool {
	tr, ok := e.Trait(name)
	if !ok || tr.Type != typ {
		return false
	}
	var c int
	switch v := tr.Value.(type) {
	case string:
		c = strings.Compare(v, want.(string))
	case int64:
		c = cmp.Compare(v, want.(int64))
	case float64:
		c = cmp.Compare(v, want.(float64))
	case time.Time:
		c = v.Compare(want.(time.Time))
	}
	switch op {
	case events.OpEq:
		return c == 0
	case events.OpNe:
		return c != 0
	case events.OpLt:
		return c < 0
	case events.OpLe:
		return c <= 0
	case events.OpGt:
		return c > 0
	}
	return c >= 0
}

// list returns the message_ids of the page a Panko listing with query v
// holds, or ok false when the query is not valid.
func (m pankoModel) list(v url.Values) (ids []string, ok bool) {
	fields, ops, values, types := v["q.field"], v["q.op"], v["q.value"], v["q.type"]
	if len(values) != len(fields) || (len(ops) != 0 && len(ops) != len(fields)) || (len(types) != 0 && len(types) != len(fields)) {
		return nil, false
	}
	var conds []func(e *events.Event) bool
	for i, field := range fields {
		opName, typName := "", ""
		if len(ops) > 0 {
			opName = ops[i]
		}
		if len(types) > 0 {
			typName = types[i]
		}
		op, err := events.ParseOp(opName)
		if err != nil || field == "" {
			return nil, false
		}
		value := values[i]
		switch field {
		case "event_type", "message_id":
			// Empty is refused, and so are two values of one field.
			if op != events.OpEq || value == "" {
				return nil, false
			}
			if j := slices.Index(fields, field); j < i && values[j] != value {
				return nil, false
			}
			conds = append(conds, func(e *events.Event) bool {
				return (field == "event_type" && e.EventType == value) || (field == "message_id" && e.MessageID == value)
			})
		case "start_timestamp", "end_timestamp":
			t, err := events.ParseTime(value)
			// The zero time is refused as a bound: the store takes it for none.
			if err != nil || (t.IsZero() && op != events.OpGt && op != events.OpLe) || (t.Add(time.Microsecond).IsZero() && (op == events.OpGt || op == events.OpLe)) {
				return nil, false
			}
			switch {
			case op == events.OpGe || (op == events.OpEq && field == "start_timestamp"):
				conds = append(conds, func(e *events.Event) bool { return !e.Generated.Before(t) })
			case op == events.OpGt:
				conds = append(conds, func(e *events.Event) bool { return e.Generated.After(t) })
			case op == events.OpLt || (op == events.OpEq && field == "end_timestamp"):
				conds = append(conds, func(e *events.Event) bool { return e.Generated.Before(t) })
			case op == events.OpLe:
				conds = append(conds, func(e *events.Event) bool { return !e.Generated.After(t) })
			default:
				return nil, false
			}
		default:
			typ, err := events.ParseTraitType(typName)
			if err != nil {
				return nil, false
			}
			want, err := events.ParseValue(typ, value)
			if err != nil {
				return nil, false
			}
			conds = append(conds, func(e *events.Event) bool { return traitMatches(e, field, typ, op, want) })
		}
	}
	var keys []events.SortKey
	seen := map[events.Field]bool{}
	for _, raw := range v["sort"] {
		for _, part := range strings.Split(raw, ",") {
			k, err := events.ParseSort(part)
			if err != nil || seen[k.Field] {
				return nil, false
			}
			seen[k.Field] = true
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		keys = []events.SortKey{{Field: events.FieldGenerated}}
	}
	if !seen[events.FieldMessageID] {
		keys = append(keys, events.SortKey{Field: events.FieldMessageID})
	}
	order := func(a, b *events.Event) int {
		for _, k := range keys {
			c := strings.Compare(a.MessageID, b.MessageID)
			if k.Field == events.FieldGenerated {
				c = a.Generated.Compare(b.Generated)
			}
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	}
	limit := events.LimitDefault
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > events.MaxLimitDefault {
			return nil, false
		}
		limit = n
	}
	var marker *events.Event
	if id := v.Get("marker"); id != "" {
		if marker = m.event(id); marker == nil {
			return nil, false
		}
	}
	var page []*events.Event
	for _, e := range m.evs {
		if marker != nil && order(e, marker) <= 0 {
			continue
		}
		if !slices.ContainsFunc(conds, func(c func(*events.Event) bool) bool { return !c(e) }) {
			page = append(page, e)
		}
	}
	slices.SortFunc(page, order)
	ids = []string{}
	for _, e := range page[:min(len(page), limit)] {
		ids = append(ids, e.MessageID)
	}
	return ids, true
}

// FuzzPankoList lists events with fuzzed query strings: one filter of
// q.field/q.op/q.value/q.type, limit, sort and marker, plus a raw query
// string appended as it is. The answer is 200 or 400, never anything
// else; a 400 has Panko's error body; a 200 is a JSON list of events in
// Panko's shape, and exactly the page the recorded events give: every
// event passes every filter (an eq on event_type above all), none that
// passes is missing, in the sort order, after the marker, within the
// limit. The query is valid (200) exactly when the model finds it so.
func FuzzPankoList(f *testing.F) {
	srv := fuzzServer(f, fuzzPankoEvents(), nil)
	model := pankoModel{evs: fuzzPankoEvents()}

	// raw, field, op, value, type, limit, sort, marker
	f.Add("", "", "", "", "", "", "", "")
	f.Add("", "event_type", "eq", "compute.instance.create.end", "", "", "", "")
	f.Add("", "event_type", "", "image.upload", "string", "1", "generated:desc", "")
	f.Add("", "event_type", "ne", "image.upload", "", "", "", "")
	f.Add("q.field=event_type&q.op=eq&q.value=compute.instance.delete.end", "event_type", "eq", "compute.instance.create.end", "", "", "", "")
	f.Add("q.field=event_type&q.op=eq&q.value=image.upload", "event_type", "eq", "image.upload", "", "", "", "")
	f.Add("q.field=message_id&q.op=eq&q.value=e1&q.field=host&q.op=eq&q.value=node+1", "message_id", "eq", "e1", "", "", "", "")
	f.Add("q.field=event_type&q.op=eq&q.value=", "", "", "", "", "", "", "")
	f.Add("", "message_id", "eq", "id with/slash", "", "", "", "")
	f.Add("", "host", "eq", "node 1", "", "", "message_id:desc", "")
	f.Add("", "host", "ne", "", "string", "2", "", "a3")
	f.Add("", "vcpus", "gt", "4", "integer", "", "", "")
	f.Add("", "vcpus", "le", "many", "", "", "", "")
	f.Add("", "load", "lt", "1e0", "float", "", "generated:asc,message_id:desc", "")
	f.Add("", "load", "ge", "NaN", "float", "", "", "")
	f.Add("", "launched", "lt", "2026-03-01T12:00:00+01:00", "datetime", "", "", "")
	f.Add("", "size", "eq", " -7 ", "int", "", "", "")
	f.Add("", "ünïcode", "", "wert", "", "", "", "")
	f.Add("", "start_timestamp", "gt", "2026-03-01T12:01:00", "", "", "", "")
	f.Add("", "start_timestamp", "ne", "2026-03-01T12:01:00", "", "", "", "")
	f.Add("", "end_timestamp", "le", "2026-03-01 12:02:00Z", "", "", "", "")
	f.Add("q.field=start_timestamp&q.op=ge&q.value=2026-03-01T12:01:00", "start_timestamp", "ge", "2026-03-01T12:02:00", "", "", "", "")
	f.Add("q.field=end_timestamp&q.op=le&q.value=2026-03-01T12:03:00", "end_timestamp", "lt", "2026-03-01T12:01:00", "", "", "", "")
	f.Add("", "end_timestamp", "lt", "0001-01-01T00:00:00", "", "", "", "")
	f.Add("", "start_timestamp", "gt", "0000-12-31T23:59:59.999999", "", "", "", "")
	f.Add("", "end_timestamp", "le", "9999-12-31T23:59:59.999999", "", "", "", "")
	f.Add("", "", "", "", "", "0", "", "")
	f.Add("", "", "", "", "", "10001", "", "")
	f.Add("", "", "", "", "", "-1", "size", "")
	f.Add("", "", "", "", "", "", "generated,generated", "")
	f.Add("", "", "", "", "", "", "message_id,generated:desc", "..")
	f.Add("", "", "", "", "", "3", "generated:desc", "b4")
	f.Add("", "", "", "", "", "", "", "nope")
	f.Add("q.field=host&q.field=load&q.value=x", "", "", "", "", "", "", "")
	f.Add("q.field=host&q.value=node2&q.op=eq&q.op=gt", "", "", "", "", "", "", "")
	f.Add("%zz&;&&=&q.field&limit=%31", "", "", "", "", "", "", "")
	f.Add("sort=&marker=&limit=", "", "", "", "", "", "", "")
	f.Add("q.field=vcpus&q.value=4&q.type=", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, raw, field, op, value, typ, limit, sort, marker string) {
		v := url.Values{}
		if field != "" || op != "" || value != "" || typ != "" {
			v.Set("q.field", field)
			v.Set("q.value", value)
			if op != "" {
				v.Set("q.op", op)
			}
			if typ != "" {
				v.Set("q.type", typ)
			}
		}
		for k, s := range map[string]string{"limit": limit, "sort": sort, "marker": marker} {
			if s != "" {
				v.Set(k, s)
			}
		}
		query := v.Encode()
		if raw != "" {
			query = strings.TrimPrefix(query+"&"+raw, "&")
		}
		target := "/v2/events?" + query
		req, ok := fuzzRequest(http.MethodGet, target, "", nil)
		if !ok {
			return
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		want, valid := model.list(req.URL.Query())
		switch rec.Code {
		case http.StatusOK:
			var page []map[string]any
			requireJSON(t, rec, target, &page)
			require.NotNil(t, page, "%s: a page is a list, not null", target)
			got := []string{}
			for _, pe := range page {
				id, _ := pe["message_id"].(string)
				e := model.event(id)
				require.NotNil(t, e, "%s: unknown event %s", target, pe)
				require.Equal(t, e.EventType, pe["event_type"], target)
				require.Equal(t, events.FormatTime(e.Generated), pe["generated"], target)
				require.IsType(t, []any{}, pe["traits"], target)
				require.Contains(t, pe, "raw", target)
				got = append(got, id)
			}
			require.True(t, valid, "%s: 200 for a query that is not valid: %s", target, rec.Body)
			require.Equal(t, want, got, "%s: the page", target)
		case http.StatusBadRequest:
			fault := requireFault(t, rec, target)
			require.False(t, valid, "%s: 400 (%s) for a valid query; want %v", target, fault, want)
		default:
			t.Fatalf("%s: status %d, want 200 or 400: %s", target, rec.Code, rec.Body)
		}
	})
}

// traitTypes returns what /v2/event_types/{typ}/traits lists.
func (m pankoModel) traitTypes(typ string) []events.TraitInfo {
	out := []events.TraitInfo{}
	for _, e := range m.evs {
		if e.EventType != typ {
			continue
		}
		for _, tr := range e.Traits {
			if info := (events.TraitInfo{Name: tr.Name, Type: tr.Type}); !slices.Contains(out, info) {
				out = append(out, info)
			}
		}
	}
	slices.SortFunc(out, func(a, b events.TraitInfo) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Type, b.Type))
	})
	return out
}

// traitValues returns what /v2/event_types/{typ}/traits/{name} lists: the
// distinct values, ordered by type, then value.
func (m pankoModel) traitValues(typ, name string) []map[string]any {
	var trs []events.Trait
	for _, e := range m.evs {
		if tr, ok := e.Trait(name); ok && e.EventType == typ {
			trs = append(trs, tr)
		}
	}
	slices.SortFunc(trs, func(a, b events.Trait) int {
		if c := cmp.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		switch v := a.Value.(type) {
		case int64:
			return cmp.Compare(v, b.Value.(int64))
		case float64:
			return cmp.Compare(v, b.Value.(float64))
		case time.Time:
			return v.Compare(b.Value.(time.Time))
		}
		return strings.Compare(a.String(), b.String())
	})
	out := []map[string]any{}
	for _, tr := range trs {
		m := map[string]any{"name": tr.Name, "type": tr.Type.String(), "value": tr.String()}
		if len(out) == 0 || fmt.Sprint(out[len(out)-1]) != fmt.Sprint(m) {
			out = append(out, m)
		}
	}
	return out
}

// FuzzPankoPaths fuzzes the path segments of event show
// (/v2/events/{id}), trait description (/v2/event_types/{type}/traits) and
// trait list (/v2/event_types/{type}/traits/{name}). Segments are sent
// escaped as a client escapes them, or raw as typed (slashes, percent
// escapes, dot and empty segments). A path http.ServeMux cleans is
// redirected (307); any other answer is 200, 400 or 404 with Panko's
// error body, never 500. Escaped, the answer is exact: an event shows iff
// it was recorded, and the trait listings are those of the recorded
// events (empty for an unknown type or trait).
func FuzzPankoPaths(f *testing.F) {
	srv := fuzzServer(f, fuzzPankoEvents(), nil)
	model := pankoModel{evs: fuzzPankoEvents()}

	// what: 0 show, 1 trait description, 2 trait list; +3 raw; +6 trailing slash.
	for _, id := range []string{"e1", "id with/slash", "..", ".", "", "nope", "%2F", "a%zz", "e1/traits", "ü", "e1?x=1", "e1#frag", "\x00", "//e1"} {
		f.Add(uint8(0), id, "")
		f.Add(uint8(3), id, "")
	}
	for _, tc := range [][2]string{
		{"compute.instance.create.end", "host"}, {"compute.instance.delete.end", "vcpus"}, {"compute.instance.delete.end", "load"},
		{"image.upload", "ünïcode"}, {"unknown", "host"}, {"compute.instance.create.end", "nothing"}, {"", ""}, {"image.upload", ""},
		{"a/b", "c/d"}, {"%2E%2E", "%"}, {"..", "."}, {"compute.instance.create.end/traits", "host"},
	} {
		for _, what := range []uint8{1, 2, 4, 5, 7, 8} {
			f.Add(what, tc[0], tc[1])
		}
	}
	f.Fuzz(func(t *testing.T, what uint8, a, b string) {
		kind, raw, slash := what%3, what/3%2 == 1, what/6%2 == 1
		seg := escapeSegment
		if raw {
			seg = func(s string) string { return s }
		}
		var target string
		switch kind {
		case 0:
			target = "/v2/events/" + seg(a)
		case 1:
			target = "/v2/event_types/" + seg(a) + "/traits"
		default:
			target = "/v2/event_types/" + seg(a) + "/traits/" + seg(b)
		}
		if slash {
			target += "/"
		}
		req, ok := fuzzRequest(http.MethodGet, target, "", nil)
		if !ok {
			return
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if esc := req.URL.EscapedPath(); muxCleanPath(esc) != esc {
			require.Equal(t, http.StatusTemporaryRedirect, rec.Code, "%s: %s", target, rec.Body)
			require.NotEmpty(t, rec.Header().Get("Location"), target)
			return
		}
		switch rec.Code {
		case http.StatusOK:
			var v any
			requireJSON(t, rec, target, &v)
		case http.StatusBadRequest, http.StatusNotFound:
			requireFault(t, rec, target)
		default:
			t.Fatalf("%s: status %d, want 200, 400 or 404: %s", target, rec.Code, rec.Body)
		}
		if raw {
			return
		}
		switch {
		case kind == 0 && a == "":
			require.Equal(t, http.StatusOK, rec.Code, "%s lists the events", target)
		case kind == 0:
			e := model.event(a)
			if e == nil {
				require.Equal(t, http.StatusNotFound, rec.Code, "%s: %s", target, rec.Body)
				require.Contains(t, requireFault(t, rec, target), "Not Found", target)
				return
			}
			require.Equal(t, http.StatusOK, rec.Code, "%s: %s", target, rec.Body)
			var got pankoEvent
			requireJSON(t, rec, target, &got)
			require.Equal(t, a, got.MessageID, target)
			require.Equal(t, e.EventType, got.EventType, target)
			require.Equal(t, events.FormatTime(e.Generated), got.Generated, target)
		case kind == 1 || b == "":
			// An empty trait name leaves .../traits/: the description.
			require.Equal(t, http.StatusOK, rec.Code, "%s: %s", target, rec.Body)
			var got []events.TraitInfo
			requireJSON(t, rec, target, &got)
			require.Equal(t, model.traitTypes(a), got, target)
		default:
			require.Equal(t, http.StatusOK, rec.Code, "%s: %s", target, rec.Body)
			var got []map[string]any
			requireJSON(t, rec, target, &got)
			require.Equal(t, model.traitValues(a, b), got, target)
		}
	})
}

// recordAnswer is a recordReport as a client decodes it.
type recordAnswer struct {
	Stored     int `json:"stored"`
	Duplicates int `json:"duplicates"`
	Rejected   int `json:"rejected"`
	Errors     []struct {
		Index     int    `json:"index"`
		MessageID string `json:"message_id"`
		Status    string `json:"status"`
		Reason    string `json:"reason"`
	} `json:"errors"`
}

// check verifies the counts of a report of n events against its errors,
// and returns the indexes of the events that were not stored.
func (a *recordAnswer) check(t *testing.T, n int, what string) map[int]string {
	t.Helper()
	require.Equal(t, n, a.Stored+a.Duplicates+a.Rejected, "%s: the counts add up to the events sent", what)
	require.Len(t, a.Errors, a.Duplicates+a.Rejected, "%s: one error per event not stored", what)
	notStored := map[int]string{}
	for _, e := range a.Errors {
		require.True(t, e.Index >= 0 && e.Index < n, "%s: error index %d of %d events", what, e.Index, n)
		require.NotContains(t, notStored, e.Index, "%s: event %d reported twice", what, e.Index)
		require.Contains(t, []string{string(events.StatusDuplicate), string(events.StatusRejected)}, e.Status, what)
		require.NotEmpty(t, e.Reason, what)
		notStored[e.Index] = e.Status
	}
	return notStored
}

// jsonMediaType says whether a Content-Type declares JSON.
func jsonMediaType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(strings.Trim(contentType, " \t"))
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// FuzzPankoRecord posts fuzzed bodies with fuzzed content types to
// /v2/events. The answer is 200, 400 or 415 (415 exactly when the
// Content-Type is not JSON), never 500; errors have Panko's body. A 200
// reports every event once (stored, duplicate or rejected, with the
// counts adding up), and every event it stored with a message_id reads
// back from /v2/events/{id} as it was sent: type, time, traits and raw.
func FuzzPankoRecord(f *testing.F) {
	srv := fuzzServer(f, fuzzPankoEvents(), nil)

	for _, tc := range [][2]string{
		{"application/json", `[{"message_id": "r1", "event_type": "new", "generated": "2026-03-01T12:00:00.5", "traits": [{"name": "a", "type": "integer", "value": 1}], "raw": {"x": [1, 2]}}]`},
		{"application/json; charset=utf-8", `{"events": [{"message_id": "r2", "event_type": "new", "traits": [{"name": "f", "value": 1.5}, {"name": "s", "value": "x"}]}]}`},
		{"application/vnd.openstack.telemetry-v2+json", `[{"event_type": "no id"}, {"message_id": "e1", "event_type": "dup"}]`},
		{"application/json", `[{"message_id": "r3", "event_type": "new", "traits": [{"name": "d", "type": "datetime", "value": "2026-03-01T12:00:00+02:00"}, {"name": "d", "value": "x"}]}]`},
		{"application/json", `[{"message_id": "r4", "event_type": "new", "traits": [{"name": "n", "type": "integer", "value": "x"}]}, {"message_id": "r4"}, 7, null, "x"]`},
		{"application/json", `[{"message_id": "r5", "event_type": " "}, {"message_id": "r5", "event_type": "t", "raw": null}, {"message_id": "r5", "event_type": "t"}]`},
		{"application/json", `[{"message_id": "..", "event_type": "t"}, {"message_id": "a/b%2F", "event_type": "t", "generated": "0001-01-01"}]`},
		{"application/json", `[{"message_id": "r6", "event_type": "t", "generated": "9999-12-31T23:59:59.999999Z", "traits": [{"name": "big", "value": 1e308}]}]`},
		{"application/json", `[{"message_id": "r7", "event_type": "t", "traits": [{"name": "", "value": "x"}]}, {"message_id": "r8", "event_type": "t", "traits": [{"name": "n", "value": 9223372036854775808}]}]`},
		{"application/json", `{"events": null}`},
		{"application/json", `{"events": []}`},
		{"application/json", `[]`},
		{"application/json", `[{`},
		{"application/json", `[] []`},
		{"application/json", ``},
		{"application/json", `{"other": 1}`},
		{"text/plain", `[]`},
		{"", `[]`},
		{"application/json; charset", `[]`},
		{"APPLICATION/JSON", `[{"message_id": "r9", "event_type": "T", "source": "s", "expires": "2030-01-01"}]`},
	} {
		f.Add(tc[0], tc[1])
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		what := fmt.Sprintf("POST /v2/events (%q) %s", contentType, body)
		rec, ok := fuzzServe(srv, http.MethodPost, "/v2/events", contentType, []byte(body))
		if !ok {
			return
		}
		if !writeAccepted(t, rec, what, contentType) {
			return
		}
		var raws []json.RawMessage
		if err := json.Unmarshal([]byte(body), &raws); err != nil {
			var wrapped struct {
				Events []json.RawMessage `json:"events"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &wrapped), "%s: 200 for a body that is no list of events", what)
			raws = wrapped.Events
		}
		var rep recordAnswer
		requireJSON(t, rec, what, &rep)
		notStored := rep.check(t, len(raws), what)
		for i, raw := range raws {
			if _, ok := notStored[i]; ok {
				continue
			}
			var e events.Event
			require.NoError(t, json.Unmarshal(raw, &e), "%s: event %d stored but does not parse", what, i)
			if e.MessageID == "" {
				continue // the id the store gave it is not reported
			}
			target := "/v2/events/" + escapeSegment(e.MessageID)
			got, ok := fuzzServe(srv, http.MethodGet, target, "", nil)
			require.True(t, ok, target)
			require.Equal(t, http.StatusOK, got.Code, "%s: event %d stored, but %s: %s", what, i, target, got.Body)
			var pe pankoEvent
			requireJSON(t, got, target, &pe)
			require.Equal(t, e.MessageID, pe.MessageID, what)
			require.Equal(t, e.EventType, pe.EventType, what)
			if !e.Generated.IsZero() {
				require.Equal(t, events.FormatTime(e.Generated), pe.Generated, what)
			}
			require.Len(t, pe.Traits, len(e.Traits), what)
			for j, tr := range e.Traits {
				require.Equal(t, [3]string{tr.Name, tr.Type.String(), tr.String()},
					[3]string{pe.Traits[j].Name, pe.Traits[j].Type.String(), pe.Traits[j].String()}, "%s: trait %d", what, j)
			}
			wantRaw := []byte(`{}`)
			if len(e.Raw) > 0 {
				var b bytes.Buffer
				require.NoError(t, json.Compact(&b, e.Raw), what)
				wantRaw = b.Bytes()
			}
			require.Equal(t, string(wantRaw), string(pe.Raw), "%s: raw of event %d", what, i)
		}
	})
}

// decodeObject decodes a stream object as the store reads it.
func decodeObject(raw []byte) (map[string]any, bool) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// Kronos time, in 100 ns units, can be converted to a time (in
// nanoseconds) only within these bounds.
const (
	kronosMin = math.MinInt64 / 100
	kronosMax = math.MaxInt64 / 100
)

// floorMicro truncates Kronos time to whole microseconds, as the store
// keeps times.
func floorMicro(k int64) int64 {
	if k%10 < 0 {
		return k - k%10 - 10
	}
	return k - k%10
}

// expectedKronos returns the @time a stream object with @time raw (nil
// when absent) reads back with; ok is false when no exact answer can be
// told (a time outside what Kronos time holds).
func expectedKronos(raw any) (k int64, ok bool) {
	switch v := raw.(type) {
	case nil:
		return events.KronosTime(fuzzNow), true
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return floorMicro(n), n > kronosMin && n < kronosMax
		}
		f, err := v.Float64()
		if err != nil || math.Abs(f) >= 9e16 {
			return 0, false
		}
		return floorMicro(int64(math.Round(f))), true
	case string:
		t, err := events.ParseTime(v)
		if err != nil || t.Year() < 1679 || t.Year() > 2261 {
			return 0, false
		}
		return events.KronosTime(t), true
	}
	return 0, false
}

// fuzzNamespaces numbers the namespaces of FuzzStreamPut's inputs.
var fuzzNamespaces atomic.Int64

// FuzzStreamPut posts fuzzed bodies with fuzzed content types to
// /1.0/events/put. The body is rawBody when it is set, else one stream of
// two objects (each a JSON value, or a string when not valid JSON). The
// answer is 200, 400 or 415 (415 exactly when the Content-Type is not
// JSON), never 500; errors have Panko's body. A 200 reports every object
// of every stream once, and every object it stored is in a get of its
// stream afterwards, with its fields as put, its @id when it gave one and
// its @time in whole microseconds. Inputs that name no namespace get a
// fresh one, where the get holds exactly the objects stored.
func FuzzStreamPut(f *testing.F) {
	srv := fuzzServer(f, fuzzPankoEvents(), nil)

	// contentType, stream, obj1, obj2, rawBody
	f.Add("application/json", "clicks", `{"@time": 17728056000000000, "user": "a", "n": 1}`, `{"@id": "c2", "user": "b", "n": 2.50, "nested": {"x": [1, null]}}`, "")
	f.Add("application/json", "clicks", `{"@time": "2026-03-01T12:00:00.1234567Z", "@id": "c3"}`, `{"@id": "c3"}`, "")
	f.Add("application/json", "a/b c", `{"@time": -15}`, `{"@time": 1.5e3, "x": 1e400}`, "")
	f.Add("application/json", "clicks", `{"@time": 1e300}`, `{"@time": 92233720368547758}`, "")
	f.Add("application/json", "clicks", `{"@time": "2300-01-01"}`, `{"@time": "0001-01-01"}`, "")
	f.Add("application/json", "clicks", `{"@time": true}`, `{"@id": 7}`, "")
	f.Add("application/json", "clicks", `[1]`, `"not an object"`, "")
	f.Add("application/json", "clicks", `null`, `{}`, "")
	f.Add("application/json", "", `{}`, `{}`, "")
	f.Add("application/json", " ", `{"a": "b"}`, `{"a": "b", "a": "c"}`, "")
	f.Add("application/json", "compute.instance.create.end", `{"@id": "e1"}`, `{"@id": "new"}`, "")
	f.Add("text/plain", "clicks", `{}`, `{}`, "")
	f.Add("", "clicks", `{}`, `{}`, "")
	f.Add("application/json", "", "", "", `{"namespace": "web", "events": {"s1": [{"k": 1}], "s2": [], "s3": null}}`)
	f.Add("application/json", "", "", "", `{"events": {}}`)
	f.Add("application/json", "@took", `{"n": 1}`, `{}`, "")
	f.Add("application/json", "", "", "", `{"events": {"s": [{}]}, "namespace": 5}`)
	f.Add("application/json", "", "", "", `{"events": {"s": {}}}`)
	f.Add("application/json", "", "", "", `{"events": {"s": [{}]}} {}`)
	f.Add("application/problem+json", "", "", "", `{"events": {"s": [{"\u0000": "\ud800"}]}}`)
	f.Fuzz(func(t *testing.T, contentType, stream, obj1, obj2, rawBody string) {
		body := []byte(rawBody)
		if rawBody == "" {
			var objs []json.RawMessage
			for _, o := range []string{obj1, obj2} {
				if !json.Valid([]byte(o)) {
					b, _ := json.Marshal(o)
					o = string(b)
				}
				objs = append(objs, json.RawMessage(o))
			}
			b, err := json.Marshal(map[string]any{"events": map[string]any{stream: objs}})
			require.NoError(t, err)
			body = b
		}
		ns := fmt.Sprintf("fuzz-%d", fuzzNamespaces.Add(1))
		what := fmt.Sprintf("POST /1.0/events/put?namespace=%s (%q) %s", ns, contentType, body)
		rec, ok := fuzzServe(srv, http.MethodPost, "/1.0/events/put?namespace="+ns, contentType, body)
		if !ok {
			return
		}
		if !writeAccepted(t, rec, what, contentType) {
			return
		}
		var req kronosRequest
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		require.NoError(t, d.Decode(&req), "%s: 200 for a body that does not decode", what)
		fresh := req.Namespace == ""
		if fresh {
			req.Namespace = ns
		}
		var reports map[string]json.RawMessage
		requireJSON(t, rec, what, &reports)
		require.Contains(t, reports, "@took", what)
		require.Len(t, reports, len(req.Events)+1, "%s: one report per stream", what)
		for name, objs := range req.Events {
			var rep recordAnswer
			require.NoError(t, json.Unmarshal(reports[name], &rep), "%s: report of stream %q", what, name)
			notStored := rep.check(t, len(objs), what)

			getBody, err := json.Marshal(map[string]any{"namespace": req.Namespace, "stream": name})
			require.NoError(t, err)
			got, ok := fuzzServe(srv, http.MethodPost, "/1.0/events/get", "application/json", getBody)
			require.True(t, ok)
			require.Equal(t, http.StatusOK, got.Code, "%s: get %s: %s", what, getBody, got.Body)
			var out []json.RawMessage
			requireJSON(t, got, what, &out)
			if fresh {
				require.Len(t, out, rep.Stored, "%s: get %s holds the objects stored: %s", what, getBody, got.Body)
			}
			used := make([]bool, len(out))
			for i, obj := range objs {
				if _, ok := notStored[i]; ok {
					continue
				}
				in, ok := decodeObject(obj)
				require.True(t, ok, "%s: object %d stored but not a JSON object", what, i)
				want := maps.Clone(in)
				delete(want, events.FieldID)
				delete(want, events.FieldTime)
				found := -1
				for j, o := range out {
					m, ok := decodeObject(o)
					if !ok || used[j] {
						continue
					}
					if id, given := in[events.FieldID]; given && m[events.FieldID] != id {
						continue
					}
					if k, ok := expectedKronos(in[events.FieldTime]); ok && m[events.FieldTime] != json.Number(strconv.FormatInt(k, 10)) {
						continue
					}
					delete(m, events.FieldID)
					delete(m, events.FieldTime)
					if reflect.DeepEqual(m, want) {
						found = j
						break
					}
				}
				require.GreaterOrEqual(t, found, 0, "%s: object %d (%s) stored but not in get %s: %s", what, i, obj, getBody, got.Body)
				used[found] = true
			}
		}
	})
}

// streamObject is an object of the streams FuzzStreamGet reads.
type streamObject struct {
	id   string
	time int64 // Kronos time
}

// FuzzStreamGet gets recorded streams with fuzzed stream names,
// start_time, end_time, order and limit (each of the times and the limit
// a JSON value, or a string when not valid JSON). The answer is 200 or
// 400, never anything else; a 400 has Panko's error body; a 200 holds
// exactly the objects of the stream in [start_time, end_time), in the
// order asked for, at most limit of them. Well-formed parameters
// (ascending or descending, a positive limit, Kronos time or an ISO 8601
// string) are answered, not refused.
func FuzzStreamGet(f *testing.F) {
	k := func(d time.Duration) int64 { return events.KronosTime(t0.Add(d)) }
	streams := map[string][]streamObject{
		"clicks": {{"c1", k(0)}, {"c2", k(time.Minute)}, {"c0", k(time.Minute)}, {"c3", k(time.Minute + 1500*time.Microsecond)}, {"c4", k(-time.Hour)}, {"c5", k(24 * time.Hour)}},
		"a/b c":  {{"x1", k(0)}, {"x2", 0}},
		"views":  {{"v1", -5}},
	}
	put := map[string][]json.RawMessage{}
	for name, objs := range streams {
		for _, o := range objs {
			b, err := json.Marshal(map[string]any{"@id": o.id, "@time": o.time, "page": "/" + o.id})
			require.NoError(f, err)
			put[name] = append(put[name], b)
		}
	}
	srv := fuzzServer(f, nil, put)
	for name, objs := range streams {
		for i := range objs {
			objs[i].time = floorMicro(objs[i].time)
		}
		streams[name] = objs
	}

	// stream, start, end, order, limit
	f.Add("clicks", "", "", "", "")
	f.Add("clicks", jsonInt(k(time.Minute)), `"2026-03-01T12:05:00Z"`, "ascending", "2")
	f.Add("clicks", "2026-03-01T12:01:00", "2026-03-01T12:01:00.0015", "DESC", "")
	f.Add("clicks", `"17728056600000000"`, `null`, "desc", "1")
	f.Add("clicks", "-1", "1", "asc", "10000000")
	f.Add("clicks", "1.5", "", "", "")
	f.Add("clicks", "", "1e3", "", "")
	f.Add("clicks", "true", "{}", "", "")
	f.Add("clicks", "", "", "sideways", "")
	f.Add("clicks", "", "", "", "0")
	f.Add("clicks", "", "", "", "-3")
	f.Add("clicks", "", "", "", "1.0")
	f.Add("clicks", "", "", "", "99999999999999999999")
	f.Add("clicks", "", "", "", `"2"`)
	f.Add("clicks", "yesterday", "", "", "")
	f.Add("clicks", "", "0001-01-01T00:00:00Z", "", "")
	f.Add("clicks", "100000000000000000", "", "", "")
	f.Add("clicks", "", "-92233720368547758", "", "")
	f.Add("clicks", "9999-12-31", "", "", "")
	f.Add("a/b c", "", "", "descending", "")
	f.Add("views", "-6", "-4", "", "")
	f.Add("nothing", "", "", "", "")
	f.Add("", "", "", "", "")
	f.Fuzz(func(t *testing.T, stream, start, end, order, limit string) {
		req := map[string]any{"stream": stream}
		for key, v := range map[string]string{"start_time": start, "end_time": end, "order": order, "limit": limit} {
			switch {
			case v == "":
			case key == "order" || !json.Valid([]byte(v)):
				req[key] = v
			default:
				req[key] = json.RawMessage(v)
			}
		}
		body, err := json.Marshal(req)
		require.NoError(t, err)
		what := "POST /1.0/events/get " + string(body)
		rec, ok := fuzzServe(srv, http.MethodPost, "/1.0/events/get", "application/json", body)
		require.True(t, ok)
		want, valid, sure := modelStreamGet(streams, body)
		switch rec.Code {
		case http.StatusOK:
			var out []map[string]any
			requireJSON(t, rec, what, &out)
			require.NotNil(t, out, "%s: a list, not null", what)
			got := []string{}
			for _, o := range out {
				id, _ := o[events.FieldID].(string)
				got = append(got, id)
			}
			require.True(t, valid, "%s: 200 for parameters that are not valid: %s", what, rec.Body)
			require.Equal(t, want, got, "%s: the objects", what)
		case http.StatusBadRequest:
			fault := requireFault(t, rec, what)
			require.False(t, valid && sure, "%s: 400 (%s) for valid parameters; want %v", what, fault, want)
		default:
			t.Fatalf("%s: status %d, want 200 or 400: %s", what, rec.Code, rec.Body)
		}
	})
}

// modelStreamGet returns the @ids the get of body answers with; valid is
// false when the parameters are not; sure is false when a server may
// refuse valid parameters (times outside what Kronos time holds).
func modelStreamGet(streams map[string][]streamObject, body []byte) (ids []string, valid, sure bool) {
	var req struct {
		Stream    string          `json:"stream"`
		StartTime json.RawMessage `json:"start_time"`
		EndTime   json.RawMessage `json:"end_time"`
		Order     string          `json:"order"`
		Limit     json.RawMessage `json:"limit"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Stream == "" {
		return nil, false, true
	}
	sure = true
	// bound returns a time bound in µs since the epoch; none when absent.
	bound := func(raw json.RawMessage) (us int64, none, ok bool) {
		if len(raw) == 0 || string(raw) == "null" {
			return 0, true, true
		}
		var s string
		if raw[0] == '"' {
			if err := json.Unmarshal(raw, &s); err != nil {
				return 0, false, false
			}
			if t, err := events.ParseTime(s); err == nil {
				// The zero time is refused: the store takes it for no bound.
				return t.UnixMicro(), false, !t.IsZero()
			}
			if _, err := strconv.ParseFloat(s, 64); err != nil || !json.Valid([]byte(s)) {
				return 0, false, false
			}
			// A string holding a number is Kronos time too.
			raw = json.RawMessage(s)
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return 0, false, false
		}
		if n <= kronosMin || n >= kronosMax {
			sure = false
		}
		return floorMicro(n) / 10, false, true
	}
	lo, noLo, ok1 := bound(req.StartTime)
	hi, noHi, ok2 := bound(req.EndTime)
	if !ok1 || !ok2 {
		return nil, false, sure
	}
	var desc bool
	switch strings.ToLower(req.Order) {
	case "", "asc", "ascending":
	case "desc", "descending":
		desc = true
	default:
		return nil, false, sure
	}
	n := math.MaxInt
	if len(req.Limit) > 0 && string(req.Limit) != "null" {
		var l int
		if err := json.Unmarshal(req.Limit, &l); err != nil || l <= 0 {
			return nil, false, sure
		}
		n = l
	}
	var objs []streamObject
	for _, o := range streams[req.Stream] {
		if us := o.time / 10; (noLo || us >= lo) && (noHi || us < hi) {
			objs = append(objs, o)
		}
	}
	slices.SortFunc(objs, func(a, b streamObject) int {
		c := cmp.Or(cmp.Compare(a.time, b.time), strings.Compare(a.id, b.id))
		if desc {
			return -c
		}
		return c
	})
	ids = []string{}
	for _, o := range objs[:min(len(objs), n)] {
		ids = append(ids, o.id)
	}
	return ids, true, sure
}

// writeAccepted checks the status of a write sent with contentType: 200,
// or a 400 or 415 with Panko's error body, 415 exactly when the type is
// not JSON. It reports whether the write was accepted (200).
func writeAccepted(t *testing.T, rec *httptest.ResponseRecorder, what, contentType string) bool {
	t.Helper()
	switch rec.Code {
	case http.StatusOK:
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		requireFault(t, rec, what)
		require.Equal(t, !jsonMediaType(contentType), rec.Code == http.StatusUnsupportedMediaType, "%s: 415 iff not JSON: %s", what, rec.Body)
		return false
	default:
		t.Fatalf("%s: status %d, want 200, 400 or 415: %s", what, rec.Code, rec.Body)
	}
	require.True(t, jsonMediaType(contentType), what)
	return true
}
