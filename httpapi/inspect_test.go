package httpapi_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/httpapi"
	"github.com/strata-dataspace/strata/inspect/inspecttest"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// inspectServer serves a seeded dataspace of backend (an empty one when
// empty is true).
func inspectServer(t *testing.T, backend string, empty bool) *httptest.Server {
	t.Helper()
	space := inspecttest.Open(t, backend)
	if !empty {
		space = inspecttest.Seeded(t, backend)
	}
	now := inspecttest.T0.Add(time.Hour)
	srv := httptest.NewServer(httpapi.New(space, &httpapi.Config{Clock: func() time.Time { return now }}))
	t.Cleanup(srv.Close)
	return srv
}

// fetch GETs path and decodes the JSON body.
func fetch(t *testing.T, srv *httptest.Server, path string) (int, any) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), path)
	var v any
	require.NoError(t, json.Unmarshal(body, &v), "%s: %s", path, body)
	return resp.StatusCode, v
}

func TestInspectAPI(t *testing.T) {
	t.Parallel()
	for _, backend := range inspecttest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			srv := inspectServer(t, backend, false)
			ok := func(t *testing.T, path string) any {
				t.Helper()
				code, v := fetch(t, srv, path)
				require.Equal(t, http.StatusOK, code, "%s: %v", path, v)
				return v
			}

			t.Run("TaskManagers", func(t *testing.T) {
				tms := ok(t, "/api/taskmanagers").([]any)
				require.Len(t, tms, 3)
				jobs := tms[1].(map[string]any)
				require.Equal(t, "jobs", jobs["name"])
				require.EqualValues(t, 3, jobs["last_generation"])
				require.EqualValues(t, 5, jobs["products"])
				require.Equal(t, "2026-01-02T03:06:00Z", jobs["last_cycle"])
			})

			t.Run("Generations", func(t *testing.T) {
				gens := ok(t, "/api/taskmanagers/jobs/generations").([]any)
				require.Len(t, gens, 3)
				g1 := gens[0].(map[string]any)
				require.EqualValues(t, 1, g1["generation"])
				require.EqualValues(t, 4, g1["written"])
				require.Equal(t, true, g1["sealed"])
				require.Equal(t, false, gens[2].(map[string]any)["sealed"])
				gens = ok(t, "/api/taskmanagers/jobs/generations?after=1&limit=1").([]any)
				require.Len(t, gens, 1)
				require.EqualValues(t, 2, gens[0].(map[string]any)["generation"])
			})

			t.Run("Products", func(t *testing.T) {
				v := ok(t, "/api/taskmanagers/jobs/products?generation=1").(map[string]any)
				require.EqualValues(t, 1, v["block"].(map[string]any)["generation"])
				ps := v["products"].([]any)
				require.Len(t, ps, 4)
				jobs := ps[2].(map[string]any)
				require.Equal(t, "jobs", jobs["key"])
				require.EqualValues(t, 2, jobs["rows"])
				require.Equal(t, "JobSource", jobs["creator"])
				require.Nil(t, ps[0].(map[string]any)["rows"])
			})

			t.Run("Product", func(t *testing.T) {
				v := ok(t, "/api/taskmanagers/jobs/products/jobs").(map[string]any)
				require.Equal(t, true, v["tabular"])
				require.Equal(t, []any{"id", "site", "cpu"}, v["columns"])
				require.Len(t, v["rows"], 3)
				require.Equal(t, false, v["truncated"])

				q := url.Values{"query": {`cpu > 4 && site != "x'; DROP TABLE product;"`}, "columns": {"site,cpu"}}
				v = ok(t, "/api/taskmanagers/jobs/products/jobs?"+q.Encode()).(map[string]any)
				require.Equal(t, []any{map[string]any{"site": "CERN", "cpu": 16.0}}, v["rows"])

				v = ok(t, "/api/taskmanagers/jobs/products/jobs?limit=2").(map[string]any)
				require.Len(t, v["rows"], 2)
				require.Equal(t, true, v["truncated"])

				v = ok(t, "/api/taskmanagers/jobs/products/alerts").(map[string]any)
				require.Equal(t, false, v["tabular"])
				require.Equal(t, "disk almost full", v["value"])
				v = ok(t, "/api/taskmanagers/jobs/products/facts?generation=1").(map[string]any)
				require.Equal(t, map[string]any{"allow": true}, v["value"])
			})

			t.Run("HeaderMetadataHistory", func(t *testing.T) {
				v := ok(t, "/api/taskmanagers/jobs/products/jobs/header").(map[string]any)
				require.Equal(t, "JobSource", v["header"].(map[string]any)["creator"])
				v = ok(t, "/api/taskmanagers/jobs/products/jobs/metadata?generation=1").(map[string]any)
				require.Equal(t, "NEW", v["metadata"].(map[string]any)["state"])
				v = ok(t, "/api/taskmanagers/jobs/products/jobs/history").(map[string]any)
				require.Len(t, v["versions"], 2)
				v = ok(t, "/api/taskmanagers/jobs/products/jobs/history?limit=1").(map[string]any)
				require.Len(t, v["versions"], 1)
				v = ok(t, "/api/taskmanagers/jobs/products/jobs/history?until=2026-01-02T03:04:30Z").(map[string]any)
				require.Len(t, v["versions"], 1)
				// A duration ago, as the CLI's --since takes it, on the server's
				// clock (T0 + 1h): 59m30s ago is 03:04:30, after generation 1.
				v = ok(t, "/api/taskmanagers/jobs/products/jobs/history?since=59m30s").(map[string]any)
				require.Len(t, v["versions"], 1)
				require.EqualValues(t, 2, v["versions"].([]any)[0].(map[string]any)["from_generation"])
				v = ok(t, "/api/taskmanagers/jobs/products/jobs/history?since=1d").(map[string]any)
				require.Len(t, v["versions"], 2)
			})

			t.Run("Diff", func(t *testing.T) {
				v := ok(t, "/api/taskmanagers/jobs/diff?from=1&to=3").(map[string]any)
				require.EqualValues(t, 1, v["from"].(map[string]any)["generation"])
				require.EqualValues(t, 3, v["to"].(map[string]any)["generation"])
				changes := v["changes"].([]any)
				require.Len(t, changes, 9)
				jobs := changes[5].(map[string]any)
				require.Equal(t, "changed", jobs["change"])
				require.EqualValues(t, 2, jobs["rows_added"])
				require.EqualValues(t, 1, jobs["rows_removed"])
				require.Equal(t, map[string]any{"cpu": 8.0, "id": 2.0, "site": "CERN"}, changes[6].(map[string]any)["row"])
			})

			t.Run("Status", func(t *testing.T) {
				v := ok(t, "/api/status").(map[string]any)
				require.Len(t, v["taskmanagers"], 3)
				r := v["reaper"].(map[string]any)
				require.Equal(t, true, r["found"])
				require.Equal(t, "IDLE", r["state"])
				require.EqualValues(t, 7, r["report"].(map[string]any)["generations_deleted"])
			})

			t.Run("Errors", func(t *testing.T) {
				for _, c := range []struct {
					path string
					code int
					want string
				}{
					{"/api/taskmanagers/nope/generations", 404, `unknown task manager "nope"`},
					{"/api/taskmanagers/nope/products", 404, `unknown task manager "nope"`},
					{"/api/taskmanagers/jobs/products?generation=9", 404, `unknown generation 9`},
					{"/api/taskmanagers/jobs/products/nothing", 404, `unknown product "nothing"`},
					{"/api/taskmanagers/jobs/products/nothing/header", 404, `unknown product "nothing"`},
					{"/api/taskmanagers/jobs/products/nothing/history", 404, `nothing ever produced it`},
					{"/api/taskmanagers/jobs/products/jobs?query=" + url.QueryEscape("cpu >"), 400, `bad query expression "cpu >"`},
					{"/api/taskmanagers/jobs/products/jobs?query=" + url.QueryEscape("site > 1"), 400, `on row 1`},
					{"/api/taskmanagers/jobs/products/jobs?columns=memory", 400, `column "memory"`},
					{"/api/taskmanagers/jobs/products/jobs?generation=x", 400, `generation="x"`},
					{"/api/taskmanagers/jobs/diff?from=1", 400, `diff needs two generation numbers`},
					{"/api/taskmanagers/jobs/diff?from=1&to=8", 404, `unknown generation 8`},
					{"/api/taskmanagers/jobs/products/jobs/history?since=soon", 400, `since="soon"`},
				} {
					code, v := fetch(t, srv, c.path)
					require.Equal(t, c.code, code, c.path)
					msg := v.(map[string]any)["error"].(string)
					require.Contains(t, msg, c.want, c.path)
					require.NotContains(t, msg, "\n")
				}
			})
		})
	}
}

