package taskmanager_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/taskmanager"
	"github.com/strata-dataspace/strata/taskmanager/logic"
)

type queueSource struct{ n int }

func (s *queueSource) Produces() []string { return []string{"queue"} }
func (s *queueSource) Acquire(context.Context) (map[string]any, error) {
	s.n++
	return map[string]any{"queue": map[string]int{"idle": s.n * 3}}, nil
}

type printer struct{}

func (printer) Consumes() []string { return []string{"queue"} }
func (printer) Publish(_ context.Context, in *taskmanager.Products) error {
	q, err := taskmanager.Get[map[string]int](in, "queue")
	fmt.Printf("gen %d: provision for %d idle jobs\n", in.Generation, q["idle"])
	return err
}

func ExampleChannel() {
	dir, _ := os.MkdirTemp("", "strata-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	space, err := dataspace.Open(ctx, "sqlite://"+filepath.Join(dir, "strata.db"), nil)
	if err != nil {
		panic(err)
	}
	defer space.Close()

	reg := taskmanager.NewRegistry()
	_ = logic.Register(reg)
	_ = reg.RegisterSource("queue", func(taskmanager.Params) (taskmanager.Source, error) { return &queueSource{}, nil })
	_ = reg.RegisterPublisher("printer", func(taskmanager.Params) (taskmanager.Publisher, error) { return printer{}, nil })
	f, err := taskmanager.ParseFile("demo", []byte(`{
		"sources": {"q": {"module": "queue"}},
		"logicengines": {"le": {"module": "logicengine", "parameters": {
			"facts": {"busy": "queue.idle > 4"},
			"rules": {"provision": {"expression": "busy", "actions": ["p"]}}}}},
		"publishers": {"p": {"module": "printer"}}
	}`))
	if err != nil {
		panic(err)
	}
	c, err := taskmanager.NewChannel(ctx, space, f.Channels[0], &taskmanager.Config{Registry: reg})
	if err != nil {
		panic(err)
	}
	for range 3 {
		res, err := c.RunCycle(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Printf("gen %d: busy=%v\n", res.Generation, res.Decision.Facts["busy"])
	}
	b, _ := space.DataBlock(ctx, "demo")
	keys, _ := b.Keys(ctx)
	facts, _ := datablock.Get[taskmanager.Decision](ctx, b, taskmanager.FactsKey)
	fmt.Println(keys, facts.Actions)
	// Output:
	// gen 1: busy=false
	// gen 2: provision for 6 idle jobs
	// gen 2: busy=true
	// gen 3: provision for 9 idle jobs
	// gen 3: busy=true
	// [facts publishers queue] [p]
}
