package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestConsoleIsServed checks what a browser fetches: the page at /, its
// assets with the right types, and a policy that allows no script but ours;
// no listings, and API paths never answered with the page.
func TestConsoleIsServed(t *testing.T) {
	srv := httptest.NewServer(NewServer("", nil, func() error { return nil }).Handler())
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		status       int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html", `<script type="module" src="/console/js/app.js">`},
		{"GET", "/console/js/app.js", 200, "text/javascript", "import"},
		{"GET", "/console/style.css", 200, "text/css", ":root"},
		{"GET", "/console/js/", 404, "", ""},
		{"GET", "/console/", 404, "", ""},
		{"GET", "/console/../commands/api.go", 404, "", ""},
		{"GET", "/index.html", 404, "", ""},
		{"GET", "/nope", 404, "", ""},
		{"GET", "/v1/cmd/key/issue", 405, "", ""},
		{"POST", "/", 405, "", ""},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || !strings.Contains(res.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(b), tc.body) {
			t.Errorf("%s %s: %s %q, body %.80q; want %d %q containing %q", tc.method, tc.path, res.Status, res.Header.Get("Content-Type"), b, tc.status, tc.ctype, tc.body)
		}
		if tc.status == 200 {
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
				t.Errorf("%s: Content-Security-Policy %q", tc.path, csp)
			}
			if strings.Contains(string(b), "localStorage") || strings.Contains(string(b), "document.cookie") {
				t.Errorf("%s keeps something in browser storage", tc.path)
			}
		}
	}
}

// TestLiveWithoutFeed answers 404, so that a console on a server without
// live events turns the indicator off instead of retrying forever.
func TestLiveWithoutFeed(t *testing.T) {
	srv := httptest.NewServer(NewServer("", nil, func() error { return nil }).Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/v1/live")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 404 || !strings.Contains(string(b), `"not_found"`) {
		t.Fatalf("GET /v1/live without a feed: %s %s", res.Status, b)
	}
}

// TestConsoleKeepsNoSecrets reads every embedded file: the token lives in
// memory only (no Web Storage, no cookies), and nothing builds markup from
// strings, so a key name cannot become script.
func TestConsoleKeepsNoSecrets(t *testing.T) {
	n := 0
	err := fs.WalkDir(consoleFiles, "console", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := consoleFiles.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		for _, bad := range []string{"localStorage", "sessionStorage", "document.cookie", ".innerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s uses %s", path, bad)
			}
		}
		return nil
	})
	if err != nil || n < 5 {
		t.Fatalf("walked %d files: %v", n, err)
	}
}
