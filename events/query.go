package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Op is a comparison of a trait filter.
type Op string

// The trait filter operators.
const (
	OpEq Op = "eq"
	OpNe Op = "ne"
	OpLt Op = "lt"
	OpLe Op = "le"
	OpGt Op = "gt"
	OpGe Op = "ge"
)

var opSQL = map[Op]string{OpEq: "=", OpNe: "<>", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">="}

// ParseOp reads eq, ne, lt, le, gt or ge ("" means eq).
func ParseOp(s string) (Op, error) {
	if s == "" {
		return OpEq, nil
	}
	op := Op(strings.ToLower(s))
	if _, ok := opSQL[op]; !ok {
		return "", fmt.Errorf("%w: operator %q: want eq, ne, lt, le, gt or ge", ErrInvalid, s)
	}
	return op, nil
}

// TraitFilter compares one trait of an event with a value. An event
// without the trait (or with it under another type) does not match.
type TraitFilter struct {
	// Name is the trait's name.
	Name string
	// Op is the comparison; empty means eq.
	Op Op
	// Type is the trait's type; zero means string for a string Value,
	// else the type of Value's Go type.
	Type TraitType
	// Value is compared with the trait: a string is parsed as Type, or a
	// value of the type itself (int64, float64, time.Time).
	Value any
}

// Filter selects events. Every set field must match (AND).
type Filter struct {
	// Start is the first generated time included; zero means no bound.
	Start time.Time
	// End is the first generated time excluded: the range is [Start, End).
	// Zero means no bound.
	End time.Time
	// EventType, when set, is the only type matched.
	EventType string
	// MessageID, when set, is the only id matched.
	MessageID string
	// Traits must all match.
	Traits []TraitFilter
}

// Field is what a query sorts by.
type Field string

// The sortable fields.
const (
	FieldGenerated Field = "generated"
	FieldMessageID Field = "message_id"
)

// SortKey is one sort criterion.
type SortKey struct {
	Field Field
	Desc  bool
}

// ParseSort reads "generated", "message_id", optionally followed by ":asc"
// or ":desc".
func ParseSort(s string) (SortKey, error) {
	f, dir, _ := strings.Cut(s, ":")
	k := SortKey{Field: Field(strings.TrimSpace(f))}
	if k.Field != FieldGenerated && k.Field != FieldMessageID {
		return k, fmt.Errorf("%w: sort key %q: want generated or message_id, optionally with :asc or :desc", ErrInvalid, f)
	}
	switch strings.ToLower(strings.TrimSpace(dir)) {
	case "", "asc":
	case "desc":
		k.Desc = true
	default:
		return k, fmt.Errorf("%w: sort direction %q: want asc or desc", ErrInvalid, dir)
	}
	return k, nil
}

// Query is a page of events: a filter, an order, a limit and a marker.
type Query struct {
	Filter
	// Sort orders the events. Empty means generated asc; message_id (asc
	// unless given) always breaks ties, so pages are stable.
	Sort []SortKey
	// Limit is the page size. Zero means LimitDefault; more than the
	// store's MaxLimit is an error.
	Limit int
	// Marker is the message_id of the last event of the previous page; the
	// page starts after it. An unknown marker is an ErrUnknownMarker.
	Marker string
}

// builder assembles a WHERE clause with ? placeholders.
type builder struct {
	conds []string
	args  []any
}

func (b *builder) add(cond string, args ...any) {
	b.conds = append(b.conds, cond)
	b.args = append(b.args, args...)
}

func (b *builder) where() string { return strings.Join(b.conds, " AND ") }

