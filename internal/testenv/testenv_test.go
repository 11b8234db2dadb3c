package testenv_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/internal/testenv"
)

func TestCI(t *testing.T) {
	for value, want := range map[string]bool{"true": true, "1": true, "false": false, "": false, "yes": false} {
		t.Setenv(testenv.EnvCI, value)
		require.Equal(t, want, testenv.CI(), "CI=%q", value)
	}
}

// TestMissing runs itself as a child test binary, once under CI and once
// outside, and checks how the child ended.
func TestMissing(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") != "" {
		testenv.Missing(t, "chromium not found: apt-get install chromium")
		t.Fatal("Missing returned")
	}
	for _, tc := range []struct {
		ci      string
		wantErr bool
		want    string
	}{
		{ci: "true", wantErr: true, want: "--- FAIL"},
		{ci: "", want: "--- SKIP"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissing$", "-test.v")
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, testenv.EnvCI+"=") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, "TESTENV_CHILD=1", testenv.EnvCI+"="+tc.ci)
		out, err := cmd.CombinedOutput()
		if tc.wantErr {
			require.Error(t, err, "%s", out)
		} else {
			require.NoError(t, err, "%s", out)
		}
		require.Contains(t, string(out), tc.want, "CI=%q", tc.ci)
		require.Contains(t, string(out), "apt-get install chromium")
	}
}