func TestInspectAPIEmptyDatabase(t *testing.T) {
	t.Parallel()
	for _, backend := range inspecttest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			srv := inspectServer(t, backend, true)
			code, v := fetch(t, srv, "/api/taskmanagers")
			require.Equal(t, 200, code)
			require.Equal(t, []any{}, v)
			code, v = fetch(t, srv, "/api/status")
			require.Equal(t, 200, code)
			require.Equal(t, false, v.(map[string]any)["reaper"].(map[string]any)["found"])
			code, _ = fetch(t, srv, "/api/taskmanagers/jobs/generations")
			require.Equal(t, 404, code)

			resp, err := http.Get(srv.URL + "/ui/")
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode)
			require.Contains(t, string(body), "No task manager has written anything yet")
		})
	}
}

// TestInspectPages renders every page without a browser (the browser test
// clicks through them) and checks errors become pages with the right code.
func TestInspectPages(t *testing.T) {
	t.Parallel()
	srv := inspectServer(t, "sqlite", false)
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/ui/", 200, "<h1 id=\"title\">Overview</h1>"},
		{"/ui", 200, "strata.reaper"},
		{"/ui/tm/jobs", 200, "diff with 2"},
		{"/ui/tm/jobs/g/2", 200, "JobSource"},
		{"/ui/tm/jobs/g/2/p/jobs", 200, "DESY"},
		{"/ui/tm/jobs/g/2/p/jobs?query=" + url.QueryEscape(`site == "CERN"`), 200, "1 of 3 rows"},
		{"/ui/tm/jobs/g/2/p/jobs?query=" + url.QueryEscape(`cpu >`), 200, "bad query expression"},
		{"/ui/tm/jobs/g/3/p/alerts", 200, "disk almost full"},
		{"/ui/tm/jobs/diff?from=1&amp;to=2", 400, "diff needs two generation numbers"},
		{"/ui/tm/jobs/diff?from=1&to=2", 200, `<td>-row</td>`},
		{"/ui/tm/nope", 404, `unknown task manager &#34;nope&#34;`},
		{"/ui/tm/jobs/g/9", 404, "unknown generation 9"},
		{"/ui/tm/jobs/g/x", 400, "want a whole number"},
		{"/ui/tm/jobs/g/1/p/nothing", 404, "nothing produced it"},
		{"/ui/assets/style.css", 200, "font"},
		{"/ui/assets/app.js", 200, "column-filter"},
	} {
		resp, err := http.Get(srv.URL + c.path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, c.code, resp.StatusCode, c.path)
		require.Contains(t, string(body), c.want, c.path)
		if strings.HasPrefix(c.path, "/ui/tm") || c.path == "/ui/" {
			require.NotContains(t, string(body), "http://", "no external resource: the page works offline")
			require.NotContains(t, string(body), "https://")
		}
	}
}