// from returns the FROM clause of a statement over the events (aliased e)
// that match f, adds its conditions to b, and names the column to compare
// their generated time on. timeOrder says the statement reads every match,
// or walks them in generated order; it is false for a page in message_id
// order, which walks the message_id index and probes the filters.
//
// With timeOrder, the statement starts from the most selective index
// whatever the planner's statistics say (none yet, or taken before the
// namespace filled up, which makes the namespace look rare and every
// index of the event table cheap):
//   - with an equality trait filter, the trait index d drives and its
//     matches are the only events read. SQLite keeps a CROSS JOIN's order
//     as written; on PostgreSQL the LATERAL subquery, kept apart by
//     OFFSET 0, can only follow d;
//   - with an event type, SQLite reads the (namespace, event_type,
//     generated) index: without statistics it would take the time index
//     and read every type's events to keep one type's.
func (s *Store) from(b *builder, f *Filter, timeOrder bool) (from, gcol string, err error) {
	from, gcol, idcol, drive := "event e", "e.generated", "e.id", -1
	if !timeOrder || f == nil {
		return from, gcol, s.filterOn(b, f, drive, gcol, idcol)
	}
	drive = firstEq(f.Traits)
	switch {
	case drive >= 0:
		t, err := parseTraitFilter(f.Traits[drive])
		if err != nil {
			return "", "", err
		}
		// The other trait filters probe d.event_id: they are checked on
		// the trait index's row, before the event row is read.
		gcol, idcol = "d.generated", "d.event_id"
		if s.pg {
			from = "event_trait d CROSS JOIN LATERAL (SELECT * FROM event WHERE id = d.event_id OFFSET 0) e"
		} else {
			from = "event_trait d CROSS JOIN event e"
			b.add("e.id = d.event_id")
		}
		cond, args := t.condition("d.")
		b.add(cond, args...)
	case f.EventType != "" && f.MessageID == "" && !s.pg:
		from = "event e INDEXED BY event_type_generated"
	}
	return from, gcol, s.filterOn(b, f, drive, gcol, idcol)
}

// firstEq returns the index of the first equality filter of traits, or -1.
func firstEq(traits []TraitFilter) int {
	for i, tf := range traits {
		if tf.Op == "" || tf.Op == OpEq {
			return i
		}
	}
	return -1
}

// filterOn adds the conditions of f, but for trait filter skip (which the
// caller answers by a join), comparing times on column gcol and probing
// traits of the event whose id is column idcol.
func (s *Store) filterOn(b *builder, f *Filter, skip int, gcol, idcol string) error {
	b.add("e.namespace = ?", s.ns)
	if f == nil {
		return nil
	}
	if !f.Start.IsZero() {
		b.add(gcol+" >= ?", f.Start.UnixMicro())
	}
	if !f.End.IsZero() {
		b.add(gcol+" < ?", f.End.UnixMicro())
	}
	if f.EventType != "" {
		b.add("e.event_type = ?", f.EventType)
	}
	if f.MessageID != "" {
		b.add("e.message_id = ?", f.MessageID)
	}
	// Without a join, the first equality filter drives the query through
	// its value index; the others are probes of the trait table's primary
	// key (event_id, name) for each candidate, so no filter materialises
	// every event that matches it alone.
	drive := -1
	if skip < 0 {
		drive = firstEq(f.Traits)
	}
	for i, tf := range f.Traits {
		if i == skip {
			continue // already checked and joined by from
		}
		t, err := parseTraitFilter(tf)
		if err != nil {
			return err
		}
		if i == drive {
			cond, arg := t.condition("")
			b.add("e.id IN (SELECT event_id FROM event_trait WHERE "+cond+")", arg...)
		} else {
			cond, arg := t.probe(idcol)
			b.add(cond, arg...)
		}
	}
	return nil
}

// matching returns "<from> WHERE <conditions>" over every event that
// matches f, for statements that read them all, and its arguments.
func (s *Store) matching(f *Filter) (string, []any, error) {
	var b builder
	from, _, err := s.from(&b, f, true)
	if err != nil {
		return "", nil, err
	}
	return from + ` WHERE ` + b.where(), b.args, nil
}

// traitFilter is a checked trait filter: the trait index column its value
// is compared in, and the type condition that column needs.
type traitFilter struct {
	name, col, op string
	val           any
	typ           int64 // 0: the column holds one type only
}

// parseTraitFilter checks tf and picks its column.
func parseTraitFilter(tf TraitFilter) (*traitFilter, error) {
	if tf.Name == "" {
		return nil, fmt.Errorf("%w: trait filter without a trait name", ErrInvalid)
	}
	op := tf.Op
	if op == "" {
		op = OpEq
	}
	sqlOp, ok := opSQL[op]
	if !ok {
		return nil, fmt.Errorf("%w: trait filter on %q: operator %q: want eq, ne, lt, le, gt or ge", ErrInvalid, tf.Name, tf.Op)
	}
	t, err := Trait{Name: tf.Name, Type: tf.Type, Value: tf.Value}.normalize()
	if err != nil {
		return nil, fmt.Errorf("trait filter: %w", err)
	}
	vs, vi, vf := traitColumns(t)
	out := &traitFilter{name: t.Name, col: "v_float", op: sqlOp, val: vf}
	switch {
	case vs != nil:
		out.col, out.val = "v_string", vs
	case vi != nil:
		// Integers and datetimes share v_int. Only strings have v_string
		// and only floats v_float: a type condition there would only
		// mislead the planner's estimates.
		out.col, out.val, out.typ = "v_int", vi, int64(t.Type)
	}
	return out, nil
}

