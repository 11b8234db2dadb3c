package taskmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/go-jsonnet"

	"github.com/strata-dataspace/strata/dataspace"
)

// DefaultSchedule is how often a source runs when neither it nor its
// channel sets a schedule.
const DefaultSchedule = time.Minute

// ModuleConfig configures one module of a channel, in the original decision
// engine's shape: {"module": …, "parameters": {…}, "schedule": 300}.
type ModuleConfig struct {
	// Module is the registered module name.
	Module string `json:"module"`
	// Name is the original's class name; accepted and not used.
	Name string `json:"name,omitempty"`
	// Parameters are handed to the module's factory.
	Parameters Params `json:"parameters,omitempty"`
	// Schedule is how often a source runs: seconds, or a duration string
	// such as "30s". Zero means the channel's schedule. Only sources use it.
	Schedule json.RawMessage `json:"schedule,omitempty"`
}

// ChannelOptions are the channel-wide settings of the "task_manager" section.
type ChannelOptions struct {
	// FailurePolicy is "skip" (the default) or "offline".
	FailurePolicy FailurePolicy `json:"failure_policy,omitempty"`
	// Schedule is the default source schedule (seconds or a duration
	// string). Empty means DefaultSchedule.
	Schedule json.RawMessage `json:"schedule,omitempty"`
	// DataTO is the original's data timeout; accepted and not used.
	DataTO json.RawMessage `json:"data_TO,omitempty"`
}

// ChannelConfig is one channel: its modules by name, per kind.
type ChannelConfig struct {
	// Name names the channel and the task manager its DataBlock belongs to.
	Name string `json:"-"`
	// Sources are the channel's sources.
	Sources map[string]*ModuleConfig `json:"sources"`
	// Transforms are the channel's transforms.
	Transforms map[string]*ModuleConfig `json:"transforms,omitempty"`
	// LogicEngines holds at most one logic engine.
	LogicEngines map[string]*ModuleConfig `json:"logicengines,omitempty"`
	// Publishers are the channel's publishers.
	Publishers map[string]*ModuleConfig `json:"publishers,omitempty"`
	// TaskManager holds channel-wide options.
	TaskManager *ChannelOptions `json:"task_manager,omitempty"`
	// ChannelName, when set in a single-channel file, names the channel
	// instead of the file name.
	ChannelName string `json:"channel_name,omitempty"`
}

// File is a parsed configuration file: channels, and maybe the original's
// "dataspace" section.
type File struct {
	// Channels are the file's channels, sorted by name.
	Channels []*ChannelConfig
	// JSON is the file's content as JSON (jsonnet evaluated).
	JSON []byte
	// HasDataspace says whether the file has a "dataspace" section, which
	// dataspace.ParseConfig reads from JSON.
	HasDataspace bool
}

var channelKeys = []string{"sources", "transforms", "logicengines", "publishers"}

// LoadFile reads a configuration file: JSON, or jsonnet when its name ends
// in .jsonnet or .libsonnet. It holds either one channel (the keys
// "sources", "transforms", "logicengines", "publishers", "task_manager"; the
// channel is named by "channel_name" or else the file's base name) or
// several under "channels": {"name": {…}}.
func LoadFile(path string) (*File, error) {
	var data []byte
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonnet", ".libsonnet":
		out, err := jsonnet.MakeVM().EvaluateFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: config file %s: jsonnet: %v", ErrConfig, path, err)
		}
		data = []byte(out)
	default:
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: read config file %s: %v", ErrConfig, path, err)
		}
		data = b
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	f, err := ParseFile(base, data)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return f, nil
}

// ParseJsonnet evaluates jsonnet source and parses the result as ParseFile
// does.
func ParseJsonnet(name, src string) (*File, error) {
	out, err := jsonnet.MakeVM().EvaluateAnonymousSnippet(name+".jsonnet", src)
	if err != nil {
		return nil, fmt.Errorf("%w: jsonnet: %v", ErrConfig, err)
	}
	return ParseFile(name, []byte(out))
}

