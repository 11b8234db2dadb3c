package events_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/events"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "events-example")
	defer os.RemoveAll(dir)
	space, err := dataspace.Open(ctx, "sqlite://"+filepath.Join(dir, "strata.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer space.Close()
	store, err := events.Open(ctx, space, &events.Config{Namespace: "cloud"})
	if err != nil {
		log.Fatal(err)
	}

	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	res, err := store.Record(ctx, []*events.Event{
		{MessageID: "e1", EventType: "compute.instance.create.end", Generated: t0,
			Traits: []events.Trait{{Name: "host", Type: events.TypeString, Value: "node1"}, {Name: "vcpus", Type: events.TypeInteger, Value: int64(4)}}},
		{MessageID: "e2", EventType: "compute.instance.create.end", Generated: t0.Add(time.Minute),
			Traits: []events.Trait{{Name: "host", Type: events.TypeString, Value: "node2"}, {Name: "vcpus", Type: events.TypeInteger, Value: int64(16)}}},
		{MessageID: "e1", EventType: "compute.instance.delete.end"},
		{MessageID: "e3"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range res.Outcomes {
		fmt.Println(o.MessageID, o.Status)
	}

	big, err := store.Query(ctx, &events.Query{Filter: events.Filter{
		Traits: []events.TraitFilter{{Name: "vcpus", Op: events.OpGt, Type: events.TypeInteger, Value: "8"}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range big {
		host, _ := e.Trait("host")
		fmt.Println(e.MessageID, events.FormatTime(e.Generated), host)
	}
	// Output:
	// e1 stored
	// e2 stored
	// e1 duplicate
	// e3 rejected
	// e2 2026-03-01T12:01:00 node2
}
