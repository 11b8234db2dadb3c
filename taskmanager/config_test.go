package taskmanager_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/taskmanager"
)

func TestParseFile(t *testing.T) {
	t.Parallel()

	t.Run("SingleChannelNamedByFile", func(t *testing.T) {
		t.Parallel()

		f, err := taskmanager.ParseFile("jobs", []byte(`{
			"sources": {"q": {"module": "queue", "parameters": {"seed": 1}, "schedule": 30}},
			"publishers": {"p": {"module": "jsonl", "name": "JSONLines"}},
			"task_manager": {"failure_policy": "offline", "data_TO": 60}
		}`))
		require.NoError(t, err)
		require.False(t, f.HasDataspace)
		require.Len(t, f.Channels, 1)
		cc := f.Channels[0]
		require.Equal(t, "jobs", cc.Name)
		require.Equal(t, "queue", cc.Sources["q"].Module)
		require.JSONEq(t, `{"seed": 1}`, string(cc.Sources["q"].Parameters))
		p, err := cc.Policy()
		require.NoError(t, err)
		require.Equal(t, taskmanager.FailurePolicyOffline, p)
	})

	t.Run("SeveralChannelsAndADataspace", func(t *testing.T) {
		t.Parallel()

		f, err := taskmanager.ParseFile("x", []byte(`{
			"dataspace": {"datasource": {"config": {"url": "sqlite://./x.db"}}},
			"channels": {
				"b": {"sources": {"s": {"module": "m"}}},
				"a": {"sources": {"s": {"module": "m", "schedule": "90s"}}}
			}
		}`))
		require.NoError(t, err)
		require.True(t, f.HasDataspace)
		require.Equal(t, "a", f.Channels[0].Name)
		require.Equal(t, "b", f.Channels[1].Name)
	})

	t.Run("Jsonnet", func(t *testing.T) {
		t.Parallel()

		f, err := taskmanager.ParseJsonnet("gen", `
			local src(seed) = {module: "queue", parameters: {seed: seed}, schedule: "1s"};
			{channels: {["site" + i]: {sources: {q: src(i)}} for i in [1, 2]}}`)
		require.NoError(t, err)
		require.Len(t, f.Channels, 2)
		require.Equal(t, "site2", f.Channels[1].Name)
		require.JSONEq(t, `{"seed": 2}`, string(f.Channels[1].Sources["q"].Parameters))
	})

	t.Run("NullScheduleIsNone", func(t *testing.T) {
		t.Parallel()
		f, err := taskmanager.ParseFile("c", []byte(`{"sources": {"s": {"module": "m", "schedule": null}}, "transforms": {"t": {"module": "m", "schedule": null}}}`))
		require.NoError(t, err, "a null schedule is no schedule, on a transform too")
		require.Len(t, f.Channels, 1)
	})

	t.Run("JsonnetFile", func(t *testing.T) {
		t.Parallel()

		dir := t.TempDir()
		path := filepath.Join(dir, "chan.jsonnet")
		require.NoError(t, os.WriteFile(path, []byte(`{channel_name: "named", sources: {q: {module: "m"}}}`), 0o600))
		f, err := taskmanager.LoadFile(path)
		require.NoError(t, err)
		require.Equal(t, "named", f.Channels[0].Name)
	})

	cases := []struct {
		name string
		json string
		want string
	}{
		{"NotJSON", "{\n  \"sources\": {,}}", "not valid JSON: line 2 column 15"},
		{"NotAnObject", `[1, 2]`, "not a JSON object"},
		{"NoChannel", `{"dataspace": {}}`, "no channel"},
		{"Both", `{"sources": {"s": {"module": "m"}}, "channels": {}}`, `both "channels" and a top-level channel`},
		{"NoSources", `{"publishers": {"p": {"module": "m"}}}`, "no sources"},
		{"NoModule", `{"sources": {"s": {"parameters": {}}}}`, `source "s" has no "module"`},
		{"TwoEngines", `{"sources": {"s": {"module": "m"}}, "logicengines": {"a": {"module": "l"}, "b": {"module": "l"}}}`, "2 logic engines (a, b)"},
		{"UnknownKey", `{"sources": {"s": {"module": "m"}}, "transfroms": {}}`, `unknown field "transfroms"`},
		{"BadSchedule", `{"sources": {"s": {"module": "m", "schedule": "soon"}}}`, `schedule`},
		{"ScheduledTransform", `{"sources": {"s": {"module": "m"}}, "transforms": {"t": {"module": "m", "schedule": 5}}}`, "only sources are scheduled"},
		{"BadPolicy", `{"sources": {"s": {"module": "m"}}, "task_manager": {"failure_policy": "retry"}}`, `failure_policy "retry"`},
		{"DuplicateName", `{"sources": {"s": {"module": "m"}}, "publishers": {"s": {"module": "m"}}}`, `both named "s"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			_, err := taskmanager.ParseFile("c", []byte(tc.json))
			require.ErrorIs(t, err, taskmanager.ErrConfig)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestDefaultSchedule(t *testing.T) {
	t.Parallel()
	require.Equal(t, time.Minute, taskmanager.DefaultSchedule)
}
