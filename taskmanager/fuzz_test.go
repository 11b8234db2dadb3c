package taskmanager_test

import (
	"encoding/json"
	"sort"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/taskmanager"
)

// configSeeds are channel configuration files, good and bad, for the
// configuration fuzzers.
var configSeeds = []string{
	`{"sources": {"q": {"module": "queue", "parameters": {"seed": 1}, "schedule": 30}},
	  "publishers": {"p": {"module": "jsonl", "name": "JSONLines"}},
	  "task_manager": {"failure_policy": "offline", "data_TO": 60}}`,
	`{"channel_name": "named", "sources": {"s": {"module": "m", "schedule": "1m"}}, "transforms": {"t": {"module": "x"}},
	  "logicengines": {"le": {"module": "logicengine", "parameters": {"facts": {"f": "s.n > 0"}, "rules": {}}}}}`,
	`{"channels": {"a": {"sources": {"s": {"module": "m"}}}, "b": {"sources": {"s": {"module": "m"}}, "task_manager": {"schedule": "30s"}}},
	  "dataspace": {"datasource": {"config": {"url": "sqlite:///x.db"}}}}`,
	`{"channels": {"a": {"channel_name": "x", "sources": {"s": {"module": "m"}}}, "b": {"channel_name": "x", "sources": {"s": {"module": "m"}}}}}`,
	`{"sources": {"s": {"module": "m"}}, "channels": {}}`,
	`{"sources": {}}`,
	`{"sources": {"s": {"module": ""}}}`,
	`{"sources": {"s": null}}`,
	`{"sources": {"s": {"module": "m", "schedule": -1}}}`,
	`{"sources": {"s": {"module": "m", "schedule": "106752d"}}}`,
	`{"sources": {"s": {"module": "m", "schedule": 1e300}}}`,
	`{"sources": {"s": {"module": "m"}}, "transforms": {"s": {"module": "m"}}}`,
	`{"sources": {"s": {"module": "m"}}, "transforms": {"t": {"module": "m", "schedule": 5}}}`,
	`{"sources": {"s": {"module": "m"}}, "logicengines": {"a": {"module": "l"}, "b": {"module": "l"}}}`,
	`{"sources": {"s": {"module": "m"}}, "task_manager": {"failure_policy": "retry"}}`,
	`{"sources": {"bad name": {"module": "m"}}}`,
	`{"sources": {"s": {"module": "m", "parameters": null}}}`,
	`{"sources": {"s": {"module": "m", "extra": 1}}}`,
	`{"sources": {"s": {"module": "m"}}} trailing`,
	`{"sources": {"s": {"module": "m"}}}{"sources": {}}`,
	`{"channels": []}`,
	`{"channels": null}`,
	`{"dataspace": {}}`,
	"{\n  \"sources\": {,}\n}",
	`[]`,
	`null`,
	``,
}

// FuzzParseFile checks that any bytes either parse into channels that pass
// Validate and survive being written back as JSON, or give one ErrConfig
// error; never both, never a panic.
func FuzzParseFile(f *testing.F) {
	for _, s := range configSeeds {
		f.Add("jobs", []byte(s))
	}
	f.Add("", []byte(configSeeds[0]))
	f.Add("bad name", []byte(configSeeds[0]))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		file, err := taskmanager.ParseFile(name, data)
		if err != nil {
			require.Nil(t, file, "a file together with error %v", err)
			require.ErrorIs(t, err, taskmanager.ErrConfig)
			return
		}
		require.NotNil(t, file, "neither a file nor an error")
		require.True(t, json.Valid(data), "accepted input that is not JSON")
		require.Equal(t, data, file.JSON)
		var top map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(data, &top))
		_, hasDataspace := top["dataspace"]
		require.Equal(t, hasDataspace, file.HasDataspace)
		require.NotEmpty(t, file.Channels)
		require.True(t, sort.SliceIsSorted(file.Channels, func(i, j int) bool { return file.Channels[i].Name < file.Channels[j].Name }),
			"channels are sorted by name")
		for _, cc := range file.Channels {
			requireChannelRoundTrip(t, cc)
		}
	})
}

