package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/internal/pgtest"
)

const eventLines = `{"message_id": "e1", "event_type": "compute.instance.create.end", "generated": "2026-03-01T12:00:00", "traits": [{"name": "host", "type": "string", "value": "node1"}, {"name": "vcpus", "type": "integer", "value": "4"}], "raw": {"a": 1}}
{"message_id": "e2", "event_type": "compute.instance.create.end", "generated": "2026-03-01T12:05:00", "traits": [{"name": "host", "type": "string", "value": "node2"}, {"name": "vcpus", "type": "integer", "value": 16}]}

{"message_id": "e1", "event_type": "compute.instance.delete.end", "generated": "2026-03-01T12:06:00"}
{"message_id": "e3", "event_type": "compute.instance.delete.end", "generated": "2026-03-01T13:00:00", "traits": [{"name": "host", "type": "string", "value": "node1"}]}
{"message_id": "bad1", "generated": "2026-03-01T12:00:00"}
{"message_id": "bad2", "event_type": "x", "traits": [{"name": "n", "type": "integer", "value": "four"}]}
not json
`

// runEvents runs `strata events ARGS…` against db and returns stdout,
// stderr and the error.
func runEvents(t *testing.T, db string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmdIO(&out, &errOut)
	root.SetArgs(append([]string{"events", "--db", db}, args...))
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestEventsCommand(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := "sqlite://" + filepath.Join(t.TempDir(), "strata.db")
			if backend == "postgres" {
				db = pgtest.NewDatabase(t)
			}
			file := filepath.Join(t.TempDir(), "events.jsonl")
			require.NoError(t, os.WriteFile(file, []byte(eventLines), 0o600))

			out, errOut, err := runEvents(t, db, "", "record", file)
			require.ErrorContains(t, err, "3 of 7 lines rejected")
			require.Contains(t, errOut, "7 events: 3 stored, 1 duplicates, 3 rejected")
			require.Regexp(t, `4\s+e1\s+duplicate\s+"e1" appears twice in the batch`, out)
			require.Regexp(t, `6\s+bad1\s+rejected\s+event "bad1" has no event_type`, out)
			require.Regexp(t, `7\s+bad2\s+rejected\s+.*"four" is not an integer`, out)
			require.Regexp(t, `8\s+rejected\s+not a JSON object: invalid character`, out)
			_, _, err = runEvents(t, db, `{"message_id": "e1", "event_type": "again"}`+"\n", "record")
			require.NoError(t, err, "a duplicate is reported, not an error")

			_, errOut, err = runEvents(t, db, `{"event_type": "from.stdin"}`+"\n", "record")
			require.NoError(t, err)
			require.Contains(t, errOut, "stdin: 1 events: 1 stored")

			out, _, err = runEvents(t, db, "", "query", "--trait", "host=node1", "--sort", "generated:desc")
			require.NoError(t, err)
			require.Regexp(t, `(?s)e3\s+compute.instance.delete.end\s+2026-03-01T13:00:00\s+host=node1.*e1\s+compute`, out)
			require.NotContains(t, out, "e2")

			out, _, err = runEvents(t, db, "", "query", "--trait", "vcpus:integer>4", "--format", "json")
			require.NoError(t, err)
			var rows []map[string]any
			require.NoError(t, json.Unmarshal([]byte(out), &rows))
			require.Len(t, rows, 1)
			require.Equal(t, "e2", rows[0]["message_id"])

			out, _, err = runEvents(t, db, "", "query", "--start", "2026-03-01T12:00:00", "--end", "2026-03-01T13:00:00", "--type", "compute.instance.create.end", "--limit", "1")
			require.NoError(t, err)
			require.Contains(t, out, "e1")
			require.NotContains(t, out, "e2")
			out, _, err = runEvents(t, db, "", "query", "--type", "compute.instance.create.end", "--marker", "e1")
			require.NoError(t, err)
			require.Regexp(t, `(?m)^e2\s`, out)
			require.NotRegexp(t, `(?m)^e1\s`, out)

			out, _, err = runEvents(t, db, "", "query", "--count", "--trait", "host!=node2")
			require.NoError(t, err)
			require.Regexp(t, `COUNT\s+2`, out)

			for _, bad := range [][]string{
				{"query", "--trait", "host"},
				{"query", "--trait", "vcpus:integer>four"},
				{"query", "--trait", "vcpus:blob=1"},
				{"query", "--sort", "size"},
				{"query", "--marker", "nope"},
				{"query", "--limit", "100000"},
				{"query", "--start", "yesterday"},
				{"show", "nope"},
			} {
				_, _, err := runEvents(t, db, "", bad...)
				require.Error(t, err, "%v", bad)
			}
			_, _, err = runEvents(t, db, "", "show", "nope")
			require.ErrorContains(t, err, `event "nope" not found`)

			out, _, err = runEvents(t, db, "", "show", "e1", "--format", "vertical")
			require.NoError(t, err)
			require.Contains(t, out, "node1")
			require.Contains(t, out, `{"a": 1}`, "raw is kept as it came")

			out, _, err = runEvents(t, db, "", "types")
			require.NoError(t, err)
			require.Regexp(t, `(?s)compute.instance.create.end\s+compute.instance.delete.end\s+from.stdin`, out)

			out, _, err = runEvents(t, db, "", "traits", "compute.instance.create.end")
			require.NoError(t, err)
			require.Regexp(t, `(?s)host\s+string\s+vcpus\s+integer`, out)
			out, _, err = runEvents(t, db, "", "traits", "compute.instance.create.end", "--values", "host")
			require.NoError(t, err)
			require.Regexp(t, `(?s)host\s+string\s+node1\s+host\s+string\s+node2`, out)

			out, _, err = runEvents(t, db, "", "types", "--active", "1h")
			require.NoError(t, err)
			require.Regexp(t, `from.stdin\s+\S+\s+true`, out)
			require.Regexp(t, `compute.instance.create.end\s+2026-03-01T12:05:00\s+false`, out)

			// Default TTL is 30 days after generated.
			out, _, err = runEvents(t, db, "", "expire", "--now", "2026-03-31T12:01:00", "--dry-run", "--format", "csv")
			require.NoError(t, err)
			require.Contains(t, out, "1,")
			out, _, err = runEvents(t, db, "", "expire", "--now", "2026-03-31T12:30:00", "--batch", "1", "--format", "csv")
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(strings.Split(out, "\n")[1], "2,"), out)
			out, _, err = runEvents(t, db, "", "query")
			require.NoError(t, err)
			require.NotRegexp(t, `(?m)^e1\s`, out)
			require.Regexp(t, `(?m)^e3\s`, out)
		})
	}
}
