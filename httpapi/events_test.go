package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/events"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// eventBackends runs fn on a server over a fresh SQLite and PostgreSQL
// dataspace holding a few events.
func eventBackends(t *testing.T, cfg *Config, fn func(t *testing.T, srv *httptest.Server)) {
	t.Helper()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			url := "sqlite://" + filepath.Join(t.TempDir(), "strata.db")
			if backend == "postgres" {
				url = pgtest.NewDatabase(t)
			}
			ctx := context.Background()
			space, err := dataspace.Open(ctx, url, nil)
			require.NoError(t, err)
			t.Cleanup(func() { space.Close() })
			st, err := events.Open(ctx, space, nil)
			require.NoError(t, err)
			res, err := st.Record(ctx, []*events.Event{
				{MessageID: "e1", EventType: "compute.instance.create.end", Generated: t0, Raw: json.RawMessage(`{"k": "v"}`),
					Traits: []events.Trait{{Name: "host", Type: events.TypeString, Value: "node 1"}, {Name: "vcpus", Type: events.TypeInteger, Value: int64(4)}}},
				{MessageID: "e2", EventType: "compute.instance.create.end", Generated: t0.Add(time.Minute),
					Traits: []events.Trait{{Name: "host", Type: events.TypeString, Value: "node2"}, {Name: "vcpus", Type: events.TypeInteger, Value: int64(16)}}},
				{MessageID: "e3", EventType: "compute.instance.delete.end", Generated: t0.Add(2 * time.Minute),
					Traits: []events.Trait{{Name: "host", Type: events.TypeString, Value: "node 1"}, {Name: "load", Type: events.TypeFloat, Value: 0.5}}},
			})
			require.NoError(t, err)
			require.Equal(t, 3, res.Stored)
			var c Config
			if cfg != nil {
				c = *cfg
			}
			c.Clock = func() time.Time { return t0.Add(time.Hour) }
			srv := httptest.NewServer(New(space, &c))
			t.Cleanup(srv.Close)
			fn(t, srv)
		})
	}
}

// call does one request and returns the status and the decoded JSON body;
// it checks every answer is JSON.
func call(t *testing.T, srv *httptest.Server, method, path, contentType, body string, header ...string) (int, any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s %s: %s", method, path, b)
	var v any
	require.NoError(t, json.Unmarshal(b, &v), "%s %s: %s", method, path, b)
	return resp.StatusCode, v
}

func get(t *testing.T, srv *httptest.Server, path string) (int, any) {
	t.Helper()
	return call(t, srv, http.MethodGet, path, "", "")
}

func messageIDs(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	require.True(t, ok, "%v", v)
	out := []string{}
	for _, e := range list {
		out = append(out, e.(map[string]any)["message_id"].(string))
	}
	return out
}

func faultstring(t *testing.T, v any) string {
	t.Helper()
	m, ok := v.(map[string]any)["error_message"].(map[string]any)
	require.True(t, ok, "Panko error body: %v", v)
	return m["faultstring"].(string)
}

