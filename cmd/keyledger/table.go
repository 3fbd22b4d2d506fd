package main

import (
	"bytes"
	"io"
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// table lays out tab-terminated cells in columns two spaces apart, as
// text/tabwriter does, but by the width text takes on a terminal rather
// than its count of runes: a CJK or full-width character takes two
// columns, a combining mark none. Key, user and reason texts may be in any
// script, and a name in Japanese must not shift the rest of its row.
//
// As with tabwriter, text after a line's last tab is not aligned, and a
// column lines up over consecutive lines that have that cell. Write
// buffers; Flush lays out what was written since the last Flush.
type table struct {
	out io.Writer
	buf bytes.Buffer
}

// newTable returns a table that writes to out on Flush.
func newTable(out io.Writer) *table { return &table{out: out} }

// Write buffers p until Flush.
func (t *table) Write(p []byte) (int, error) { return t.buf.Write(p) }

// columnGap is the space between columns.
const columnGap = 2

// Flush writes the buffered lines, aligned.
func (t *table) Flush() error {
	text := t.buf.String()
	t.buf.Reset()
	if text == "" {
		return nil
	}
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	cells := make([][]string, len(lines)) // each line's tab-terminated cells; the rest is lines[i]
	for i, l := range lines {
		for {
			c, rest, ok := strings.Cut(l, "\t")
			if !ok {
				break
			}
			cells[i] = append(cells[i], c)
			l = rest
		}
		lines[i] = l
	}
	// widths[i][j] is the width of cell j on line i: the widest cell j in
	// the run of consecutive lines that have one, as tabwriter's blocks.
	widths := make([][]int, len(lines))
	for j := 0; ; j++ {
		found := false
		for i := 0; i < len(lines); {
			if len(cells[i]) <= j {
				i++
				continue
			}
			found = true
			end, w := i, 0
			for ; end < len(lines) && len(cells[end]) > j; end++ {
				w = max(w, displayWidth(cells[end][j]))
			}
			for ; i < end; i++ {
				widths[i] = append(widths[i], w)
			}
		}
		if !found {
			break
		}
	}
	var out bytes.Buffer
	for i := range lines {
		for j, c := range cells[i] {
			out.WriteString(c)
			out.WriteString(strings.Repeat(" ", widths[i][j]-displayWidth(c)+columnGap))
		}
		out.WriteString(lines[i])
	}
	_, err := t.out.Write(out.Bytes())
	return err
}

// displayWidth is how many terminal columns s takes: two for East Asian
// wide and full-width characters, none for combining marks and zero-width
// characters, one for the rest.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf): // U+200B is Cf
		default:
			switch width.LookupRune(r).Kind() {
			case width.EastAsianWide, width.EastAsianFullwidth:
				n += 2
			default:
				n++
			}
		}
	}
	return n
}
