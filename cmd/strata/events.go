package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/events"
	"github.com/strata-dataspace/strata/internal/output"
)

// eventFlags are the flags every events subcommand shares.
type eventFlags struct {
	namespace string
	ttl       string
}

func (f *eventFlags) open(ctx context.Context, g *globals) (*events.Store, func(), error) {
	cfg := &events.Config{Namespace: f.namespace}
	if f.ttl != "" {
		d, err := dataspace.ParseDurationString(f.ttl)
		if err != nil || d <= 0 {
			return nil, nil, fmt.Errorf("--ttl %q: want a positive duration such as 720h or 30d", f.ttl)
		}
		cfg.TTL = d
	}
	space, err := g.openDataSpace(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := events.Open(ctx, space, cfg)
	if err != nil {
		space.Close()
		return nil, nil, err
	}
	return s, func() { space.Close() }, nil
}

func newEventsCmd(g *globals) *cobra.Command {
	f := &eventFlags{}
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Record, query and expire events (Panko-style), stored as products",
	}
	cmd.PersistentFlags().StringVar(&f.namespace, "namespace", "", "event namespace (empty means "+events.NamespaceDefault+")")
	cmd.AddCommand(
		newEventsRecordCmd(g, f),
		newEventsQueryCmd(g, f),
		newEventsShowCmd(g, f),
		newEventsTypesCmd(g, f),
		newEventsTraitsCmd(g, f),
		newEventsExpireCmd(g, f),
	)
	return cmd
}