func TestPankoAPI(t *testing.T) {
	t.Parallel()
	eventBackends(t, nil, func(t *testing.T, srv *httptest.Server) {
		code, v := get(t, srv, "/")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "v2", v.(map[string]any)["versions"].(map[string]any)["values"].([]any)[0].(map[string]any)["id"])
		for _, p := range []string{"/v2/capabilities", "/v2/capabilities/"} {
			code, v = get(t, srv, p)
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, true, v.(map[string]any)["api"].(map[string]any)["events:query:simple"])
		}

		for _, tc := range []struct {
			path string
			want []string
		}{
			{"/v2/events", []string{"e1", "e2", "e3"}},
			{"/v2/events/", []string{"e1", "e2", "e3"}},
			{"/v2/events?q.field=event_type&q.op=eq&q.value=compute.instance.create.end", []string{"e1", "e2"}},
			{"/v2/events?q.field=host&q.op=eq&q.value=node%201", []string{"e1", "e3"}},
			{"/v2/events?q.field=event_type&q.op=eq&q.value=compute.instance.create.end&q.field=end_timestamp&q.op=eq&q.value=2026-03-01T12:00:30", []string{"e1"}},
			{"/v2/events?q.field=host&q.value=node%201&q.field=event_type&q.value=compute.instance.delete.end", []string{"e3"}},
			{"/v2/events?q.field=vcpus&q.op=gt&q.value=4&q.type=integer", []string{"e2"}},
			{"/v2/events?q.field=load&q.op=le&q.value=0.5&q.type=float", []string{"e3"}},
			{"/v2/events?q.field=message_id&q.op=eq&q.value=e2", []string{"e2"}},
			{"/v2/events?q.field=start_timestamp&q.op=ge&q.value=2026-03-01T12:01:00&q.field=end_timestamp&q.op=lt&q.value=2026-03-01T12:02:00", []string{"e2"}},
			{"/v2/events?q.field=start_timestamp&q.op=gt&q.value=2026-03-01T12:01:00", []string{"e3"}},
			{"/v2/events?q.field=end_timestamp&q.op=le&q.value=2026-03-01T12:01:00", []string{"e1", "e2"}},
			{"/v2/events?sort=generated:desc", []string{"e3", "e2", "e1"}},
			{"/v2/events?sort=message_id:desc&limit=2", []string{"e3", "e2"}},
			{"/v2/events?limit=1&marker=e1", []string{"e2"}},
			{"/v2/events?sort=generated:desc&limit=5&marker=e2", []string{"e1"}},
			{"/v2/events?q.field=host&q.op=eq&q.value=nowhere", []string{}},
		} {
			code, v := get(t, srv, tc.path)
			require.Equal(t, http.StatusOK, code, "%s: %v", tc.path, v)
			require.Equal(t, tc.want, messageIDs(t, v), tc.path)
		}

		code, v = get(t, srv, "/v2/events/e1")
		require.Equal(t, http.StatusOK, code)
		js, _ := json.Marshal(v)
		require.JSONEq(t, `{"message_id": "e1", "event_type": "compute.instance.create.end", "generated": "2026-03-01T12:00:00",
			"traits": [{"name": "host", "type": "string", "value": "node 1"}, {"name": "vcpus", "type": "integer", "value": "4"}],
			"raw": {"k": "v"}}`, string(js))
		code, _ = get(t, srv, "/v2/events/e1/")
		require.Equal(t, http.StatusOK, code)

		for _, tc := range []struct {
			path string
			code int
			want string
		}{
			{"/v2/events/nope", http.StatusNotFound, "Event nope Not Found"},
			{"/v2/nothing", http.StatusNotFound, "no such resource"},
			{"/v2/events?q.field=host&q.op=like&q.value=x", http.StatusBadRequest, `operator "like"`},
			{"/v2/events?q.field=vcpus&q.op=gt&q.value=x&q.type=integer", http.StatusBadRequest, `"x" is not an integer`},
			{"/v2/events?q.field=vcpus&q.op=gt&q.value=1&q.type=blob", http.StatusBadRequest, `trait type "blob"`},
			{"/v2/events?q.field=event_type&q.op=ne&q.value=x", http.StatusBadRequest, "only eq"},
			{"/v2/events?q.field=start_timestamp&q.op=ne&q.value=2026-03-01T12:00:00", http.StatusBadRequest, "use ge, gt, le or lt"},
			{"/v2/events?q.field=start_timestamp&q.value=yesterday", http.StatusBadRequest, `time "yesterday"`},
			{"/v2/events?q.field=host", http.StatusBadRequest, "one q.value per q.field"},
			{"/v2/events?limit=0", http.StatusBadRequest, "limit"},
			{"/v2/events?limit=ten", http.StatusBadRequest, "limit"},
			{"/v2/events?limit=10001", http.StatusBadRequest, "maximum of 10000"},
			{"/v2/events?sort=size:asc", http.StatusBadRequest, `sort key "size"`},
			{"/v2/events?sort=generated:up", http.StatusBadRequest, "sort direction"},
			{"/v2/events?marker=nope", http.StatusBadRequest, `marker "nope"`},
		} {
			code, v := get(t, srv, tc.path)
			require.Equal(t, tc.code, code, "%s: %v", tc.path, v)
			require.Contains(t, faultstring(t, v), tc.want, tc.path)
		}
		code, v = call(t, srv, http.MethodDelete, "/v2/events/e1", "", "")
		require.Equal(t, http.StatusMethodNotAllowed, code)
		require.Contains(t, faultstring(t, v), "not allowed")

		code, v = get(t, srv, "/v2/event_types/")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, []any{"compute.instance.create.end", "compute.instance.delete.end"}, v)
		code, v = get(t, srv, "/v2/event_types/compute.instance.create.end/traits/")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, []any{map[string]any{"name": "host", "type": "string"}, map[string]any{"name": "vcpus", "type": "integer"}}, v)
		code, v = get(t, srv, "/v2/event_types/compute.instance.create.end/traits/host")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, []any{map[string]any{"name": "host", "type": "string", "value": "node 1"}, map[string]any{"name": "host", "type": "string", "value": "node2"}}, v)
		for _, p := range []string{"/v2/event_types/unknown/traits", "/v2/event_types/unknown/traits/host", "/v2/event_types/compute.instance.create.end/traits/nothing/"} {
			code, v = get(t, srv, p)
			require.Equal(t, http.StatusOK, code, p)
			require.Equal(t, []any{}, v, p)
		}
	})
}