// TestInspectAPIStreamsLargeProducts reads a product larger than the
// response buffer, and checks that a query failing on a late row still ends
// the document with an "error" member.
func TestInspectAPIStreamsLargeProducts(t *testing.T) {
	t.Parallel()
	for _, backend := range inspecttest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			space := inspecttest.Open(t, backend)
			b, err := space.DataBlock(ctx, "big")
			require.NoError(t, err)
			rows := make([]map[string]any, 20_000)
			for i := range rows {
				rows[i] = map[string]any{"i": i, "name": strings.Repeat("x", 20)}
			}
			rows[len(rows)-1]["i"] = "not a number"
			require.NoError(t, b.Put(ctx, "rows", rows))
			srv := httptest.NewServer(httpapi.New(space, nil))
			t.Cleanup(srv.Close)

			code, v := fetch(t, srv, "/api/taskmanagers/big/products/rows?columns=i")
			require.Equal(t, 200, code)
			got := v.(map[string]any)["rows"].([]any)
			require.Len(t, got, 20_000)
			require.Equal(t, map[string]any{"i": 19_998.0}, got[19_998])

			code, v = fetch(t, srv, "/api/taskmanagers/big/products/rows?query="+url.QueryEscape("i >= 0"))
			require.Equal(t, 200, code, "the rows were on their way when the error came")
			doc := v.(map[string]any)
			require.Len(t, doc["rows"], 19_999)
			require.Contains(t, doc["error"], "on row 20000")

			code, v = fetch(t, srv, "/api/taskmanagers/big/generations")
			require.Equal(t, 200, code)
			require.Len(t, v, 1)

			// A client that goes away once the first part arrived: the
			// server stops reading the value instead of encoding it all.
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			w := &cancelingWriter{ResponseRecorder: httptest.NewRecorder(), cancel: cancel}
			req := httptest.NewRequest(http.MethodGet, "/api/taskmanagers/big/products/rows", nil).WithContext(rctx)
			httpapi.New(space, nil).ServeHTTP(w, req)
			require.Equal(t, 200, w.Code)
			require.Less(t, w.Body.Len(), 200<<10, "stopped soon after the client left (the whole document is about 700 KB)")
		})
	}
}