// ParseFile parses the JSON of a configuration file (see LoadFile); name
// names a single channel that has no "channel_name".
func ParseFile(name string, data []byte) (*File, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(data[:se.Offset], []byte("\n"))
			col := int(se.Offset) - bytes.LastIndexByte(data[:se.Offset], '\n') - 1
			return nil, fmt.Errorf("%w: not valid JSON: line %d column %d: %v", ErrConfig, line, col, err)
		}
		return nil, fmt.Errorf("%w: not a JSON object: %v", ErrConfig, err)
	}
	f := &File{JSON: data}
	_, f.HasDataspace = top["dataspace"]
	single := false
	for _, k := range channelKeys {
		if _, ok := top[k]; ok {
			single = true
		}
	}
	rawChannels, multi := top["channels"]
	switch {
	case single && multi:
		return nil, fmt.Errorf(`%w: both "channels" and a top-level channel ("sources", …): put every channel under "channels"`, ErrConfig)
	case single:
		delete(top, "dataspace")
		body, err := json.Marshal(top)
		if err != nil {
			return nil, err
		}
		cc, err := ParseChannel(name, body)
		if err != nil {
			return nil, err
		}
		if cc.ChannelName != "" {
			cc.Name = cc.ChannelName
		}
		f.Channels = []*ChannelConfig{cc}
	case multi:
		var chans map[string]json.RawMessage
		if err := json.Unmarshal(rawChannels, &chans); err != nil {
			return nil, fmt.Errorf(`%w: "channels" must be an object of channel name to channel config: %v`, ErrConfig, err)
		}
		for n, body := range chans {
			cc, err := ParseChannel(n, body)
			if err != nil {
				return nil, err
			}
			f.Channels = append(f.Channels, cc)
		}
		sort.Slice(f.Channels, func(i, j int) bool { return f.Channels[i].Name < f.Channels[j].Name })
	}
	if len(f.Channels) == 0 {
		return nil, fmt.Errorf(`%w: no channel: want "channels": {"name": {"sources": {…}, …}} or a channel's "sources", "transforms", "logicengines" and "publishers" at the top`, ErrConfig)
	}
	return f, nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// ParseChannel parses one channel's JSON and checks its shape (not yet its
// modules or graph).
func ParseChannel(name string, data []byte) (*ChannelConfig, error) {
	cc := &ChannelConfig{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cc); err != nil {
		return nil, fmt.Errorf("%w: channel %q: %v", ErrConfig, name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: channel %q: more data after the channel's JSON object: give one object", ErrConfig, name)
	}
	cc.Name = name
	if cc.ChannelName != "" {
		cc.Name = cc.ChannelName
	}
	if err := cc.Validate(); err != nil {
		return nil, err
	}
	return cc, nil
}

// Validate checks the channel's shape: names, at least one source, at most
// one logic engine, module names set, schedules and policy readable.
func (cc *ChannelConfig) Validate() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: channel %q: %s", ErrConfig, cc.Name, fmt.Sprintf(format, args...))
	}
	if !namePattern.MatchString(cc.Name) {
		return fmt.Errorf("%w: channel name %q: use letters, digits, '_', '.' and '-'", ErrConfig, cc.Name)
	}
	if len(cc.Sources) == 0 {
		return fail(`no sources: a channel needs at least one source under "sources"`)
	}
	if len(cc.LogicEngines) > 1 {
		return fail("%d logic engines (%s): at most one is allowed", len(cc.LogicEngines), strings.Join(sortedKeys(cc.LogicEngines), ", "))
	}
	seen := map[string]string{}
	for _, kind := range []struct {
		name string
		m    map[string]*ModuleConfig
	}{{"source", cc.Sources}, {"transform", cc.Transforms}, {"logic engine", cc.LogicEngines}, {"publisher", cc.Publishers}} {
		for _, n := range sortedKeys(kind.m) {
			mc := kind.m[n]
			if !namePattern.MatchString(n) {
				return fail("%s name %q: use letters, digits, '_', '.' and '-'", kind.name, n)
			}
			if other, dup := seen[n]; dup {
				return fail("%s and %s are both named %q: module names must be unique in a channel", other, kind.name, n)
			}
			seen[n] = kind.name
			if mc == nil || mc.Module == "" {
				return fail(`%s %q has no "module": name a registered module`, kind.name, n)
			}
			if len(mc.Schedule) > 0 && string(mc.Schedule) != "null" && kind.name != "source" {
				return fail(`%s %q has a "schedule": only sources are scheduled`, kind.name, n)
			}
			if _, err := dataspace.ParseDuration(mc.Schedule, time.Second, kind.name+" "+n+" schedule"); err != nil {
				return fail("%v", err)
			}
		}
	}
	if _, err := cc.Policy(); err != nil {
		return err
	}
	if _, err := cc.schedule(nil); err != nil {
		return err
	}
	return nil
}

// Policy returns the channel's failure policy.
func (cc *ChannelConfig) Policy() (FailurePolicy, error) {
	if cc.TaskManager == nil || cc.TaskManager.FailurePolicy == "" {
		return FailurePolicySkip, nil
	}
	switch p := cc.TaskManager.FailurePolicy; p {
	case FailurePolicySkip, FailurePolicyOffline:
		return p, nil
	default:
		return "", fmt.Errorf(`%w: channel %q: failure_policy %q: want "skip" or "offline"`, ErrConfig, cc.Name, p)
	}
}

// schedule returns a source's schedule (nil: the channel's default).
func (cc *ChannelConfig) schedule(mc *ModuleConfig) (time.Duration, error) {
	if mc != nil {
		d, err := dataspace.ParseDuration(mc.Schedule, time.Second, "schedule")
		if err != nil {
			return 0, err
		}
		if d > 0 {
			return d, nil
		}
	}
	if cc.TaskManager != nil {
		d, err := dataspace.ParseDuration(cc.TaskManager.Schedule, time.Second, "task_manager.schedule")
		if err != nil {
			return 0, fmt.Errorf("%w: channel %q: %v", ErrConfig, cc.Name, err)
		}
		if d > 0 {
			return d, nil
		}
	}
	return DefaultSchedule, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
