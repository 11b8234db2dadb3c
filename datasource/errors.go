package datasource

import "errors"

// Sentinel errors. Backends wrap them with what failed; callers branch with
// errors.Is.
var (
	// ErrNotFound: the task manager, generation or product does not exist.
	ErrNotFound = errors.New("datasource: not found")
	// ErrSealed: the generation is not the newest one of its task manager
	// instance, so it no longer accepts writes (or was duplicated already).
	ErrSealed = errors.New("datasource: generation is sealed")
	// ErrInvalid: the call's parameters are malformed.
	ErrInvalid = errors.New("datasource: invalid argument")
	// ErrExists: a row with that identity is stored already.
	ErrExists = errors.New("datasource: already exists")
	// ErrClosed: the datasource was closed.
	ErrClosed = errors.New("datasource: closed")
	// ErrFull: the database, or the disk it keeps its files on, is full.
	// The write that met it changed nothing.
	ErrFull = errors.New("datasource: database or disk is full: free space where the database keeps its files (or raise its size limit), then retry")
	// ErrSchemaTooNew: the database was migrated by a newer Strata.
	ErrSchemaTooNew = errors.New("datasource: database schema is newer than this program")
)
