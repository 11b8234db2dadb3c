package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/strata-dataspace/strata/events"
)

// The event API: Panko v2 (what `openstack event …` speaks) under /v2/,
// Kronos-style streams under /1.0/, and the version document at /.
// Trailing slashes are accepted everywhere. With Config.Token set, every
// event endpoint (not the version document) wants it in X-Auth-Token.

// maxBody caps a request body of the event API.
const maxBody = 64 << 20

// eventRoutes registers the Panko v2 and stream endpoints.
func (s *Server) eventRoutes() {
	s.mux.HandleFunc("GET /{$}", s.versions)
	s.mux.HandleFunc("/v2", s.authorized(s.panko))
	s.mux.HandleFunc("/v2/", s.authorized(s.panko))
	s.mux.HandleFunc("/1.0/", s.authorized(s.kronos))
}

// pankoError writes Panko's error body.
func pankoError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]any{"error_message": map[string]any{"faultstring": fmt.Sprintf(format, args...)}})
}

// eventError maps an event store error onto a status: invalid input 400,
// not found 404, anything else 500 (logged, not shown).
func (s *Server) eventError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, events.ErrInvalid):
		pankoError(w, http.StatusBadRequest, "%s", strings.ReplaceAll(err.Error(), events.ErrInvalid.Error()+": ", ""))
	case errors.Is(err, events.ErrNotFound):
		pankoError(w, http.StatusNotFound, "%s", err.Error())
	default:
		s.log.Error("event api request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		pankoError(w, http.StatusInternalServerError, "internal error: see the server's log")
	}
}

// authorized checks the shared token when one is configured.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Auth-Token")), []byte(s.cfg.Token)) != 1 {
			pankoError(w, http.StatusUnauthorized, "authentication required: send the shared token in X-Auth-Token")
			return
		}
		h(w, r)
	}
}

// store returns the event store of a namespace ("" means the default).
func (s *Server) store(ns string) (*events.Store, error) {
	return events.New(s.space.DataSource(), &events.Config{Namespace: ns, Clock: s.cfg.Clock})
}

// baseURL is the URL the client used to reach the server.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// versions is Panko's version document.
func (s *Server) versions(w http.ResponseWriter, r *http.Request) {
	// A browser asks for HTML: send it to the page. API clients (the
	// OpenStack client among them) get the version document.
	if accept := r.Header.Get("Accept"); strings.Contains(accept, "text/html") {
		http.Redirect(w, r, "/ui/", http.StatusFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": map[string]any{"values": []any{versionV2(r)}}})
}

func versionV2(r *http.Request) map[string]any {
	return map[string]any{
		"id":      "v2",
		"status":  "stable",
		"updated": "2026-01-01T00:00:00Z",
		"links": []any{
			map[string]any{"rel": "self", "href": baseURL(r) + "/v2"},
		},
		"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.telemetry-v2+json"}},
	}
}

