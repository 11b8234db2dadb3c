package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/strata-dataspace/strata/events"
)

// Kronos-style stream endpoints, all POST with a JSON body (GET works for
// listing streams):
//
//	POST /1.0/events/put           {"namespace": "ns", "events": {"stream": [{...}, ...]}}
//	POST /1.0/events/get           {"namespace", "stream", "start_time", "end_time", "order": "ascending"|"descending", "limit"}
//	POST /1.0/events/delete        {"namespace", "stream", "start_time", "end_time"}
//	POST /1.0/streams/infer_schema {"namespace", "stream"}
//	GET  /1.0/streams/list?namespace=ns   (or POST {"namespace"})
//
// Times are Kronos time (100 ns units since the epoch) or ISO 8601
// strings; the range is [start_time, end_time). The namespace may also be
// given as a query parameter; none means the default namespace.

// kronosRequest is the body of every stream endpoint.
type kronosRequest struct {
	Namespace string                       `json:"namespace"`
	Stream    string                       `json:"stream"`
	StartTime json.RawMessage              `json:"start_time"`
	EndTime   json.RawMessage              `json:"end_time"`
	Order     string                       `json:"order"`
	Limit     *int                         `json:"limit"`
	Events    map[string][]json.RawMessage `json:"events"`
}

// kronosTime reads Kronos time or an ISO 8601 string; absent is zero.
func kronosTime(raw json.RawMessage, field string) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		k, err := n.Int64()
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %s %s is not Kronos time (an integer of 100 ns units)", events.ErrInvalid, field, raw)
		}
		t, err := events.ParseKronos(k)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", field, err)
		}
		return t, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, fmt.Errorf("%w: %s must be Kronos time or an ISO 8601 string", events.ErrInvalid, field)
	}
	t, err := events.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", field, err)
	}
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("%w: %s %q is the zero time, which the store takes for no bound: leave it out or give another time", events.ErrInvalid, field, s)
	}
	return t, nil
}

// kronos routes /1.0 requests.
func (s *Server) kronos(w http.ResponseWriter, r *http.Request) {
	seg, ok := segments(r, "/1.0")
	path := strings.Join(seg, "/")
	if !ok {
		path = ""
	}
	switch path {
	case "events/put", "events/get", "events/delete", "streams/infer_schema":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			pankoError(w, http.StatusMethodNotAllowed, "method %s is not allowed on %s: use POST with a JSON body", r.Method, r.URL.Path)
			return
		}
	case "streams/list":
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			pankoError(w, http.StatusMethodNotAllowed, "method %s is not allowed on %s: use GET or POST", r.Method, r.URL.Path)
			return
		}
	default:
		pankoError(w, http.StatusNotFound, "no such resource %s: see /1.0/events/put|get|delete and /1.0/streams/list|infer_schema", r.URL.Path)
		return
	}
	var req kronosRequest
	if r.Method == http.MethodPost && !readJSON(w, r, &req) {
		return
	}
	if ns := r.URL.Query().Get("namespace"); ns != "" && req.Namespace == "" {
		req.Namespace = ns
	}
	st, err := s.store(req.Namespace)
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	switch path {
	case "events/put":
		s.kronosPut(w, r, st, &req)
	case "events/get":
		s.kronosGet(w, r, st, &req)
	case "events/delete":
		s.kronosDelete(w, r, st, &req)
	case "streams/infer_schema":
		schema, err := st.InferSchema(r.Context(), req.Stream)
		if err != nil {
			s.eventError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"stream": req.Stream, "namespace": st.Namespace(), "schema": schema})
	case "streams/list":
		streams, err := st.Streams(r.Context())
		if err != nil {
			s.eventError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, streams)
	}
}

// tookKey holds, in the answer to a put, the milliseconds it took.
const tookKey = "@took"

func (s *Server) kronosPut(w http.ResponseWriter, r *http.Request, st *events.Store, req *kronosRequest) {
	if len(req.Events) == 0 {
		pankoError(w, http.StatusBadRequest, `no events: send {"events": {"stream": [{...}, ...]}}`)
		return
	}
	// The answer reports the time taken beside the streams' reports.
	if _, ok := req.Events[tookKey]; ok {
		pankoError(w, http.StatusBadRequest, "stream name %q is reserved: the answer reports the time taken under it", tookKey)
		return
	}
	start := time.Now()
	// One transaction for every stream of the request.
	results, err := st.PutStreams(r.Context(), req.Events)
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	out := map[string]any{}
	for name, res := range results {
		out[name] = report(res, nil)
	}
	out[tookKey] = float64(time.Since(start).Microseconds()) / 1000
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) kronosGet(w http.ResponseWriter, r *http.Request, st *events.Store, req *kronosRequest) {
	q := &events.StreamQuery{Stream: req.Stream}
	var err error
	if q.Start, err = kronosTime(req.StartTime, "start_time"); err != nil {
		s.eventError(w, r, err)
		return
	}
	if q.End, err = kronosTime(req.EndTime, "end_time"); err != nil {
		s.eventError(w, r, err)
		return
	}
	switch strings.ToLower(req.Order) {
	case "", "ascending", "asc":
	case "descending", "desc":
		q.Desc = true
	default:
		pankoError(w, http.StatusBadRequest, "order %q: want ascending or descending", req.Order)
		return
	}
	if req.Limit != nil {
		if *req.Limit <= 0 {
			pankoError(w, http.StatusBadRequest, "limit %d: want a positive number (leave it out for every event)", *req.Limit)
			return
		}
		q.Limit = *req.Limit
	}
	objs, err := st.GetStream(r.Context(), q)
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, objs)
}

func (s *Server) kronosDelete(w http.ResponseWriter, r *http.Request, st *events.Store, req *kronosRequest) {
	start, err := kronosTime(req.StartTime, "start_time")
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	end, err := kronosTime(req.EndTime, "end_time")
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	n, err := st.DeleteStream(r.Context(), req.Stream, start, end)
	if err != nil {
		s.eventError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{req.Stream: map[string]any{"num_deleted": n}})
}
