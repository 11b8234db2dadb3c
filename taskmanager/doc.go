// Package taskmanager runs channels: decision pipelines of sources,
// transforms, a logic engine and publishers, each a registered Go module,
// whose products go into the generational DataBlock of the task manager
// named after the channel.
//
// A channel config (JSON, or jsonnet through LoadFile) has the original
// decision engine's shape:
//
//	{"sources":      {"jobs":   {"module": "jobqueue", "parameters": {…}, "schedule": "30s"}},
//	 "transforms":   {"merit":  {"module": "figureofmerit"}},
//	 "logicengines": {"le":     {"module": "logicengine", "parameters": {"facts": {…}, "rules": {…}}}},
//	 "publishers":   {"orders": {"module": "jsonlines", "parameters": {…}}},
//	 "task_manager": {"failure_policy": "skip"}}
//
// Modules declare what they consume and produce; NewChannel checks the
// graph (a product nobody produces, two producers of one product, a cycle
// among transforms → one ErrGraph error naming them all).
//
// Sources run on their schedules. When every source has delivered once and
// at least one delivered anew, a decision cycle runs:
//
//  1. the transforms run in dependency order, independent ones in parallel;
//  2. the logic engine evaluates its facts and rules (package logic);
//  3. the newest generation is duplicated (no product is copied: products
//     not rewritten are inherited), unless it is a new instance's first;
//  4. the publishers the logic engine chose run (all of them without a
//     logic engine);
//  5. the new source products, the transforms' products, FactsKey (the
//     Decision) and PublishersKey (each publisher's PublisherStatus) are
//     written in one transaction, with metadata state END_CYCLE.
//
// A failure of a module is logged with its name and handled by the
// channel's failure policy: skip the cycle (default) or take the channel
// OFFLINE; other channels go on. A shutdown (ctx cancelled) abandons a
// cycle that has not reached step 3 and finishes one that has.
package taskmanager