// A browser opening the server's root lands on the page; API clients keep
// getting the Panko version document there.
func TestRootServesBrowsersThePage(t *testing.T) {
	t.Parallel()
	srv := inspectServer(t, "sqlite", false)

	req, err := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "/ui/", resp.Request.URL.Path, "redirected to the page")
	require.Contains(t, string(body), `<h1 id="title">Overview</h1>`)

	resp, err = http.Get(srv.URL + "/")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	require.Contains(t, string(body), `"versions"`)
}

// TestInspectPagesOddNames follows the page's own links for a task manager
// name and a product key holding characters that mean something in a URL
// ("/", "?", "#", "%", a space), and reads the same product through the API.
func TestInspectPagesOddNames(t *testing.T) {
	t.Parallel()
	const name, key = "odd name#1", "a?b/c %d"
	for _, backend := range inspecttest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			space := inspecttest.Open(t, backend)
			b, err := space.DataBlock(ctx, name)
			require.NoError(t, err)
			require.NoError(t, b.Put(ctx, key, []map[string]string{{"site": "first"}}))
			next, err := b.Duplicate(ctx)
			require.NoError(t, err)
			require.NoError(t, next.Put(ctx, key, []map[string]string{{"site": "second"}}))
			srv := httptest.NewServer(httpapi.New(space, nil))
			t.Cleanup(srv.Close)

			get := func(path string) string {
				t.Helper()
				resp, err := http.Get(srv.URL + path)
				require.NoError(t, err)
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
				return string(body)
			}
			// link returns the unique href of the page that starts with prefix.
			link := func(page, prefix string) string {
				t.Helper()
				re := regexp.MustCompile(`(?:href|action)="(` + regexp.QuoteMeta(prefix) + `[^"]*)"`)
				m := re.FindStringSubmatch(page)
				require.NotNil(t, m, "no link starting with %s", prefix)
				return html.UnescapeString(m[1])
			}

			tmPath := "/ui/tm/" + url.PathEscape(name)
			home := get("/ui/")
			require.Equal(t, tmPath, link(home, "/ui/tm/odd"))
			genPage := get(link(home, tmPath+"/g/"))
			productPath := link(genPage, tmPath+"/g/2/p/")
			require.Equal(t, tmPath+"/g/2/p/"+url.PathEscape(key), productPath)
			require.Contains(t, get(productPath), "<td>second</td>")

			timeline := get(tmPath)
			require.Equal(t, tmPath+"/diff", link(timeline, tmPath+"/diff"), "the diff form's action")
			diff := get(link(timeline, tmPath+"/diff?from=1"))
			require.Contains(t, diff, `{&#34;site&#34;:&#34;second&#34;}`)
			require.Equal(t, tmPath+"/g/1", link(diff, tmPath+"/g/1"))

			code, v := fetch(t, srv, "/api/taskmanagers/"+url.PathEscape(name)+"/products/"+url.PathEscape(key)+"?generation=1")
			require.Equal(t, http.StatusOK, code, v)
			require.Equal(t, []any{map[string]any{"site": "first"}}, v.(map[string]any)["rows"])
		})
	}
}

// cancelingWriter cancels the request's context at its first write, as a
// client that disconnects once the response started.
type cancelingWriter struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (w *cancelingWriter) Write(b []byte) (int, error) {
	w.cancel()
	return w.ResponseRecorder.Write(b)
}