// condition is the filter on the trait index's columns, prefixed with
// prefix: what a scan of the value index answers.
func (t *traitFilter) condition(prefix string) (string, []any) {
	cond := prefix + "name = ? AND " + prefix + t.col + " " + t.op + " ?"
	if t.typ == 0 {
		return cond, []any{t.name, t.val}
	}
	return cond + " AND " + prefix + "type = ?", []any{t.name, t.val, t.typ}
}

// probe is the filter on one candidate event, whose id is column idcol:
// its trait is looked up by the primary key (event_id, name) and compared. Written as a lookup,
// it cannot be planned as a scan of every value in range, as an EXISTS
// over the value index can.
func (t *traitFilter) probe(idcol string) (string, []any) {
	lookup := "SELECT " + t.col + " FROM event_trait WHERE event_id = " + idcol + " AND name = ?"
	args := []any{t.name}
	if t.typ != 0 {
		lookup += " AND type = ?"
		args = append(args, t.typ)
	}
	return "(" + lookup + ") " + t.op + " ?", append(args, t.val)
}

// normalizedSort returns the sort keys with message_id appended as the
// tie-break.
func normalizedSort(keys []SortKey) ([]SortKey, error) {
	if len(keys) == 0 {
		return []SortKey{{Field: FieldGenerated}, {Field: FieldMessageID}}, nil
	}
	var out []SortKey
	seen := map[Field]bool{}
	for _, k := range keys {
		if k.Field != FieldGenerated && k.Field != FieldMessageID {
			return nil, fmt.Errorf("%w: sort key %q: want generated or message_id", ErrInvalid, k.Field)
		}
		if seen[k.Field] {
			return nil, fmt.Errorf("%w: sort key %q given twice", ErrInvalid, k.Field)
		}
		seen[k.Field] = true
		out = append(out, k)
		if k.Field == FieldMessageID {
			// message_id is unique: later keys cannot matter.
			return out, nil
		}
	}
	return append(out, SortKey{Field: FieldMessageID}), nil
}

// limit checks a query's limit.
func (s *Store) limit(n int) (int, error) {
	switch {
	case n == 0:
		return LimitDefault, nil
	case n < 0:
		return 0, fmt.Errorf("%w: limit %d: want a positive number", ErrInvalid, n)
	case n > s.maxLimit:
		return 0, fmt.Errorf("%w: limit %d is above the maximum of %d: page with the marker", ErrInvalid, n, s.maxLimit)
	}
	return n, nil
}

// Query returns one page of the events that match q, in q's order.
func (s *Store) Query(ctx context.Context, q *Query) ([]*Event, error) {
	if q == nil {
		q = &Query{}
	}
	query, args, err := s.querySQL(ctx, q)
	if err != nil {
		return nil, err
	}
	out, err := s.queryEvents(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query events of namespace %q: %w", s.ns, err)
	}
	return out, nil
}

// querySQL returns the statement of Query and its arguments.
func (s *Store) querySQL(ctx context.Context, q *Query) (string, []any, error) {
	limit, err := s.limit(q.Limit)
	if err != nil {
		return "", nil, err
	}
	keys, err := normalizedSort(q.Sort)
	if err != nil {
		return "", nil, err
	}
	// Sorted by time with an equality trait filter, the query walks that
	// filter's value index, which is ordered by generated, and stops after
	// the page: its cost does not grow with the events that match. Sorted
	// by message_id, it walks that index instead and probes the filters.
	var b builder
	from, gcol, err := s.from(&b, &q.Filter, keys[0].Field == FieldGenerated)
	if err != nil {
		return "", nil, err
	}
	if q.Marker != "" {
		var m struct {
			Generated int64  `db:"generated"`
			MessageID string `db:"message_id"`
		}
		err := s.getRead(ctx, &m, `SELECT generated, message_id FROM event WHERE namespace = ? AND message_id = ?`, s.ns, q.Marker)
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil, fmt.Errorf("%w: %w: marker %q is no event of namespace %q: use the message_id of the last event of the previous page", ErrInvalid, ErrUnknownMarker, q.Marker, s.ns)
		}
		if err != nil {
			return "", nil, fmt.Errorf("look up marker %q: %w", q.Marker, err)
		}
		// After the marker: (k1 after v1) OR (k1 = v1 AND k2 after v2) …
		var ors []string
		var args []any
		for i := range keys {
			var ands []string
			for j := 0; j <= i; j++ {
				col, val := gcol, any(m.Generated)
				if keys[j].Field == FieldMessageID {
					col, val = "e.message_id", any(m.MessageID)
				}
				op := "="
				if j == i {
					op = ">"
					if keys[j].Desc {
						op = "<"
					}
				}
				ands = append(ands, col+" "+op+" ?")
				args = append(args, val)
			}
			ors = append(ors, "("+strings.Join(ands, " AND ")+")")
		}
		b.add("("+strings.Join(ors, " OR ")+")", args...)
	}
	var order []string
	for _, k := range keys {
		dir := " ASC"
		if k.Desc {
			dir = " DESC"
		}
		col := "e.message_id"
		if k.Field == FieldGenerated {
			col = gcol
		}
		order = append(order, col+dir)
	}
	b.args = append(b.args, limit)
	return `SELECT ` + eventColumns + ` FROM ` + from + ` WHERE ` + b.where() +
		` ORDER BY ` + strings.Join(order, ", ") + ` LIMIT ?`, b.args, nil
}

