package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// consoleFiles is the admin web console: plain HTML, CSS and JavaScript
// modules, no build step. It speaks only the public HTTP API.
//
//go:embed console
var consoleFiles embed.FS

// consoleCSP keeps the console to its own origin: no inline script, no
// third-party code that could read the token held in the tab's memory.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleHandler serves index.html at / and the assets under /console/.
func consoleHandler() http.Handler {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "/" {
			http.ServeFileFS(w, r, sub, "index.html")
			return
		}
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		http.StripPrefix("/console", files).ServeHTTP(w, r)
	})
}