func TestPankoRecord(t *testing.T) {
	t.Parallel()
	eventBackends(t, nil, func(t *testing.T, srv *httptest.Server) {
		code, v := call(t, srv, http.MethodPost, "/v2/events", "text/plain", `[]`)
		require.Equal(t, http.StatusUnsupportedMediaType, code)
		require.Contains(t, faultstring(t, v), "Content-Type: application/json")
		code, v = call(t, srv, http.MethodPost, "/v2/events", "application/json", `[{`)
		require.Equal(t, http.StatusBadRequest, code)
		require.Contains(t, faultstring(t, v), "not valid JSON")
		code, v = call(t, srv, http.MethodPost, "/v2/events/", "application/json; charset=utf-8", `[
			{"message_id": "n1", "event_type": "new", "traits": [{"name": "a", "type": "integer", "value": 1}]},
			{"message_id": "e1", "event_type": "new"},
			{"message_id": "n2", "event_type": "new", "traits": [{"name": "a", "type": "integer", "value": "x"}]},
			{"message_id": "n3"},
			{"event_type": "new"}
		]`)
		require.Equal(t, http.StatusOK, code, "%v", v)
		// The store assigned the last event's id: the answer gives it.
		ids := v.(map[string]any)["message_ids"].([]any)
		require.Len(t, ids, 5)
		assigned := ids[4].(string)
		require.NotEmpty(t, assigned)
		require.Equal(t, []any{"n1", "e1", "", "n3", assigned}, ids)
		code, got := get(t, srv, "/v2/events/"+assigned)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "new", got.(map[string]any)["event_type"])
		js, _ := json.Marshal(v)
		require.JSONEq(t, `{"stored": 2, "duplicates": 1, "rejected": 2, "message_ids": ["n1", "e1", "", "n3", "`+assigned+`"], "errors": [
			{"index": 1, "message_id": "e1", "status": "duplicate", "reason": "\"e1\" is already recorded"},
			{"index": 2, "status": "rejected", "reason": "trait \"a\": \"x\" is not an integer"},
			{"index": 3, "message_id": "n3", "status": "rejected", "reason": "event \"n3\" has no event_type"}
		]}`, string(js))
		code, v = get(t, srv, "/v2/events/n1")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "new", v.(map[string]any)["event_type"])
	})
}

func TestEventToken(t *testing.T) {
	t.Parallel()
	eventBackends(t, &Config{Token: "s3cret"}, func(t *testing.T, srv *httptest.Server) {
		code, v := get(t, srv, "/v2/events")
		require.Equal(t, http.StatusUnauthorized, code)
		require.Contains(t, faultstring(t, v), "X-Auth-Token")
		code, _ = call(t, srv, http.MethodGet, "/v2/events", "", "", "X-Auth-Token", "wrong")
		require.Equal(t, http.StatusUnauthorized, code)
		code, v = call(t, srv, http.MethodGet, "/v2/events", "", "", "X-Auth-Token", "s3cret")
		require.Equal(t, http.StatusOK, code)
		require.Len(t, v, 3)
		code, _ = call(t, srv, http.MethodPost, "/1.0/events/get", "application/json", `{"stream": "x"}`)
		require.Equal(t, http.StatusUnauthorized, code)
		code, _ = get(t, srv, "/")
		require.Equal(t, http.StatusOK, code, "the version document is public")
	})
}