// queryEvents runs a read of eventColumns and decodes each row, scanning
// by hand: reflection would cost more than the decoding.
func (s *Store) queryEvents(ctx context.Context, query string, args ...any) ([]*Event, error) {
	query = s.db.Rebind(query)
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	var rows *sql.Rows
	if st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = s.db.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Event{}
	for rows.Next() {
		var r eventRow
		if err := rows.Scan(&r.MessageID, &r.EventType, &r.Generated, &r.Expires, &r.Source,
			&r.Encoding, &r.Compression, &r.Value, &r.RawSize); err != nil {
			return nil, err
		}
		e, err := r.event()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Count returns how many events match f.
func (s *Store) Count(ctx context.Context, f *Filter) (int64, error) {
	match, args, err := s.matching(f)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.getRead(ctx, &n, `SELECT COUNT(*) FROM `+match, args...); err != nil {
		return 0, fmt.Errorf("count events of namespace %q: %w", s.ns, err)
	}
	return n, nil
}

// deleteIDs removes events and their trait index rows by id, in tx.
func (s *Store) deleteIDs(ctx context.Context, tx *sqlx.Tx, ids []int64) error {
	if s.pg {
		if len(ids) == 0 {
			return nil
		}
		arr := pq.Int64Array(ids)
		if _, err := tx.ExecContext(ctx, `DELETE FROM event_trait WHERE event_id = ANY($1::bigint[])`, arr); err != nil {
			return fmt.Errorf("delete event traits: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM event WHERE id = ANY($1::bigint[])`, arr); err != nil {
			return fmt.Errorf("delete events: %w", err)
		}
		return nil
	}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		in := placeholders(len(chunk), 1)
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM event_trait WHERE event_id IN (`+in+`)`), args...); err != nil {
			return fmt.Errorf("delete event traits: %w", err)
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM event WHERE id IN (`+in+`)`), args...); err != nil {
			return fmt.Errorf("delete events: %w", err)
		}
	}
	return nil
}

// pruneDictionaries drops the event types (and their trait types) that no
// event has any more, in every namespace when ns is empty.
func pruneDictionaries(ctx context.Context, tx *sqlx.Tx, ns string) error {
	cond, args := "", []any{}
	if ns != "" {
		cond, args = "namespace = ? AND ", []any{ns}
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM event_type WHERE `+cond+`NOT EXISTS
		(SELECT 1 FROM event e WHERE e.namespace = event_type.namespace AND e.event_type = event_type.event_type)`), args...); err != nil {
		return fmt.Errorf("prune event types: %w", err)
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM event_type_trait WHERE `+cond+`NOT EXISTS
		(SELECT 1 FROM event_type t WHERE t.namespace = event_type_trait.namespace AND t.event_type = event_type_trait.event_type)`), args...); err != nil {
		return fmt.Errorf("prune trait types: %w", err)
	}
	return nil
}

