// Package datasource defines the storage contract of Strata: the DataSource
// interface, the rows it stores and the errors it returns.
//
// # Generations without copying
//
// A product version is valid for a range of generations
// [FirstGeneration, LastGeneration). Opening generation g+1
// (GenerationDuplicate) touches no product row: every version open at g is
// still valid at g+1. Writing a key in g+1 closes the inherited version at
// g+1 and inserts a new one; writing it again in g+1 replaces that version.
// Reading (g, key) finds the one version whose range holds g. Storage thus
// grows with what changed, not with the number of cycles.
//
// # Writing a backend
//
// A new backend lives in its own package under datasource/ and must:
//
//   - implement every DataSource method, context first, with one
//     transaction per method that writes more than one row;
//   - embed versioned SQL migrations and record them in a schema-version
//     table, so that Migrate is idempotent and safe to run concurrently;
//   - map driver errors in one interpretError so that callers can use
//     errors.Is with ErrNotFound, ErrSealed, ErrInvalid, ErrExists and
//     ErrFull;
//   - compute every time in Go and pass it to SQL (never now() in a query);
//   - pass the conformance suite: datasourcetest.Run(t, factory), where the
//     factory returns a fresh, migrated store per call.
package datasource
