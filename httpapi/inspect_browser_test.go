package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/internal/testenv"
)

// chromium finds the browser: $STRATA_CHROMIUM, then chromium or
// chromium-browser on PATH, then /usr/bin/chromium. Without one the test
// is skipped, except under CI=true where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STRATA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "headless Chromium not found: install it (Debian: apt-get install chromium chromium-driver) or set STRATA_CHROMIUM to its path")
	return ""
}

// screenshotDir is where the test writes one PNG per page, kept after the
// run so that they can be looked at (or collected by CI):
// $STRATA_SCREENSHOTS, else strata-screenshots in the system's temporary
// directory. The paths are logged (go test -v shows them).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("STRATA_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "strata-screenshots")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// TestInspectPageInBrowser clicks through the inspection page in headless
// Chromium against a server over real data on SQLite: task manager →
// generation → product (column filter, query) → diff, checking what each
// page shows and saving a screenshot of each.
func TestInspectPageInBrowser(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	srv := inspectServer(t, "sqlite", false)
	shots := screenshotDir(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // Chromium refuses to run as root with its sandbox
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, steps...))
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(sel))
		require.NoError(t, err, "text of %s", sel)
		return s
	}
	eval := func(js string) []string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](js))
		require.NoError(t, err, js)
		return v
	}
	column := func(table string, n int) []string {
		return eval(fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(td => td.textContent.trim())`,
			fmt.Sprintf("#%s tbody tr td:nth-child(%d)", table, n)))
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.True(t, bytes.HasPrefix(png, []byte("\x89PNG")), "a PNG")
		path := filepath.Join(shots, name+".png")
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("screenshot of the %s page: %s", name, path)
	}
	// submit clicks a button that loads a new page and waits until an
	// element of the new page (not of the old one) is visible.
	submit := func(button, want string) {
		t.Helper()
		_, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.body.dataset.old = "1"; true`))
		require.NoError(t, err)
		do(chromedp.Click(chromedp.CSS(button)), chromedp.WaitVisible(chromedp.CSS("body:not([data-old]) "+want)))
	}

	// Home: the task managers and the reaper's status.
	do(chromedp.Navigate(srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#taskmanagers")))
	require.Equal(t, []string{"idle", "jobs", "strata.reaper"}, column("taskmanagers", 1))
	require.Equal(t, []string{"1", "3", "1"}, column("taskmanagers", 2))
	require.Equal(t, "IDLE", text("#reaper-state"))
	require.Contains(t, text("#reaper-report"), `"generations_deleted": 7`)
	shot("home")

	// Task manager: the timeline of generations, newest first.
	do(chromedp.Click(chromedp.CSS(`#taskmanagers a.tm[href="/ui/tm/jobs"]`)), chromedp.WaitVisible(chromedp.CSS("#generations")))
	require.Equal(t, "Task manager jobs", text("#title"))
	require.Equal(t, []string{"3", "2", "1"}, column("generations", 1))
	require.Equal(t, []string{"2", "2", "4"}, column("generations", 3))
	require.Equal(t, []string{"open", "sealed", "sealed"}, column("generations", 6))
	shot("timeline")

	// Generation 2: its products with their rows.
	do(chromedp.Click(chromedp.CSS(`#generations a.gen[href="/ui/tm/jobs/g/2"]`)), chromedp.WaitVisible(chromedp.CSS("#products")))
	require.Equal(t, "jobs · generation 2", text("#title"))
	require.Equal(t, []string{"config", "facts", "jobs", "publishers"}, column("products", 1))
	require.Equal(t, []string{"", "", "3", ""}, column("products", 2))
	require.Equal(t, "JobSource", column("products", 3)[2])
	require.JSONEq(t, `{"allow": false}`, text("#decided-facts"), "what the channel decided")
	require.JSONEq(t, `{"mail": "sent"}`, text("#decided-publishers"))
	shot("generation")

	// The product viewer: a table, a column filter, a row query.
	do(chromedp.Click(chromedp.CSS(`#products a.product[href="/ui/tm/jobs/g/2/p/jobs"]`)), chromedp.WaitVisible(chromedp.CSS("#rows")))
	require.Equal(t, "3 of 3 rows.", text("#row-count"))
	require.Equal(t, []string{"FNAL", "CERN", "DESY"}, column("rows", 2))
	visible := `Array.from(document.querySelectorAll("#rows th")).filter(th => !th.classList.contains("hidden")).map(th => th.textContent)`
	require.Equal(t, []string{"id", "site", "cpu"}, eval(visible))
	do(chromedp.SendKeys(chromedp.CSS("#column-filter"), "si"))
	// The page filters on its input events, which may run after the keys
	// were sent: wait until it has hidden a column, then check which.
	shown, err := chromedp.Run(bctx, chromedp.Poll[[]string](`(() => { const v = `+visible+`; return v.length < 3 ? v : null })()`,
		chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "the column filter hid no column")
	require.Equal(t, []string{"site"}, shown)
	shot("product-columns")
	do(chromedp.SendKeys(chromedp.CSS("#query"), `cpu > 4`))
	submit("#query-submit", "#rows")
	require.Equal(t, "1 of 3 rows.", text("#row-count"))
	require.Equal(t, []string{"CERN"}, column("rows", 2))
	require.Equal(t, []string{"16"}, column("rows", 3))
	shot("product")

	// A bad query is one clear line on the page, and the rows stay.
	do(chromedp.SetValue(chromedp.CSS("#query"), `cpu >`))
	submit("#query-submit", "#error")
	require.Equal(t, "3 of 3 rows.", text("#row-count"))
	require.True(t, strings.HasPrefix(text("#error"), `bad query expression "cpu >"`), text("#error"))

	// Back to the task manager, then the diff of generations 1 and 3.
	do(chromedp.Click(chromedp.CSS(`#crumbs a[href="/ui/tm/jobs"]`)), chromedp.WaitVisible(chromedp.CSS("#diff-form")))
	do(chromedp.SetValue(chromedp.CSS("#diff-from"), "1"), chromedp.SetValue(chromedp.CSS("#diff-to"), "3"))
	submit("#diff-submit", "#diff")
	require.Equal(t, "jobs · diff of generations 1 and 3", text("#title"))
	require.Equal(t, []string{"alerts", "config", "facts", "facts", "facts", "jobs", "jobs", "jobs", "jobs"}, column("diff", 1))
	require.Equal(t, []string{"added", "rewritten", "changed", "-value", "+value", "changed", "-row", "+row", "+row"}, column("diff", 2))
	require.Equal(t, "+2 −1", column("diff", 4)[5])
	require.Equal(t, `{"cpu":2,"id":3,"site":"DESY"}`, column("diff", 5)[8])
	shot("diff")
}
