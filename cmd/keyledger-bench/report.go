package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// report collects the run's figures, prints each as it is measured, and
// prints them all as the README's table at the end.
type report struct {
	out  io.Writer
	rows []row
}

// row is one figure: what was measured, its ratio to the bare ceiling of
// the same setup (empty where none applies), its target, and whether the
// measurement met it.
type row struct {
	setup, figure, measured, ratio, target, verdict string
}

var nan = math.NaN()

func newReport(out io.Writer) *report { return &report{out: out} }

// add records a figure. ratio is NaN when the figure has none; met is nil
// when the figure has no target to meet.
func (r *report) add(setup, figure, measured string, ratio float64, target string, met *bool) {
	x := row{setup: setup, figure: figure, measured: measured, target: target}
	if !math.IsNaN(ratio) {
		x.ratio = strconv.FormatFloat(ratio, 'f', 2, 64)
	}
	if target == "" {
		x.target = "—"
	}
	if met != nil {
		x.verdict = map[bool]string{true: "met", false: "MISSED"}[*met]
	}
	r.rows = append(r.rows, x)
	fmt.Fprintf(r.out, "%-10s %-52s %s", setup, figure+":", measured)
	if x.ratio != "" {
		fmt.Fprintf(r.out, "  (÷ bare %s)", x.ratio)
	}
	if x.verdict != "" {
		fmt.Fprintf(r.out, "  [%s: %s]", x.target, x.verdict)
	}
	fmt.Fprintln(r.out)
}

// note prints a line that is not a figure (progress, what a setup is).
func (r *report) note(format string, args ...any) {
	fmt.Fprintf(r.out, format+"\n", args...)
}

// table prints every figure as a Markdown table.
func (r *report) table() {
	fmt.Fprintln(r.out, "\n| setup | figure | measured | ÷ bare | target | |\n|---|---|---|---|---|---|")
	for _, x := range r.rows {
		fmt.Fprintf(r.out, "| %s | %s | %s | %s | %s | %s |\n", x.setup, x.figure, x.measured, x.ratio, x.target, x.verdict)
	}
}

// atLeast and atMost are a target's verdict; a figure that could not be
// measured (NaN) misses its target.
func atLeast(v, target float64) *bool { ok := !math.IsNaN(v) && v >= target; return &ok }
func atMost(v, target float64) *bool  { ok := !math.IsNaN(v) && v <= target; return &ok }

// thousands formats n with comma grouping: 1,234,567.
func thousands(n float64) string {
	if math.IsNaN(n) {
		return "?"
	}
	s := strconv.FormatInt(int64(n+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// ms formats a latency in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
