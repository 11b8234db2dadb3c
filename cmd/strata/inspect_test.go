package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/httpapi"
	"github.com/strata-dataspace/strata/inspect/inspecttest"
	"github.com/strata-dataspace/strata/internal/output"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// runInspect runs `strata inspect ARGS…` through the root command and
// returns stdout and the error.
func runInspect(t *testing.T, db, format string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmdIO(&out, &bytes.Buffer{})
	root.SetArgs(append([]string{"inspect", "--db", db, "--format", format}, args...))
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// seededDB returns the URL of a database holding inspecttest.Seed.
func seededDB(t *testing.T, backend string) string {
	t.Helper()
	url := inspecttest.URL(t, backend)
	s, err := dataspace.Open(context.Background(), url, nil)
	require.NoError(t, err)
	require.NoError(t, inspecttest.Seed(context.Background(), s))
	require.NoError(t, s.Close())
	return url
}

func jsonRows(t *testing.T, out string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
	return rows
}

func TestInspectCommand(t *testing.T) {
	t.Parallel()
	for _, backend := range inspecttest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := seededDB(t, backend)
			run := func(t *testing.T, format string, args ...string) string {
				t.Helper()
				out, err := runInspect(t, db, format, args...)
				require.NoError(t, err)
				return out
			}

			// Every command in every format: JSON parses, CSV has a header
			// and the rows, table and vertical name the same values.
			commands := []struct {
				args []string
				rows int
				has  string
			}{
				{[]string{"taskmanagers"}, 3, "strata.reaper"},
				{[]string{"generations", "jobs"}, 3, "2026-01-02T03:05:00"},
				{[]string{"products", "jobs"}, 5, "JobSource"},
				{[]string{"products", "jobs", "--generation", "1"}, 4, "publishers"},
				{[]string{"product", "jobs", "jobs"}, 3, "DESY"},
				{[]string{"product", "jobs", "jobs", "--types"}, 3, "number"},
				{[]string{"header", "jobs", "jobs"}, 1, "JobSource"},
				{[]string{"metadata", "jobs", "jobs", "-g", "1"}, 1, "NEW"},
				{[]string{"history", "jobs", "jobs"}, 2, "JobSource"},
				{[]string{"diff", "jobs", "1", "3"}, 9, "DESY"},
				{[]string{"status"}, 4, "IDLE"},
			}
			for _, c := range commands {
				t.Run(strings.Join(c.args, "_"), func(t *testing.T) {
					rows := jsonRows(t, run(t, "json", c.args...))
					require.Len(t, rows, c.rows)

					recs, err := csv.NewReader(strings.NewReader(run(t, "csv", c.args...))).ReadAll()
					require.NoError(t, err)
					require.Len(t, recs, c.rows+1)

					for _, f := range []string{"json", "csv", "table", "vertical"} {
						out := run(t, f, c.args...)
						if f == "csv" {
							out = strings.ReplaceAll(out, `""`, `"`)
						}
						require.Contains(t, out, c.has, f)
					}
					require.Equal(t, c.rows, strings.Count(run(t, "vertical", c.args...), ". row ***"))
				})
			}

			t.Run("TaskManagers", func(t *testing.T) {
				rows := jsonRows(t, run(t, "json", "taskmanagers"))
				require.Equal(t, "jobs", rows[1]["name"])
				require.EqualValues(t, 3, rows[1]["last_generation"])
				require.EqualValues(t, 5, rows[1]["products"])
				require.Equal(t, "2026-01-02T03:06:00Z", rows[1]["last_cycle"])
			})

			t.Run("Generations", func(t *testing.T) {
				rows := jsonRows(t, run(t, "json", "generations", "jobs"))
				require.EqualValues(t, 4, rows[0]["written"])
				require.Equal(t, true, rows[0]["sealed"])
				require.Equal(t, false, rows[2]["sealed"])
				rows = jsonRows(t, run(t, "json", "generations", "jobs", "--after", "1", "--limit", "1"))
				require.Len(t, rows, 1)
				require.EqualValues(t, 2, rows[0]["generation"])
				require.Equal(t, "GENERATION  TIME                         WRITTEN  BYTES  SEALED  SEALED_AT\n",
					strings.SplitAfter(run(t, "table", "generations", "jobs"), "\n")[0])
			})

			t.Run("ProductTable", func(t *testing.T) {
				out := run(t, "table", "product", "jobs", "jobs", "--columns", "site,cpu", "--query", `cpu > 4`)
				require.Equal(t, "SITE  CPU\nCERN  16\n", out)
				out = run(t, "csv", "product", "jobs", "jobs", "-g", "1")
				require.Equal(t, "id,site,cpu\n1,FNAL,4\n2,CERN,8\n", out)
				rows := jsonRows(t, run(t, "json", "product", "jobs", "jobs", "--query", `site == "FNAL"`))
				require.Equal(t, []map[string]any{{"id": 1.0, "site": "FNAL", "cpu": 4.0}}, rows)
				require.Equal(t, "[]\n", run(t, "json", "product", "jobs", "jobs", "--query", `site == "x'; DROP TABLE product; --"`))
			})

			t.Run("ProductScalarAndMap", func(t *testing.T) {
				for _, f := range output.Formats {
					require.Equal(t, "\"disk almost full\"\n", run(t, f, "product", "jobs", "alerts"))
					require.Equal(t, "{\n  \"threshold\": 5\n}\n", run(t, f, "product", "jobs", "config"))
				}
			})

			t.Run("Diff", func(t *testing.T) {
				rows := jsonRows(t, run(t, "json", "diff", "jobs", "1", "3"))
				require.Equal(t, "alerts", rows[0]["key"])
				require.Equal(t, "added", rows[0]["change"])
				require.Equal(t, "changed", rows[5]["change"])
				require.EqualValues(t, 2, rows[5]["rows_added"])
				require.EqualValues(t, 1, rows[5]["rows_removed"])
				require.Equal(t, map[string]any{"cpu": 8.0, "id": 2.0, "site": "CERN"}, rows[6]["row"])
				require.Equal(t, "-row", rows[6]["change"])
			})

			t.Run("StatusAge", func(t *testing.T) {
				// The age reads the same in every format: text, not
				// nanoseconds in JSON.
				rows := jsonRows(t, run(t, "json", "status"))
				age, ok := rows[0]["age"].(string)
				require.True(t, ok, "age %v is %T", rows[0]["age"], rows[0]["age"])
				_, err := time.ParseDuration(age)
				require.NoError(t, err)
			})

			t.Run("HistoryFilters", func(t *testing.T) {
				require.Len(t, jsonRows(t, run(t, "json", "history", "jobs", "jobs", "--limit", "1")), 1)
				require.Len(t, jsonRows(t, run(t, "json", "history", "jobs", "jobs", "--until", "2026-01-02T03:04:30Z")), 1)
				require.Empty(t, jsonRows(t, run(t, "json", "history", "jobs", "jobs", "--since", "2026-01-03")))
			})

			t.Run("Errors", func(t *testing.T) {
				for _, c := range []struct {
					args []string
					want string
				}{
					{[]string{"products", "nope"}, "unknown task manager \"nope\" (list them with `strata inspect taskmanagers`)"},
					{[]string{"product", "nope", "jobs"}, `unknown task manager "nope"`},
					{[]string{"product", "jobs", "nothing"}, `unknown product "nothing" in generation 3 of task manager "jobs": nothing produced it`},
					{[]string{"product", "jobs", "jobs", "--query", "cpu >"}, `bad query expression "cpu >"`},
					{[]string{"product", "jobs", "jobs", "--query", `site > 1`}, `bad query expression "site > 1" on row 1`},
					{[]string{"product", "jobs", "jobs", "--columns", "memory"}, `column "memory" is not in product "jobs"`},
					{[]string{"product", "jobs", "alerts", "--types"}, `--types needs a tabular product`},
					{[]string{"products", "jobs", "-g", "42"}, `unknown generation 42 of task manager "jobs" (it has generations 1 to 3`},
					{[]string{"diff", "jobs", "1", "x"}, `G2 "x" is not a generation number`},
					{[]string{"history", "jobs", "jobs", "--since", "yesterday"}, `--since "yesterday"`},
					{[]string{"generations", "jobs", "--follow", "--limit", "2"}, `--limit and --follow`},
				} {
					out, err := runInspect(t, db, "table", c.args...)
					require.Error(t, err, c.args)
					require.Contains(t, err.Error(), c.want)
					require.NotContains(t, err.Error(), "\n")
					require.Empty(t, out)
				}
			})
		})
	}
}