func TestKronosAPI(t *testing.T) {
	t.Parallel()
	eventBackends(t, nil, func(t *testing.T, srv *httptest.Server) {
		k := func(m int) int64 { return events.KronosTime(t0.Add(time.Duration(m) * time.Minute)) }
		body, _ := json.Marshal(map[string]any{"namespace": "web", "events": map[string]any{
			"clicks": []any{
				map[string]any{"@time": k(0), "user": "a", "n": 1},
				map[string]any{"@time": k(1), "user": "b", "n": 2},
				map[string]any{"@time": k(2), "user": "a", "n": 3.5},
				"not an object",
			},
			"views": []any{map[string]any{"@id": "v1", "page": "/"}},
		}})
		code, v := call(t, srv, http.MethodPost, "/1.0/events/put", "application/json", string(body))
		require.Equal(t, http.StatusOK, code, "%v", v)
		m := v.(map[string]any)
		require.EqualValues(t, 3, m["clicks"].(map[string]any)["stored"])
		require.EqualValues(t, 1, m["clicks"].(map[string]any)["rejected"])
		require.EqualValues(t, 1, m["views"].(map[string]any)["stored"])

		code, v = call(t, srv, http.MethodPost, "/1.0/events/get", "application/json",
			`{"namespace": "web", "stream": "clicks", "start_time": `+jsonInt(k(1))+`, "end_time": "2026-03-01T12:05:00Z"}`)
		require.Equal(t, http.StatusOK, code, "%v", v)
		require.Len(t, v, 2)
		require.Equal(t, "b", v.([]any)[0].(map[string]any)["user"])

		code, v = call(t, srv, http.MethodPost, "/1.0/events/get?namespace=web", "application/json", `{"stream": "clicks", "order": "descending", "limit": 1}`)
		require.Equal(t, http.StatusOK, code)
		require.Len(t, v, 1)
		require.EqualValues(t, 3.5, v.([]any)[0].(map[string]any)["n"])

		code, v = get(t, srv, "/1.0/streams/list?namespace=web")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, []any{"clicks", "views"}, v)
		code, v = get(t, srv, "/1.0/streams/list/")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, []any{"compute.instance.create.end", "compute.instance.delete.end"}, v, "the default namespace holds the Panko events")

		code, v = call(t, srv, http.MethodPost, "/1.0/streams/infer_schema", "application/json", `{"namespace": "web", "stream": "clicks"}`)
		require.Equal(t, http.StatusOK, code)
		schema := v.(map[string]any)["schema"].(map[string]any)
		require.Equal(t, map[string]any{"type": "number"}, schema["properties"].(map[string]any)["n"])
		require.Equal(t, []any{"@id", "@time", "n", "user"}, schema["required"])

		code, v = call(t, srv, http.MethodPost, "/1.0/events/delete", "application/json", `{"namespace": "web", "stream": "clicks", "end_time": `+jsonInt(k(2))+`}`)
		require.Equal(t, http.StatusOK, code)
		require.EqualValues(t, 2, v.(map[string]any)["clicks"].(map[string]any)["num_deleted"])

		for _, tc := range []struct {
			method, path, ctype, body string
			code                      int
			want                      string
		}{
			{http.MethodPost, "/1.0/events/put", "text/plain", `{}`, http.StatusUnsupportedMediaType, "must be JSON"},
			{http.MethodPost, "/1.0/events/put", "application/json", `{}`, http.StatusBadRequest, "no events"},
			{http.MethodPost, "/1.0/events/get", "application/json", `{"stream": "clicks", "order": "sideways"}`, http.StatusBadRequest, "order"},
			{http.MethodPost, "/1.0/events/get", "application/json", `{"stream": "clicks", "limit": 0}`, http.StatusBadRequest, "limit"},
			{http.MethodPost, "/1.0/events/get", "application/json", `{"stream": "clicks", "start_time": 1.5}`, http.StatusBadRequest, "Kronos time"},
			{http.MethodPost, "/1.0/events/get", "application/json", `{}`, http.StatusBadRequest, "no stream"},
			{http.MethodPost, "/1.0/streams/infer_schema", "application/json", `{"stream": "nothing"}`, http.StatusNotFound, "no events"},
			{http.MethodGet, "/1.0/events/get", "", ``, http.StatusMethodNotAllowed, "use POST"},
			{http.MethodGet, "/1.0/nothing", "", ``, http.StatusNotFound, "no such resource"},
		} {
			code, v := call(t, srv, tc.method, tc.path, tc.ctype, tc.body)
			require.Equal(t, tc.code, code, "%s %s: %v", tc.method, tc.path, v)
			require.Contains(t, faultstring(t, v), tc.want, tc.path)
		}
	})
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