// Delete removes the events that match f, in one transaction, and
// returns how many it removed. A nil or empty filter deletes the whole
// namespace.
func (s *Store) Delete(ctx context.Context, f *Filter) (int64, error) {
	match, args, err := s.matching(f)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, tx.Rebind(`SELECT e.id FROM `+match), args...); err != nil {
			return fmt.Errorf("select events: %w", err)
		}
		if err := s.deleteIDs(ctx, tx, ids); err != nil {
			return err
		}
		n = int64(len(ids))
		if n == 0 {
			return nil
		}
		return pruneDictionaries(ctx, tx, s.ns)
	})
	if err != nil {
		return 0, fmt.Errorf("delete events of namespace %q: %w", s.ns, err)
	}
	return n, nil
}

// DistinctParams selects the distinct values of one trait.
type DistinctParams struct {
	Filter
	// Name is the trait.
	Name string
	// Limit caps the values returned. Zero means LimitDefault; more than
	// the store's MaxLimit is an error.
	Limit int
}

type valueRow struct {
	Type    int64           `db:"type"`
	VString sql.NullString  `db:"v_string"`
	VInt    sql.NullInt64   `db:"v_int"`
	VFloat  sql.NullFloat64 `db:"v_float"`
}

func (v *valueRow) trait(name string) Trait {
	t := Trait{Name: name, Type: TraitType(v.Type)}
	switch {
	case v.VString.Valid:
		t.Value = v.VString.String
	case v.VFloat.Valid:
		t.Value = v.VFloat.Float64
	case t.Type == TypeDatetime:
		t.Value = time.UnixMicro(v.VInt.Int64).UTC()
	default:
		t.Value = v.VInt.Int64
	}
	return t
}

