// Package testenv decides what a test does when a program from outside the
// project that it needs (a PostgreSQL server, Chromium, the OpenStack
// client) is not installed: under CI=true the test fails, so CI can never
// pass by skipping; elsewhere it is skipped with a message saying what to
// install.
package testenv

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// EnvCI names the variable that, when true, turns a missing program into a
// failure.
const EnvCI = "CI"

// CI reports whether the tests run under CI ($CI is true, 1, …).
func CI() bool {
	v, _ := strconv.ParseBool(os.Getenv(EnvCI))
	return v
}

// Missing ends t because something it needs is not installed: a failure
// under CI, a skip elsewhere. The message should say what to install.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("%s (required under %s=true)", msg, EnvCI)
	}
	t.Skipf("%s (set %s=true to fail instead)", msg, EnvCI)
}