func newEventsRecordCmd(g *globals, f *eventFlags) *cobra.Command {
	var batch int
	cmd := &cobra.Command{
		Use:   "record [FILE]",
		Short: "Record events from JSON lines (a file, or stdin when FILE is - or absent)",
		Long: `Reads one event per line in the Panko shape:
  {"message_id": "…", "event_type": "compute.instance.create.end",
   "generated": "2026-01-02T03:04:05.123456",
   "traits": [{"name": "host", "type": "string", "value": "node1"}], "raw": {…}}
message_id is assigned (a time-sortable UUIDv7) when absent, generated is now when
absent. Lines that are duplicates or rejected are listed with their line number; the
command fails when any line was rejected.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 1 {
				return fmt.Errorf("--batch %d: want a positive number", batch)
			}
			in := cmd.InOrStdin()
			name := "stdin"
			if len(args) == 1 && args[0] != "-" {
				file, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("open events file: %w", err)
				}
				defer file.Close()
				in, name = file, args[0]
			}
			s, done, err := f.open(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			return recordLines(cmd.Context(), g, s, in, name, batch)
		},
	}
	cmd.Flags().IntVar(&batch, "batch", 500, "events per transaction")
	cmd.Flags().StringVar(&f.ttl, "ttl", "", "keep events this long after they were generated (default 30d)")
	return cmd
}

// recordLines records JSON lines in batches and reports the lines that
// were not stored.
func recordLines(ctx context.Context, g *globals, s *events.Store, in io.Reader, name string, batch int) error {
	report := &output.Table{Columns: []string{"line", "message_id", "status", "reason"}}
	var (
		evs          []*events.Event
		lines        []int
		stored, dups int
		rejected     int
		total        int
	)
	progress := isTerminal(g.stderr)
	flush := func() error {
		if len(evs) == 0 {
			return nil
		}
		res, err := s.Record(ctx, evs)
		if err != nil {
			return fmt.Errorf("%s: lines %d–%d: %w", name, lines[0], lines[len(lines)-1], err)
		}
		for i, o := range res.Outcomes {
			if o.Status != events.StatusStored {
				report.Add(lines[i], o.MessageID, string(o.Status), reason(o.Err))
			}
		}
		stored += res.Stored
		dups += res.Duplicates
		rejected += res.Rejected
		if progress {
			fmt.Fprintf(g.stderr, "\r\033[Krecorded %d lines: %d stored, %d duplicates, %d rejected", total, stored, dups, rejected)
		}
		evs, lines = evs[:0], lines[:0]
		return nil
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		total++
		var e events.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			var id struct {
				MessageID string `json:"message_id"`
			}
			_ = json.Unmarshal([]byte(line), &id)
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) {
				err = fmt.Errorf("not a JSON object: %w", err)
			}
			report.Add(n, id.MessageID, string(events.StatusRejected), reason(err))
			rejected++
			continue
		}
		evs = append(evs, &e)
		lines = append(lines, n)
		if len(evs) >= batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := flush(); err != nil {
		return err
	}
	if progress {
		fmt.Fprint(g.stderr, "\r\033[K")
	}
	sort.SliceStable(report.Rows, func(i, j int) bool { return report.Rows[i][0].(int) < report.Rows[j][0].(int) })
	if len(report.Rows) > 0 {
		if err := g.print(report); err != nil {
			return err
		}
	}
	fmt.Fprintf(g.stderr, "%s: %d events: %d stored, %d duplicates, %d rejected\n", name, total, stored, dups, rejected)
	if rejected > 0 {
		return fmt.Errorf("%s: %d of %d lines rejected (listed above): fix them and record them again", name, rejected, total)
	}
	return nil
}

// reason is the message of an outcome's error without the sentinel
// prefixes.
func reason(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	for _, p := range []string{events.ErrInvalid.Error() + ": ", events.ErrDuplicate.Error() + ": "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return msg
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// parseTraitFilter reads NAME[:TYPE]OP VALUE, OP one of = != < <= > >=
// (or eq ne lt le gt ge between colons: NAME[:TYPE]:OP:VALUE).
func parseTraitFilter(s string) (events.TraitFilter, error) {
	bad := func(why string) (events.TraitFilter, error) {
		return events.TraitFilter{}, fmt.Errorf("--trait %q: %s: want NAME[:TYPE]OPVALUE such as host=node1 or vcpus:integer>=4 (OP one of = != < <= > >=)", s, why)
	}
	i := strings.IndexAny(s, "=!<>")
	if i <= 0 {
		return bad("no operator")
	}
	head, rest := s[:i], s[i:]
	var op events.Op
	for _, o := range []struct {
		sym string
		op  events.Op
	}{{"!=", events.OpNe}, {"<=", events.OpLe}, {">=", events.OpGe}, {"==", events.OpEq}, {"=", events.OpEq}, {"<", events.OpLt}, {">", events.OpGt}} {
		if strings.HasPrefix(rest, o.sym) {
			op, rest = o.op, rest[len(o.sym):]
			break
		}
	}
	if op == "" {
		return bad("unknown operator")
	}
	name, typName, _ := strings.Cut(head, ":")
	typ, err := events.ParseTraitType(typName)
	if err != nil {
		return bad(strings.TrimPrefix(err.Error(), events.ErrInvalid.Error()+": "))
	}
	if _, err := events.ParseValue(typ, rest); err != nil {
		return bad(strings.TrimPrefix(err.Error(), events.ErrInvalid.Error()+": "))
	}
	return events.TraitFilter{Name: name, Op: op, Type: typ, Value: rest}, nil
}

// filterFlags are the filters of events query.
type filterFlags struct {
	start, end, eventType, id string
	traits                    []string
}

func (ff *filterFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&ff.start, "start", "", "first generated time included (ISO 8601, UTC unless a zone is given)")
	cmd.Flags().StringVar(&ff.end, "end", "", "first generated time excluded")
	cmd.Flags().StringVar(&ff.eventType, "type", "", "event type")
	cmd.Flags().StringVar(&ff.id, "id", "", "message id")
	cmd.Flags().StringArrayVar(&ff.traits, "trait", nil, "trait filter NAME[:TYPE]OPVALUE, e.g. host=node1 or vcpus:integer>4 (repeat to AND)")
}

func (ff *filterFlags) filter() (events.Filter, error) {
	f := events.Filter{EventType: ff.eventType, MessageID: ff.id}
	var err error
	if ff.start != "" {
		if f.Start, err = events.ParseTime(ff.start); err != nil {
			return f, fmt.Errorf("--start: %w", err)
		}
	}
	if ff.end != "" {
		if f.End, err = events.ParseTime(ff.end); err != nil {
			return f, fmt.Errorf("--end: %w", err)
		}
	}
	for _, t := range ff.traits {
		tf, err := parseTraitFilter(t)
		if err != nil {
			return f, err
		}
		f.Traits = append(f.Traits, tf)
	}
	return f, nil
}

func traitsCell(ts []events.Trait) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Name + "=" + t.String()
	}
	return strings.Join(parts, " ")
}

func newEventsQueryCmd(g *globals, f *eventFlags) *cobra.Command {
	var (
		ff     filterFlags
		sorts  []string
		limit  int
		marker string
		count  bool
	)
	cmd := &cobra.Command{
		Use:   "query",
		Short: "List the events that match filters (one page; --marker pages on)",
		Example: `  strata events query --type compute.instance.create.end --start 2026-01-01T00:00:00 --end 2026-01-02T00:00:00
  strata events query --trait host=node1 --trait vcpus:integer>4 --sort generated:desc --limit 20
  strata events query --count --trait state!=deleted`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := ff.filter()
			if err != nil {
				return err
			}
			q := &events.Query{Filter: filter, Limit: limit, Marker: marker}
			for _, s := range sorts {
				k, err := events.ParseSort(s)
				if err != nil {
					return fmt.Errorf("--sort: %w", err)
				}
				q.Sort = append(q.Sort, k)
			}
			s, done, err := f.open(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			if count {
				n, err := s.Count(cmd.Context(), &q.Filter)
				if err != nil {
					return err
				}
				t := &output.Table{Columns: []string{"count"}}
				t.Add(n)
				return g.print(t)
			}
			evs, err := s.Query(cmd.Context(), q)
			if err != nil {
				return err
			}
			if g.format == "json" {
				t := &output.Table{Columns: []string{"message_id", "event_type", "generated", "traits", "raw"}}
				for _, e := range evs {
					t.Add(e.MessageID, e.EventType, events.FormatTime(e.Generated), e.Traits, rawOrEmpty(e.Raw))
				}
				return g.print(t)
			}
			t := &output.Table{Columns: []string{"message_id", "event_type", "generated", "traits"}}
			for _, e := range evs {
				t.Add(e.MessageID, e.EventType, events.FormatTime(e.Generated), traitsCell(e.Traits))
			}
			return g.print(t)
		},
	}
	ff.add(cmd)
	cmd.Flags().StringArrayVar(&sorts, "sort", nil, "sort key generated|message_id[:asc|:desc] (repeatable; default generated, message_id)")
	cmd.Flags().IntVar(&limit, "limit", events.LimitDefault, "events per page")
	cmd.Flags().StringVar(&marker, "marker", "", "message_id of the last event of the previous page")
	cmd.Flags().BoolVar(&count, "count", false, "print how many events match instead")
	return cmd
}

func rawOrEmpty(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage(`{}`)
	}
	return r
}

func newEventsShowCmd(g *globals, f *eventFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show MESSAGE_ID",
		Short: "Show one event with its header, traits and raw payload",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := f.open(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			e, err := s.Get(cmd.Context(), args[0])
			if errors.Is(err, events.ErrNotFound) {
				return fmt.Errorf("event %q not found in namespace %q: list ids with strata events query", args[0], s.Namespace())
			}
			if err != nil {
				return err
			}
			t := &output.Table{Columns: []string{"message_id", "event_type", "generated", "expires", "source", "traits", "raw"}}
			var traits any = traitsCell(e.Traits)
			if g.format == "json" {
				traits = e.Traits
			}
			t.Add(e.MessageID, e.EventType, events.FormatTime(e.Generated), events.FormatTime(e.Expires), e.Source, traits, rawOrEmpty(e.Raw))
			return g.print(t)
		},
	}
}

func newEventsTypesCmd(g *globals, f *eventFlags) *cobra.Command {
	var window string
	cmd := &cobra.Command{
		Use:   "types",
		Short: "List the event types (with --active, whether each had an event in the last window)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := f.open(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			if window != "" {
				d, err := dataspace.ParseDurationString(window)
				if err != nil || d <= 0 {
					return fmt.Errorf("--active %q: want a positive duration such as 60s", window)
				}
				acts, err := s.Watchdog(cmd.Context(), d)
				if err != nil {
					return err
				}
				t := &output.Table{Columns: []string{"event_type", "last", "active"}}
				for _, a := range acts {
					t.Add(a.EventType, events.FormatTime(a.Last), a.Active)
				}
				return g.print(t)
			}
			types, err := s.EventTypes(cmd.Context())
			if err != nil {
				return err
			}
			t := &output.Table{Columns: []string{"event_type"}}
			for _, ty := range types {
				t.Add(ty)
			}
			return g.print(t)
		},
	}
	cmd.Flags().StringVar(&window, "active", "", "watchdog: say per type whether an event was generated in this last window, e.g. 60s")
	return cmd
}

func newEventsTraitsCmd(g *globals, f *eventFlags) *cobra.Command {
	var (
		values string
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "traits EVENT_TYPE",
		Short: "List the trait names and types of an event type (or, with --values NAME, a trait's values)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := f.open(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			if values != "" {
				vals, err := s.TraitValues(cmd.Context(), args[0], values, limit)
				if err != nil {
					return err
				}
				t := &output.Table{Columns: []string{"name", "type", "value"}}
				for _, v := range vals {
					t.Add(v.Name, v.Type.String(), v.String())
				}
				return g.print(t)
			}
			infos, err := s.TraitTypes(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			t := &output.Table{Columns: []string{"name", "type"}}
			for _, i := range infos {
				t.Add(i.Name, i.Type.String())
			}
			return g.print(t)
		},
	}
	cmd.Flags().StringVar(&values, "values", "", "list the distinct values of this trait instead")
	cmd.Flags().IntVar(&limit, "limit", events.LimitDefault, "with --values, at most this many values")
	return cmd
}

func newEventsExpireCmd(g *globals, f *eventFlags) *cobra.Command {
	var (
		batch  int
		dryRun bool
		at     string
	)
	cmd := &cobra.Command{
		Use:   "expire",
		Short: "Delete the events past their expiration time, in batches, in every namespace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			if at != "" {
				t, err := events.ParseTime(at)
				if err != nil {
					return fmt.Errorf("--now: %w", err)
				}
				now = t
			}
			if batch < 1 {
				return fmt.Errorf("--batch %d: want a positive number", batch)
			}
			s, done, err := f.open(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			start := time.Now()
			rows, bytes, err := s.Expire(cmd.Context(), now, batch, dryRun)
			if err != nil {
				return err
			}
			t := &output.Table{Columns: []string{"events", "value_bytes", "dry_run", "seconds"}}
			t.Add(rows, bytes, dryRun, time.Since(start).Seconds())
			return g.print(t)
		},
	}
	cmd.Flags().IntVar(&batch, "batch", events.ExpireBatchDefault, "events deleted per transaction")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only count what would be deleted")
	cmd.Flags().StringVar(&at, "now", "", "expire as of this time instead of now (ISO 8601)")
	return cmd
}
