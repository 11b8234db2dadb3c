package taskmanager

import (
	"fmt"
	"sort"
	"strings"
)

// Product keys the framework writes into every cycle's generation.
const (
	// FactsKey holds the logic engine's Decision: facts, rules, actions.
	FactsKey = "facts"
	// PublishersKey holds the status of every publisher in the cycle.
	PublishersKey = "publishers"
)

// graphNode is one module as the graph check sees it.
type graphNode struct {
	kind     string // source, transform, logic engine, publisher
	name     string
	consumes []string
	produces []string
}

func (n graphNode) String() string { return fmt.Sprintf("%s %q", n.kind, n.name) }

// checkGraph checks the product graph of a channel and returns the
// transforms (indexes into transforms) in dependency levels: each level
// only consumes products of sources and earlier levels.
func checkGraph(channel string, nodes []graphNode) ([][]int, error) {
	var problems []string
	producers := map[string][]graphNode{}
	hasEngine := false
	for _, n := range nodes {
		if n.kind == "logic engine" {
			hasEngine = true
		}
		for _, p := range n.produces {
			if p == FactsKey || p == PublishersKey {
				problems = append(problems, fmt.Sprintf("%s produces %q, a name the framework keeps for itself", n, p))
				continue
			}
			producers[p] = append(producers[p], n)
		}
	}
	for _, p := range sortedKeys(producers) {
		if ps := producers[p]; len(ps) > 1 {
			names := make([]string, len(ps))
			for i, n := range ps {
				names[i] = n.String()
			}
			problems = append(problems, fmt.Sprintf("product %q has %d producers (%s): exactly one module may produce it", p, len(ps), strings.Join(names, ", ")))
		}
	}
	for _, n := range nodes {
		for _, c := range n.consumes {
			if c == FactsKey {
				switch {
				case n.kind != "publisher":
					problems = append(problems, fmt.Sprintf("%s consumes %q, which only publishers can read (the logic engine writes it after the transforms)", n, c))
				case !hasEngine:
					problems = append(problems, fmt.Sprintf("%s consumes %q, but the channel has no logic engine to produce it", n, c))
				}
				continue
			}
			if len(producers[c]) == 0 {
				problems = append(problems, fmt.Sprintf("product %q consumed by %s is produced by no module", c, n))
			}
		}
	}

	// Order transforms by levels (Kahn); what is left over is in a cycle.
	var transforms []graphNode
	for _, n := range nodes {
		if n.kind == "transform" {
			transforms = append(transforms, n)
		}
	}
	producerOf := map[string]int{}
	for i, t := range transforms {
		for _, p := range t.produces {
			producerOf[p] = i
		}
	}
	deps := make([]map[int]bool, len(transforms))
	for i, t := range transforms {
		deps[i] = map[int]bool{}
		for _, c := range t.consumes {
			if j, ok := producerOf[c]; ok {
				deps[i][j] = true
			}
		}
	}
	var levels [][]int
	done := map[int]bool{}
	for len(done) < len(transforms) {
		var level []int
		for i := range transforms {
			if done[i] {
				continue
			}
			ready := true
			for j := range deps[i] {
				if !done[j] {
					ready = false
					break
				}
			}
			if ready {
				level = append(level, i)
			}
		}
		if len(level) == 0 {
			var names []string
			for i, t := range transforms {
				if !done[i] {
					names = append(names, fmt.Sprintf("%q", t.name))
				}
			}
			sort.Strings(names)
			problems = append(problems, fmt.Sprintf("transforms %s depend on each other in a cycle", strings.Join(names, ", ")))
			break
		}
		for _, i := range level {
			done[i] = true
		}
		levels = append(levels, level)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: channel %q: %s", ErrGraph, channel, strings.Join(problems, "; "))
	}
	return levels, nil
}