// Distinct returns the distinct values of a trait among the events that
// match the filter, ordered by type then value.
func (s *Store) Distinct(ctx context.Context, p *DistinctParams) ([]Trait, error) {
	if p.Name == "" {
		return nil, fmt.Errorf("%w: distinct values: no trait name", ErrInvalid)
	}
	limit, err := s.limit(p.Limit)
	if err != nil {
		return nil, err
	}
	match, margs, err := s.matching(&p.Filter)
	if err != nil {
		return nil, err
	}
	args := append([]any{p.Name}, margs...)
	args = append(args, limit)
	var rows []valueRow
	err = s.selectRead(ctx, &rows, `SELECT DISTINCT t.type, t.v_string, t.v_int, t.v_float FROM event_trait t
		WHERE t.name = ? AND t.event_id IN (SELECT e.id FROM `+match+`)
		ORDER BY t.type, t.v_string, t.v_int, t.v_float LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("distinct values of trait %q in namespace %q: %w", p.Name, s.ns, err)
	}
	out := make([]Trait, len(rows))
	for i := range rows {
		out[i] = rows[i].trait(p.Name)
	}
	return out, nil
}

// MinMax returns the earliest and latest generated time of the events
// that match f; ErrNotFound when none does.
func (s *Store) MinMax(ctx context.Context, f *Filter) (time.Time, time.Time, error) {
	match, args, err := s.matching(f)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	var r struct {
		Min sql.NullInt64 `db:"min"`
		Max sql.NullInt64 `db:"max"`
	}
	if err := s.getRead(ctx, &r, `SELECT MIN(e.generated) AS min, MAX(e.generated) AS max FROM `+match, args...); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("min and max of generated in namespace %q: %w", s.ns, err)
	}
	if !r.Min.Valid {
		return time.Time{}, time.Time{}, fmt.Errorf("min and max of generated in namespace %q: no event matches: %w", s.ns, ErrNotFound)
	}
	return time.UnixMicro(r.Min.Int64).UTC(), time.UnixMicro(r.Max.Int64).UTC(), nil
}

// Activity says when events of one type last happened.
type Activity struct {
	EventType string    `json:"event_type"`
	Last      time.Time `json:"last"`
	// Active is true when an event of the type was generated within the
	// window asked for.
	Active bool `json:"active"`
}

// Watchdog reports, per event type, whether an event was generated in the
// last window (up to now by the store's clock), ordered by type.
func (s *Store) Watchdog(ctx context.Context, window time.Duration) ([]Activity, error) {
	if window <= 0 {
		return nil, fmt.Errorf("%w: watchdog window %s: want a positive duration", ErrInvalid, window)
	}
	var rows []struct {
		EventType string        `db:"event_type"`
		Last      sql.NullInt64 `db:"last"`
	}
	err := s.selectRead(ctx, &rows, `SELECT t.event_type,
		(SELECT MAX(e.generated) FROM event e WHERE e.namespace = t.namespace AND e.event_type = t.event_type) AS last
		FROM event_type t WHERE t.namespace = ? ORDER BY t.event_type`, s.ns)
	if err != nil {
		return nil, fmt.Errorf("watchdog of namespace %q: %w", s.ns, err)
	}
	since := s.now().Add(-window)
	out := make([]Activity, 0, len(rows))
	for _, r := range rows {
		if !r.Last.Valid {
			continue
		}
		last := time.UnixMicro(r.Last.Int64).UTC()
		out = append(out, Activity{EventType: r.EventType, Last: last, Active: !last.Before(since)})
	}
	return out, nil
}

// EventTypes returns the namespace's event types, sorted; none is an
// empty list.
func (s *Store) EventTypes(ctx context.Context) ([]string, error) {
	out := []string{}
	if err := s.selectRead(ctx, &out, `SELECT event_type FROM event_type WHERE namespace = ? ORDER BY event_type`, s.ns); err != nil {
		return nil, fmt.Errorf("event types of namespace %q: %w", s.ns, err)
	}
	return out, nil
}

// TraitInfo is a trait name and type seen in events of one type.
type TraitInfo struct {
	Name string    `json:"name" db:"name"`
	Type TraitType `json:"type" db:"type"`
}

// TraitTypes returns the trait names and types of an event type, sorted
// by name; an unknown type has an empty list.
func (s *Store) TraitTypes(ctx context.Context, eventType string) ([]TraitInfo, error) {
	out := []TraitInfo{}
	if err := s.selectRead(ctx, &out, `SELECT name, type FROM event_type_trait WHERE namespace = ? AND event_type = ? ORDER BY name, type`, s.ns, eventType); err != nil {
		return nil, fmt.Errorf("trait types of event type %q in namespace %q: %w", eventType, s.ns, err)
	}
	return out, nil
}

// TraitValues returns up to limit distinct values of one trait among the
// events of one type (limit zero means LimitDefault); an unknown type or
// trait has an empty list.
func (s *Store) TraitValues(ctx context.Context, eventType, name string, limit int) ([]Trait, error) {
	if eventType == "" {
		return nil, fmt.Errorf("%w: trait values: no event type", ErrInvalid)
	}
	return s.Distinct(ctx, &DistinctParams{Filter: Filter{EventType: eventType}, Name: name, Limit: limit})
}

// Expire removes, in every namespace, the events whose expiration time is
// at or before now, in transactions of at most batch events (zero means
// ExpireBatchDefault), and returns how many events and stored value bytes
// went. With dryRun it only counts them. It satisfies the reaper's
// expirer interface.
func (s *Store) Expire(ctx context.Context, now time.Time, batch int, dryRun bool) (rows, bytes int64, err error) {
	if batch < 0 {
		return 0, 0, fmt.Errorf("%w: expire batch %d: want a positive size", ErrInvalid, batch)
	}
	if batch == 0 {
		batch = ExpireBatchDefault
	}
	horizon := now.UTC().UnixMicro()
	size := "length(value)"
	if s.pg {
		size = "octet_length(value)"
	}
	if dryRun {
		var r struct {
			N int64 `db:"n"`
			B int64 `db:"b"`
		}
		if err := s.getRead(ctx, &r, `SELECT COUNT(*) AS n, COALESCE(SUM(`+size+`), 0) AS b FROM event WHERE expires <= ?`, horizon); err != nil {
			return 0, 0, fmt.Errorf("count expired events: %w", err)
		}
		return r.N, r.B, nil
	}
	for {
		var (
			n          int
			batchBytes int64
		)
		err := s.inTx(ctx, func(tx *sqlx.Tx) error {
			var got []struct {
				ID   int64 `db:"id"`
				Size int64 `db:"size"`
			}
			if err := tx.SelectContext(ctx, &got, tx.Rebind(`SELECT id, `+size+` AS size FROM event WHERE expires <= ? ORDER BY expires LIMIT ?`), horizon, batch); err != nil {
				return fmt.Errorf("select expired events: %w", err)
			}
			ids := make([]int64, len(got))
			for i, g := range got {
				ids[i] = g.ID
				batchBytes += g.Size
			}
			if err := s.deleteIDs(ctx, tx, ids); err != nil {
				return err
			}
			n = len(ids)
			if n < batch {
				return pruneDictionaries(ctx, tx, "")
			}
			return nil
		})
		if err != nil {
			return rows, bytes, fmt.Errorf("expire events before %s: %w", now.UTC().Format(time.RFC3339), err)
		}
		rows += int64(n)
		bytes += batchBytes
		if n < batch {
			return rows, bytes, nil
		}
	}
}
