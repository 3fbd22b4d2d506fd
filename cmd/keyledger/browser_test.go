package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium or Chrome to drive: $CHROME_PATH, then the
// usual names on PATH.
func chromiumPath() string {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// mustBrowser starts a headless Chromium with a fresh profile, or skips the
// test when there is none. The flags keep it off the network: this machine
// has none, and without them Chromium waits on connections.
func mustBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("console browser tests skipped: no Chromium found (set CHROME_PATH or put chromium, chromium-browser " +
			"or google-chrome on PATH; on Debian: apt-get install -y chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// The first run starts the browser; a timeout on it would stop the
	// browser with it, so it has none.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return browser
}

// tab is one browser tab: one person signed in to the console.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// newTab opens a tab in browser; its console is signed out.
func newTab(t *testing.T, browser context.Context) *tab {
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// The first run opens the tab and ties it to its context: no timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	return &tab{t: t, ctx: ctx}
}

// css selects the first element matching a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// do runs steps, failing the test if they take longer than 20 s.
func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%v; the page shows:\n%s", err, b.shows())
	}
}

// shows is the text of the page and of any open dialog, for failure messages.
func (b *tab) shows() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('main, dialog, #toast')].map((e) => e.innerText).join('\n---\n').slice(0, 3000)`))
	if err != nil {
		return err.Error()
	}
	return s
}

// eval evaluates a JavaScript expression (awaiting a promise) into a T.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// text waits for the first element matching sel and returns its text.
func (b *tab) text(sel string) string {
	b.t.Helper()
	b.do(chromedp.WaitVisible(css(sel)))
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// waitText waits until the first element matching sel shows text containing
// want, and returns the text it last showed.
func (b *tab) waitText(sel, want string) string {
	b.t.Helper()
	got := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = eval[string](b, `(document.querySelector(`+strconv.Quote(sel)+`) || {}).textContent || ''`)
		if strings.Contains(got, want) {
			return got
		}
	}
	b.t.Fatalf("%s shows %q, want %q in it", sel, got, want)
	return got
}

// value returns the value of the first form control matching sel.
func (b *tab) value(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(css(sel)))
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// fill empties the input matching sel and types text into it.
func (b *tab) fill(sel, text string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(css(sel)))
	if !eval[bool](b, `(() => { const el = document.querySelector(`+strconv.Quote(sel)+`); el.value = ''; return true })()`) {
		b.t.Fatalf("cannot clear %s", sel)
	}
	if text != "" {
		b.do(chromedp.SendKeys(css(sel), text))
	}
}

// signIn opens the console and signs in with token.
func (b *tab) signIn(url, token string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url),
		chromedp.WaitVisible(css(`input[name=token]`)),
		chromedp.SendKeys(css(`input[name=token]`), token),
		chromedp.Click(css(`form.signin button[type=submit]`)),
		chromedp.WaitVisible(css(`#nav a`)))
}

// page opens a page from the navigation and waits for it.
func (b *tab) page(route string) {
	b.t.Helper()
	b.do(chromedp.Click(css(`#nav a[data-route=`+route+`]`)),
		chromedp.WaitVisible(css(`section[data-page=`+route+`][data-ready] h1`)))
}

// click clicks the first element matching sel. A live refresh may replace
// a table between finding a row's button and clicking it, so a click on a
// node that vanished is tried again, as a person would.
func (b *tab) click(sel string) {
	b.t.Helper()
	var err error
	for range 5 {
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		err = chromedp.Do(ctx, chromedp.Click(css(sel)))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "node") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
}

// screenshot saves the tab as docs/screenshots/<name>.png when
// KEYLEDGER_SCREENSHOTS is set, so that normal runs leave the tree alone.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	if os.Getenv("KEYLEDGER_SCREENSHOTS") == "" {
		return
	}
	b.do(chromedp.Sleep(300 * time.Millisecond)) // let transitions settle
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// api calls one catalogue entry over HTTP as token and decodes the reply.
func api[R any](t *testing.T, m *Main, token, name, body string) R {
	t.Helper()
	req, _ := http.NewRequest("POST", m.HTTPURL()+"/v1/"+strings.ReplaceAll(name, ".", "/"), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("%s: %s %s", name, res.Status, b)
	}
	var v R
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v in %s", name, err, b)
	}
	return v
}

// adminToken reads the token the first start wrote.
func adminToken(t *testing.T, m *Main) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(m.DataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