// FuzzParseChannel checks one channel's parser: an accepted channel is
// valid JSON, passes Validate, and reads back the same after being written
// as JSON.
func FuzzParseChannel(f *testing.F) {
	for _, s := range configSeeds {
		f.Add("jobs", []byte(s))
	}
	f.Add("", []byte(configSeeds[0]))
	f.Add("a.b-c_1", []byte(configSeeds[0]))
	f.Add("1abc", []byte(configSeeds[0]))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		cc, err := taskmanager.ParseChannel(name, data)
		if err != nil {
			require.Nil(t, cc, "a channel together with error %v", err)
			require.ErrorIs(t, err, taskmanager.ErrConfig)
			return
		}
		require.NotNil(t, cc, "neither a channel nor an error")
		require.True(t, json.Valid(data), "accepted input that is not one JSON value: %q", data)
		if cc.ChannelName != "" {
			require.Equal(t, cc.ChannelName, cc.Name)
		} else {
			require.Equal(t, name, cc.Name)
		}
		requireChannelRoundTrip(t, cc)
	})
}

// FuzzParseJsonnet checks the jsonnet path: an accepted file is what
// ParseFile makes of the evaluated JSON, and plain JSON that both accept
// gives the same channels. Sources are capped at 1 KiB: jsonnet is a
// programming language, and a short program can take unbounded time and
// memory (std.range(0, 1e9)); configuration files are trusted input.
func FuzzParseJsonnet(f *testing.F) {
	for _, s := range configSeeds {
		f.Add("jobs", s)
	}
	f.Add("jobs", `local src(m) = {module: m, schedule: "30s"};
{channels: {[n]: {sources: {s: src(n)}} for n in ["a", "b"]}}`)
	f.Add("jobs", `local base = {sources: {s: {module: "m"}}}; base + {publishers+: {p: {module: "jsonl"}}}`)
	f.Add("jobs", `{sources: {s: {module: std.asciiLower("M"), parameters: {n: std.length([1, 2])}}}}`)
	f.Add("jobs", `error "boom"`)
	f.Add("jobs", `local f(x) = f(x); f(1)`)
	f.Add("jobs", `{sources: {s: {module: "m"}}, sources: {}}`)
	f.Add("jobs", `"just a string"`)
	f.Fuzz(func(t *testing.T, name, src string) {
		if len(src) > 1<<10 {
			return
		}
		file, err := taskmanager.ParseJsonnet(name, src)
		if err != nil {
			require.Nil(t, file, "a file together with error %v", err)
			require.ErrorIs(t, err, taskmanager.ErrConfig)
			return
		}
		require.NotNil(t, file, "neither a file nor an error")
		again, err := taskmanager.ParseFile(name, file.JSON)
		require.NoError(t, err, "the evaluated JSON does not parse: %s", file.JSON)
		require.Equal(t, file, again)
		for _, cc := range file.Channels {
			requireChannelRoundTrip(t, cc)
		}

		if !utf8.ValidString(src) {
			return
		}
		if plain, err := taskmanager.ParseFile(name, []byte(src)); err == nil {
			require.Equal(t, channelNames(plain), channelNames(file), "JSON and jsonnet read %q differently", src)
		}
	})
}

// requireChannelRoundTrip writes cc as JSON and checks that it reads back
// to the same channel, and that the channel is valid.
func requireChannelRoundTrip(t *testing.T, cc *taskmanager.ChannelConfig) {
	t.Helper()
	require.NoError(t, cc.Validate())
	out, err := json.Marshal(cc)
	require.NoError(t, err)
	back, err := taskmanager.ParseChannel(cc.Name, out)
	require.NoError(t, err, "channel %q written as %s does not read back", cc.Name, out)
	require.Equal(t, cc.Name, back.Name)
	again, err := json.Marshal(back)
	require.NoError(t, err)
	require.Equal(t, string(out), string(again), "channel %q changes when written and read back", cc.Name)
}

func channelNames(f *taskmanager.File) []string {
	var out []string
	for _, cc := range f.Channels {
		out = append(out, cc.Name)
	}
	return out
}