func TestInspectEmptyDatabase(t *testing.T) {
	t.Parallel()
	for _, backend := range inspecttest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := inspecttest.URL(t, backend)
			_, _, err := runStrata(t, "db", "migrate", "--db", db) // an empty, existing database
			require.NoError(t, err)
			out, err := runInspect(t, db, "json", "taskmanagers")
			require.NoError(t, err)
			require.Equal(t, "[]\n", out)
			out, err = runInspect(t, db, "table", "status")
			require.NoError(t, err)
			require.Contains(t, out, "no report")
			_, err = runInspect(t, db, "table", "generations", "jobs")
			require.ErrorContains(t, err, `unknown task manager "jobs"`)
		})
	}
}

// signalWriter collects output and signals each write on writes (at
// most one signal waits there unread).
type signalWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes chan struct{}
}

func newSignalWriter() *signalWriter { return &signalWriter{writes: make(chan struct{}, 1)} }

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	select {
	case w.writes <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestInspectGenerationsFollow(t *testing.T) {
	t.Parallel()
	db := seededDB(t, "sqlite")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newSignalWriter()
	root := newRootCmdIO(out, &bytes.Buffer{})
	root.SetArgs([]string{"inspect", "--db", db, "--format", "csv", "generations", "jobs", "--follow", "--interval", "10ms", "--after", "1"})
	root.SetOut(out)
	root.SetErr(&bytes.Buffer{})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for !strings.Contains(out.String(), want) {
			select {
			case <-out.writes:
			case <-deadline:
				t.Fatalf("no %q in the output: %q", want, out.String())
			}
		}
	}
	waitFor("\n3,")
	require.True(t, strings.HasPrefix(out.String(), "generation,time,written,bytes,sealed,sealed_at\n2,"), out.String())

	s, err := dataspace.Open(ctx, db, nil)
	require.NoError(t, err)
	defer s.Close()
	b, err := s.DataBlock(ctx, "jobs")
	require.NoError(t, err)
	b, err = b.Duplicate(ctx)
	require.NoError(t, err)
	require.NoError(t, b.Put(ctx, "late", 1))
	waitFor("\n4,")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "Ctrl-C ends --follow cleanly")
	case <-time.After(20 * time.Second):
		t.Fatal("--follow did not stop")
	}
}