// segments splits an escaped path below prefix into unescaped segments,
// ignoring a trailing slash.
func segments(r *http.Request, prefix string) ([]string, bool) {
	p := strings.TrimSuffix(strings.TrimPrefix(r.URL.EscapedPath(), prefix), "/")
	if p == "" {
		return nil, true
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, seg := range parts {
		u, err := url.PathUnescape(seg)
		if err != nil || u == "" {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

// panko routes /v2 requests.
func (s *Server) panko(w http.ResponseWriter, r *http.Request) {
	seg, ok := segments(r, "/v2")
	if !ok {
		pankoError(w, http.StatusNotFound, "no such resource %s", r.URL.Path)
		return
	}
	method := func(allowed ...string) bool {
		for _, m := range allowed {
			if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
				return true
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		pankoError(w, http.StatusMethodNotAllowed, "method %s is not allowed on %s: use %s", r.Method, r.URL.Path, strings.Join(allowed, " or "))
		return false
	}
	switch {
	case len(seg) == 0:
		if method(http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]any{"version": versionV2(r)})
		}
	case seg[0] == "capabilities" && len(seg) == 1:
		if method(http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]any{
				"api":           map[string]any{"events:query:simple": true},
				"event_storage": map[string]any{"storage:production_ready": true},
			})
		}
	case seg[0] == "events" && len(seg) == 1:
		if !method(http.MethodGet, http.MethodPost) {
			return
		}
		if r.Method == http.MethodPost {
			s.recordEvents(w, r)
			return
		}
		s.listEvents(w, r)
	case seg[0] == "events" && len(seg) == 2:
		if method(http.MethodGet) {
			s.showEvent(w, r, seg[1])
		}
	case seg[0] == "event_types" && len(seg) == 1:
		if method(http.MethodGet) {
			s.eventTypes(w, r)
		}
	case seg[0] == "event_types" && len(seg) == 3 && seg[2] == "traits":
		if method(http.MethodGet) {
			s.traitTypes(w, r, seg[1])
		}
	case seg[0] == "event_types" && len(seg) == 4 && seg[2] == "traits":
		if method(http.MethodGet) {
			s.traitValues(w, r, seg[1], seg[3])
		}
	default:
		pankoError(w, http.StatusNotFound, "no such resource %s: see /v2/events, /v2/event_types and /v2/capabilities", r.URL.Path)
	}
}

// pankoEvent is an event as Panko returns it.
type pankoEvent struct {
	MessageID string          `json:"message_id"`
	EventType string          `json:"event_type"`
	Generated string          `json:"generated"`
	Traits    []events.Trait  `json:"traits"`
	Raw       json.RawMessage `json:"raw"`
}

func toPanko(e *events.Event) pankoEvent {
	p := pankoEvent{MessageID: e.MessageID, EventType: e.EventType, Generated: events.FormatTime(e.Generated), Traits: e.Traits, Raw: e.Raw}
	if p.Traits == nil {
		p.Traits = []events.Trait{}
	}
	if len(p.Raw) == 0 {
		p.Raw = json.RawMessage(`{}`)
	}
	return p
}

// pankoQuery reads Panko's q.field/q.op/q.value/q.type filters, sort,
// limit and marker.
func pankoQuery(v url.Values, maxLimit int) (*events.Query, error) {
	q := &events.Query{}
	fields, ops, values, types := v["q.field"], v["q.op"], v["q.value"], v["q.type"]
	if len(values) != len(fields) {
		return nil, fmt.Errorf("%w: %d q.field but %d q.value: give one q.value per q.field", events.ErrInvalid, len(fields), len(values))
	}
	if len(ops) != 0 && len(ops) != len(fields) {
		return nil, fmt.Errorf("%w: %d q.field but %d q.op: give q.op for every filter or none", events.ErrInvalid, len(fields), len(ops))
	}
	if len(types) != 0 && len(types) != len(fields) {
		return nil, fmt.Errorf("%w: %d q.field but %d q.type: give q.type for every filter or none", events.ErrInvalid, len(fields), len(types))
	}
	for i, field := range fields {
		opName, typName := "", ""
		if len(ops) > 0 {
			opName = ops[i]
		}
		if len(types) > 0 {
			typName = types[i]
		}
		op, err := events.ParseOp(opName)
		if err != nil {
			return nil, fmt.Errorf("filter on %q: %w", field, err)
		}
		value := values[i]
		switch field {
		case "":
			return nil, fmt.Errorf("%w: a filter has an empty q.field", events.ErrInvalid)
		case "event_type", "message_id":
			if op != events.OpEq {
				return nil, fmt.Errorf("%w: operator %s is not supported on %s: only eq is", events.ErrInvalid, op, field)
			}
			// Empty is no filter to the store: refuse it rather than list
			// every event. Filters AND, so two values match nothing.
			dst := &q.EventType
			if field == "message_id" {
				dst = &q.MessageID
			}
			switch {
			case value == "":
				return nil, fmt.Errorf("%w: filter on %s: empty q.value: give the %s to match", events.ErrInvalid, field, field)
			case *dst != "" && *dst != value:
				return nil, fmt.Errorf("%w: two filters on %s, %q and %q: an event has one %s", events.ErrInvalid, field, *dst, value, field)
			}
			*dst = value
		case "start_timestamp", "end_timestamp":
			t, err := events.ParseTime(value)
			if err != nil {
				return nil, fmt.Errorf("filter on %s: %w", field, err)
			}
			// The range is [start, end): gt and le move the bound by a
			// microsecond; eq (what the openstack client sends) means the
			// field's own bound. Filters AND: the range narrows.
			var start bool
			switch {
			case op == events.OpGe || (op == events.OpEq && field == "start_timestamp"):
				start = true
			case op == events.OpGt:
				t, start = t.Add(time.Microsecond), true
			case op == events.OpLt || (op == events.OpEq && field == "end_timestamp"):
			case op == events.OpLe:
				t = t.Add(time.Microsecond)
			default:
				return nil, fmt.Errorf("%w: operator %s is not supported on %s: use ge, gt, le or lt", events.ErrInvalid, op, field)
			}
			if t.IsZero() {
				return nil, fmt.Errorf("%w: filter on %s: %s %s: the bound is the zero time, which the store takes for no bound: leave the filter out or give another time",
					events.ErrInvalid, field, op, value)
			}
			switch {
			case start && (q.Start.IsZero() || t.After(q.Start)):
				q.Start = t
			case !start && (q.End.IsZero() || t.Before(q.End)):
				q.End = t
			}
		default:
			typ, err := events.ParseTraitType(typName)
			if err != nil {
				return nil, fmt.Errorf("filter on trait %q: %w", field, err)
			}
			if _, err := events.ParseValue(typ, value); err != nil {
				return nil, fmt.Errorf("filter on trait %q: %w", field, err)
			}
			q.Traits = append(q.Traits, events.TraitFilter{Name: field, Op: op, Type: typ, Value: value})
		}
	}
	for _, raw := range v["sort"] {
		for _, part := range strings.Split(raw, ",") {
			k, err := events.ParseSort(part)
			if err != nil {
				return nil, err
			}
			q.Sort = append(q.Sort, k)
		}
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%w: limit %q: want a positive number", events.ErrInvalid, l)
		}
		if n > maxLimit {
			return nil, fmt.Errorf("%w: limit %d is above the maximum of %d: page with the marker", events.ErrInvalid, n, maxLimit)
		}
		q.Limit = n
	}
	q.Marker = v.Get("marker")
	return q, nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	st, err := s.store("")
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	q, err := pankoQuery(r.URL.Query(), st.MaxLimit())
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	evs, err := st.Query(r.Context(), q)
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	out := make([]pankoEvent, len(evs))
	for i, e := range evs {
		out[i] = toPanko(e)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) showEvent(w http.ResponseWriter, r *http.Request, id string) {
	st, err := s.store("")
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	e, err := st.Get(r.Context(), id)
	if errors.Is(err, events.ErrNotFound) {
		pankoError(w, http.StatusNotFound, "Event %s Not Found", id)
		return
	}
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toPanko(e))
}

