//go:build !unix

package reaper

import "os"

// tryLock cannot lock a file on this system: every reaper runs (SQLite's
// single writer still serialises their batches).
func tryLock(*os.File) (bool, error) { return true, nil }
