// Package crashtest runs the test binary again as a child process that
// writes, and kills it (SIGKILL), for tests of what a killed process
// leaves behind. The package's TestMain tells the child apart by the
// environment it is given and runs the writing instead of the tests.
package crashtest

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// Run starts the test binary as a child process with env added to its
// environment, and calls line with each line the child prints on its
// standard output (lines written before the child died included); line
// returns true to have the child killed. The child may also kill itself.
// Run returns once the child is dead, and fails t unless it died of
// SIGKILL.
func Run(t testing.TB, env []string, line func(string) (kill bool)) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("child process: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child process: %v", err)
	}
	killed := false
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if line(lines.Text()) && !killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill child process: %v", err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the child process stopped on its own (%v):\n%s", err, stderr.String())
	}
	if status, ok := exit.Sys().(syscall.WaitStatus); !ok || !status.Signaled() || status.Signal() != syscall.SIGKILL {
		t.Fatalf("the child process died of SIGKILL, not of %v:\n%s", err, stderr.String())
	}
}
