// Package datablock holds the values Strata stores and the DataBlock, one
// task manager instance's view of one generation.
//
// # Products
//
// A product is a key, a value, a Header (create, expiration and scheduled
// times, creator, schema id) and Metadata (state, generation, generation
// time, missed updates). Values are encoded as JSON (a []byte value is
// stored untouched), then compressed with zstd by default; the encoding and
// compression are stored with every row, so values written under an older
// default stay readable.
//
// # Generations, a worked example
//
// A task manager writes one generation per decision cycle. Suppose a channel
// puts "jobs" and "offers" in generation 1:
//
//	gen 1: jobs=v1 offers=v1
//
// Duplicate seals generation 1 and opens generation 2 without copying
// anything: both stored versions are valid for [1, ∞), so generation 2
// already holds jobs=v1 and offers=v1. The channel then puts a new "jobs":
//
//	gen 1: jobs=v1 offers=v1     jobs v1 now valid for [1, 2)
//	gen 2: jobs=v2 offers=v1     jobs v2 valid for [2, ∞), offers v1 for [1, ∞)
//
// Reading generation 1 still returns jobs=v1: a sealed generation never
// changes, and refuses writes (datasource.ErrSealed). A second put of
// "jobs" in generation 2 replaces v2 in place. After 1000 cycles where 40 of
// 2000 products change, the store holds 2000 + 40×1000 versions, not
// 2000×1000 rows, and Duplicate costs the same at cycle 1000 as at cycle 1.
package datablock