func (s *Server) eventTypes(w http.ResponseWriter, r *http.Request) {
	st, err := s.store("")
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	types, err := st.EventTypes(r.Context())
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, types)
}

func (s *Server) traitTypes(w http.ResponseWriter, r *http.Request, eventType string) {
	st, err := s.store("")
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	infos, err := st.TraitTypes(r.Context(), eventType)
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, infos)
}

func (s *Server) traitValues(w http.ResponseWriter, r *http.Request, eventType, name string) {
	st, err := s.store("")
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	vals, err := st.TraitValues(r.Context(), eventType, name, st.MaxLimit())
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, vals)
}

// readJSON decodes a JSON request body into dst: 415 when the body is not
// declared as JSON, 400 when it does not parse.
func readJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		pankoError(w, http.StatusUnsupportedMediaType, "the body must be JSON: send Content-Type: application/json (got %q)", r.Header.Get("Content-Type"))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			pankoError(w, http.StatusRequestEntityTooLarge, "the body is larger than %d bytes: send smaller batches", maxBody)
			return false
		}
		pankoError(w, http.StatusBadRequest, "the body is not valid JSON for this request: %s", strings.ReplaceAll(err.Error(), events.ErrInvalid.Error()+": ", ""))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		pankoError(w, http.StatusBadRequest, "the body holds more than one JSON value")
		return false
	}
	return true
}

// recordReport is the answer to a record or put: counts, every event's
// message_id (in the order sent: the one it was given or the one the
// store assigned; empty for an event rejected before it had one) and
// every event that was not stored.
type recordReport struct {
	Stored     int             `json:"stored"`
	Duplicates int             `json:"duplicates"`
	Rejected   int             `json:"rejected"`
	MessageIDs []string        `json:"message_ids"`
	Errors     []recordProblem `json:"errors"`
}

type recordProblem struct {
	Index     int    `json:"index"`
	MessageID string `json:"message_id,omitempty"`
	Status    string `json:"status"`
	Reason    string `json:"reason"`
}

func report(res *events.RecordResult, extra []recordProblem) recordReport {
	rep := recordReport{Stored: res.Stored, Duplicates: res.Duplicates, Rejected: res.Rejected,
		MessageIDs: make([]string, len(res.Outcomes)), Errors: []recordProblem{}}
	rep.Errors = append(rep.Errors, extra...)
	for _, o := range res.Outcomes {
		rep.MessageIDs[o.Index] = o.MessageID
		if o.Status == events.StatusStored || o.Err == nil {
			continue
		}
		rep.Errors = append(rep.Errors, recordProblem{Index: o.Index, MessageID: o.MessageID, Status: string(o.Status),
			Reason: strings.NewReplacer(events.ErrInvalid.Error()+": ", "", events.ErrDuplicate.Error()+": ", "").Replace(o.Err.Error())})
	}
	sort.SliceStable(rep.Errors, func(i, j int) bool { return rep.Errors[i].Index < rep.Errors[j].Index })
	return rep
}

// recordEvents records a JSON array of events in Panko's shape (or an
// object {"events": [...]}), and reports per event.
func (s *Server) recordEvents(w http.ResponseWriter, r *http.Request) {
	var body json.RawMessage
	if !readJSON(w, r, &body) {
		return
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		var wrapped struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(body, &wrapped); err != nil || wrapped.Events == nil {
			pankoError(w, http.StatusBadRequest, "the body must be a JSON array of events or {\"events\": [...]}")
			return
		}
		raws = wrapped.Events
	}
	evs := make([]*events.Event, len(raws))
	var bad []recordProblem
	for i, raw := range raws {
		var e events.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			bad = append(bad, recordProblem{Index: i, Status: string(events.StatusRejected),
				Reason: strings.ReplaceAll(err.Error(), events.ErrInvalid.Error()+": ", "")})
			e = events.Event{} // rejected by Record too (no type); keeps indexes aligned
		}
		evs[i] = &e
	}
	st, err := s.store("")
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	res, err := st.Record(r.Context(), evs)
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	// Drop the generic "no event_type" of events that did not parse.
	skip := map[int]bool{}
	for _, b := range bad {
		skip[b.Index] = true
	}
	for i := range res.Outcomes {
		if skip[i] {
			res.Outcomes[i].Err = nil
		}
	}
	writeJSON(w, http.StatusOK, report(res, bad))
}