// TestInspectCLIMatchesAPI reads every inspection through `strata inspect
// --format json` and through the JSON API of `strata serve` over the same
// database, and checks that they tell the same: every field the CLI prints
// has the API's value (a field the API leaves out is null in the CLI).
func TestInspectCLIMatchesAPI(t *testing.T) {
	t.Parallel()
	for _, backend := range inspecttest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := seededDB(t, backend)
			space, err := dataspace.Open(context.Background(), db, nil)
			require.NoError(t, err)
			t.Cleanup(func() { space.Close() })
			srv := httptest.NewServer(httpapi.New(space, nil))
			t.Cleanup(srv.Close)

			cli := func(args ...string) []map[string]any {
				t.Helper()
				out, err := runInspect(t, db, "json", args...)
				require.NoError(t, err, args)
				return jsonRows(t, out)
			}
			api := func(path string) any {
				t.Helper()
				resp, err := http.Get(srv.URL + path)
				require.NoError(t, err)
				defer resp.Body.Close()
				var v any
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&v), path)
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %v", path, v)
				return v
			}
			objects := func(v any) []map[string]any {
				t.Helper()
				var out []map[string]any
				for _, o := range v.([]any) {
					out = append(out, o.(map[string]any))
				}
				return out
			}
			// merge flattens API objects into one, later ones winning.
			merge := func(objs ...map[string]any) map[string]any {
				out := map[string]any{}
				for _, o := range objs {
					for k, v := range o {
						out[k] = v
					}
				}
				return out
			}
			same := func(what string, c, a []map[string]any) {
				t.Helper()
				require.Len(t, a, len(c), what)
				require.NotEmpty(t, c, what)
				for i := range c {
					for k, cv := range c[i] {
						av, ok := a[i][k]
						if !ok {
							// The API leaves out empty fields (omitempty).
							require.Contains(t, []any{nil, 0.0}, cv, "%s row %d: %s is %v in the CLI and absent from the API", what, i, k, cv)
							continue
						}
						require.Equal(t, av, cv, "%s row %d: %s", what, i, k)
					}
				}
			}

			same("taskmanagers", cli("taskmanagers"), objects(api("/api/taskmanagers")))
			same("generations", cli("generations", "jobs"), objects(api("/api/taskmanagers/jobs/generations")))
			for _, g := range []string{"1", "2", "3"} {
				p := api("/api/taskmanagers/jobs/products?generation=" + g).(map[string]any)
				same("products -g "+g, cli("products", "jobs", "-g", g), objects(p["products"]))
			}

			p := api("/api/taskmanagers/jobs/products/jobs?generation=2&columns=site,cpu&query=" + url.QueryEscape("cpu > 2")).(map[string]any)
			same("product rows", cli("product", "jobs", "jobs", "-g", "2", "--columns", "site,cpu", "--query", "cpu > 2"), objects(p["rows"]))
			same("product types", cli("product", "jobs", "jobs", "--types"), objects(api("/api/taskmanagers/jobs/products/jobs").(map[string]any)["types"]))
			out, err := runInspect(t, db, "json", "product", "jobs", "facts", "-g", "1")
			require.NoError(t, err)
			require.JSONEq(t, `{"allow": true}`, out)
			require.Equal(t, map[string]any{"allow": true}, api("/api/taskmanagers/jobs/products/facts?generation=1").(map[string]any)["value"])

			for _, which := range []string{"header", "metadata"} {
				h := api("/api/taskmanagers/jobs/products/jobs/" + which + "?generation=2").(map[string]any)
				block := h["block"].(map[string]any)
				want := merge(map[string]any{"taskmanager": block["taskmanager"], "generation": block["generation"], "key": h["key"]}, h[which].(map[string]any))
				same(which, cli(which, "jobs", "jobs", "-g", "2"), []map[string]any{want})
			}

			h := api("/api/taskmanagers/jobs/products/jobs/history").(map[string]any)
			same("history", cli("history", "jobs", "jobs"), objects(h["versions"]))

			d := api("/api/taskmanagers/jobs/diff?from=1&to=3").(map[string]any)
			same("diff", cli("diff", "jobs", "1", "3"), objects(d["changes"]))
		})
	}
}
