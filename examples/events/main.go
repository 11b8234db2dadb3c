// Events records cloud notifications as products, queries them the way
// Panko does (filters on typed traits, time order, pages), keeps a
// Kronos-style stream of clicks with its inferred JSON Schema, and expires
// what is past its TTL.
//
//	go run ./examples/events [-db sqlite:///tmp/events.db]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/events"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "events:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	url := flag.String("db", "sqlite://./events.db", "datasource URL")
	flag.Parse()

	space, err := dataspace.Open(ctx, *url, nil)
	if err != nil {
		return err
	}
	defer space.Close()
	store, err := events.Open(ctx, space, &events.Config{Namespace: "example", TTL: 24 * time.Hour})
	if err != nil {
		return err
	}
	// Start from an empty namespace, so the example can run again.
	if _, err := store.Delete(ctx, nil); err != nil {
		return err
	}

	// Record a batch: ids are assigned (time-sortable UUIDv7), a bad event
	// is reported on its own and the others are stored.
	now := time.Now().UTC()
	var batch []*events.Event
	for i := range 6 {
		batch = append(batch, &events.Event{
			EventType: "compute.instance.create.end",
			Generated: now.Add(time.Duration(i-6) * time.Minute),
			Traits: []events.Trait{
				{Name: "host", Type: events.TypeString, Value: fmt.Sprintf("node%d", i%2)},
				{Name: "vcpus", Type: events.TypeInteger, Value: int64(2 << i)},
			},
			Raw: json.RawMessage(fmt.Sprintf(`{"instance": "vm-%d"}`, i)),
		})
	}
	batch = append(batch, &events.Event{EventType: "compute.instance.create.end",
		Traits: []events.Trait{{Name: "vcpus", Type: events.TypeInteger, Value: "many"}}})
	res, err := store.Record(ctx, batch)
	if err != nil {
		return err
	}
	fmt.Printf("recorded: %d stored, %d rejected (%v)\n", res.Stored, res.Rejected, res.Outcomes[6].Err)

	// Big instances on node1, newest first, two per page.
	q := &events.Query{
		Filter: events.Filter{Traits: []events.TraitFilter{
			{Name: "host", Op: events.OpEq, Value: "node1"},
			{Name: "vcpus", Op: events.OpGe, Type: events.TypeInteger, Value: "8"},
		}},
		Sort:  []events.SortKey{{Field: events.FieldGenerated, Desc: true}},
		Limit: 2,
	}
	for page := 1; ; page++ {
		evs, err := store.Query(ctx, q)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			vcpus, _ := e.Trait("vcpus")
			fmt.Printf("page %d: %s vcpus=%s raw=%s\n", page, events.FormatTime(e.Generated), vcpus, e.Raw)
		}
		q.Marker = evs[len(evs)-1].MessageID
	}

	types, err := store.TraitTypes(ctx, "compute.instance.create.end")
	if err != nil {
		return err
	}
	fmt.Println("traits of compute.instance.create.end:", types)

	// A Kronos-style stream: put, read back a range, infer the schema.
	if _, err := store.PutStream(ctx, "clicks", []json.RawMessage{
		json.RawMessage(`{"user": "ada", "page": "/", "ms": 12}`),
		json.RawMessage(`{"user": "bob", "page": "/docs", "ms": 40.5, "referrer": "search"}`),
	}); err != nil {
		return err
	}
	schema, err := store.InferSchema(ctx, "clicks")
	if err != nil {
		return err
	}
	js, _ := json.MarshalIndent(schema, "", "  ")
	fmt.Printf("schema of clicks:\n%s\n", js)

	// Nothing is past its TTL yet; a day from now everything is.
	rows, _, err := store.Expire(ctx, now.Add(25*time.Hour), 0, true)
	if err != nil {
		return err
	}
	fmt.Printf("a day from now, expire would remove %d events\n", rows)
	return nil
}
