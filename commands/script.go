package commands

import (
	"unicode"

	"github.com/keyledger/keyledger"
	"golang.org/x/text/unicode/norm"
)

// lookalikeScripts are the scripts whose letters pass for one another
// (Latin a, Cyrillic а, Greek α; Latin o, Greek ο, Armenian օ).
var lookalikeScripts = []struct {
	name  string
	table *unicode.RangeTable
}{
	{"Latin", unicode.Latin}, {"Cyrillic", unicode.Cyrillic}, {"Greek", unicode.Greek},
	{"Armenian", unicode.Armenian}, {"Georgian", unicode.Georgian}, {"Cherokee", unicode.Cherokee},
}

// checkOneScript refuses a user name whose letters come from more than one
// of lookalikeScripts: "аlice" with a Cyrillic а would read as alice in
// every listing, and a user name stands for an ID. A name wholly in one
// script ("Алиса", "Grüße") is fine.
func checkOneScript(field, s string) error {
	if n := norm.NFKC.String(s); n != s {
		// Full-width ｂｏｂ, ligatures (ﬁ), circled and styled letters
		// are other spellings of plain ones.
		return keyledger.Errorf(keyledger.EInvalid, "%s has letters that are another form of plain ones (%s is written %s); use the plain form",
			field, keyledger.Quote(s), keyledger.Quote(n))
	}
	first, firstLetter := -1, rune(0)
	for _, r := range s {
		if !unicode.IsLetter(r) {
			continue
		}
		for i, sc := range lookalikeScripts {
			if !unicode.Is(sc.table, r) {
				continue
			}
			if first == -1 {
				first, firstLetter = i, r
			} else if i != first {
				return keyledger.Errorf(keyledger.EInvalid, "%s mixes %s letters (%q) and %s letters (%q), which can pass for another name; use one script",
					field, lookalikeScripts[first].name, firstLetter, sc.name, r)
			}
			break
		}
	}
	return nil
}
