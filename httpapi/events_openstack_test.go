package httpapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/events"
	"github.com/strata-dataspace/strata/internal/testenv"
)

// TestOpenStackClient drives the real Panko client, unchanged, against the
// event API: `openstack event …` with OS_AUTH_TYPE=none. Under CI=true a
// missing client fails the test.
func TestOpenStackClient(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("openstack")
	if err != nil {
		testenv.Missing(t, "the openstack client is not installed: apt-get install -y python3-pankoclient python3-openstackclient (%v)", err)
	}
	ctx := context.Background()
	space, err := dataspace.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "strata.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { space.Close() })
	st, err := events.Open(ctx, space, nil)
	require.NoError(t, err)
	var evs []*events.Event
	for i, typ := range []string{"compute.instance.create.end", "compute.instance.delete.end", "compute.instance.create.end"} {
		evs = append(evs, &events.Event{
			MessageID: []string{"a-1", "b-2", "c-3"}[i], EventType: typ, Generated: t0.Add(time.Duration(i) * time.Minute),
			Traits: []events.Trait{{Name: "host", Type: events.TypeString, Value: []string{"node1", "node2", "node1"}[i]}, {Name: "vcpus", Type: events.TypeInteger, Value: int64(4 * (i + 1))}},
			Raw:    json.RawMessage(`{"payload": {"x": 1}}`),
		})
	}
	res, err := st.Record(ctx, evs)
	require.NoError(t, err)
	require.Equal(t, 3, res.Stored)
	srv := httptest.NewServer(New(space, nil))
	t.Cleanup(srv.Close)

	run := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "OS_AUTH_TYPE=none", "OS_ENDPOINT="+srv.URL)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	list := func(args ...string) []map[string]any {
		t.Helper()
		out, err := run(append([]string{"event", "list", "-f", "json"}, args...)...)
		require.NoError(t, err, out)
		var rows []map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
		return rows
	}
	ids := func(rows []map[string]any) []string {
		out := []string{}
		for _, r := range rows {
			out = append(out, r["message_id"].(string))
		}
		return out
	}

	rows := list()
	require.Equal(t, []string{"a-1", "b-2", "c-3"}, ids(rows))
	require.Equal(t, "2026-03-01T12:00:00", rows[0]["generated"])
	require.Equal(t, "host\nvcpus", rows[0]["traits:name"])
	require.Equal(t, "node1\n4", rows[0]["traits:value"])
	require.Equal(t, "string\ninteger", rows[0]["traits:type"])
	require.Equal(t, []string{"a-1", "c-3"}, ids(list("--filter", "event_type=compute.instance.create.end")))
	require.Equal(t, []string{"b-2"}, ids(list("--filter", "host=node2")))
	require.Equal(t, []string{"c-3", "b-2"}, ids(list("--sort", "generated:desc", "--limit", "2")))
	require.Equal(t, []string{"b-2"}, ids(list("--marker", "a-1", "--limit", "1")))
	require.Equal(t, []string{"b-2", "c-3"}, ids(list("--filter", "start_timestamp=2026-03-01T12:01:00")))

	out, err := run("event", "show", "a-1", "-f", "json")
	require.NoError(t, err, out)
	var shown map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &shown), out)
	require.Equal(t, "compute.instance.create.end", shown["event_type"])
	require.Contains(t, shown["traits"], `"value": "node1"`)

	out, err = run("event", "show", "nope")
	require.Error(t, err)
	require.Contains(t, out, "Event nope Not Found (HTTP 404)")
	out, err = run("event", "list", "--marker", "nope")
	require.Error(t, err)
	require.Contains(t, out, "(HTTP 400)")

	out, err = run("event", "type", "list", "-f", "value")
	require.NoError(t, err, out)
	require.Equal(t, "compute.instance.create.end\ncompute.instance.delete.end\n", out)
	out, err = run("event", "trait", "description", "compute.instance.create.end", "-f", "value")
	require.NoError(t, err, out)
	require.Equal(t, "host string\nvcpus integer\n", out)
	out, err = run("event", "trait", "list", "compute.instance.create.end", "host", "-f", "value")
	require.NoError(t, err, out)
	require.Equal(t, "host node1 string\n", out)
	out, err = run("event", "capabilities", "list", "-f", "value")
	require.NoError(t, err, out)
	require.True(t, strings.Contains(out, "events:query:simple"), out)
}
