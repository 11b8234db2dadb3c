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
// Every source runs on its own schedule, in its own goroutine, so a slow
// source delays no other. When every expected source product has arrived
// (every source has delivered once, at least one delivered anew, and every
// source due at the same time as the newest delivery has delivered too), a
// decision cycle runs; a source still busy with an earlier turn is not
// waited for, and its products feed a later cycle:
//
//  1. the transforms run in dependency order, independent ones in parallel,
//     on the new source products and the products of earlier cycles;
//  2. the logic engine evaluates its facts and rules (package logic);
//  3. the newest generation is duplicated (no product is copied: products
//     not rewritten are inherited), unless it is a new instance's first;
//  4. the publishers the logic engine chose run (all of them without a
//     logic engine);
//  5. the new source products, the transforms' products, FactsKey (the
//     Decision) and PublishersKey (each publisher's PublisherStatus) are
//     written in one transaction, with metadata state END_CYCLE.
//
// DESIGN.md describes the cycle as "put source products, duplicate,
// transforms, logic engine, publishers". The products are the same, but
// the framework keeps them in memory until step 5 so that each cycle is one
// atomic write: a generation holds the whole cycle (its source products,
// everything derived from them, the facts and the publishers' status) or
// nothing of it. Hence the order:
//
//   - transforms and the logic engine run before anything is written, so a
//     module failure (cycle skipped) or a shutdown up to then leaves no
//     trace in the datasource, not a half-filled generation;
//   - the duplicate comes before the publishers, so publishers never act
//     on a cycle whose generation the datasource refused (a sealed or
//     vanished instance);
//   - the publishers run before the write, so their status is part of the
//     same transaction as the products they acted on.
//
// The write (step 3 and step 5, each one transaction) is tried again with
// backoff, by the channel's clock, after a datasource failure that may be
// transient (Config.WriteRetries); publishers are not run again. If the
// retries are spent, or the failure is not transient (datasource.ErrInvalid,
// ErrSealed, ErrClosed…), the channel goes to ERROR; a generation opened in
// step 3 then holds only what it inherited from the one before (no product
// of its own), and a later run of the channel starts the next one. A
// duplicate whose commit went through but whose reply was lost (the
// connection dropped) is recognised on the retry: the generation it opened
// is the newest one, so the channel goes on in it instead of failing on
// its own sealed generation.
//
// A failure of a module is logged with its name and handled by the
// channel's failure policy: skip the cycle (default) or take the channel
// OFFLINE; other channels go on. A shutdown (ctx cancelled) abandons a
// cycle that has not reached step 3 and finishes one that has.
package taskmanager
