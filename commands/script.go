package commands

import (
	"strings"
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

// checkUserNameShape refuses user names that read as something else in a
// listing: no letter or digit at all ("-" reads as "no actor"), runs of
// spaces or spaces other than U+0020 (which forge table columns or hide at
// the end), and characters that display as nothing (default-ignorable
// code points that are not format characters, such as U+034F, U+115F,
// the variation selectors, or the braille blank U+2800). The prefix
// "recovery-" is what admin recover names its users.
func checkUserNameShape(field, s string) error {
	alnum := false
	prev := rune(0)
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r), unicode.Is(unicode.Variation_Selector, r), blank(r):
			return keyledger.Errorf(keyledger.EInvalid, "%s: %U displays as nothing; a name must read as what it is", field, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			alnum = true
		case r == ' ' && prev == ' ':
			return keyledger.Errorf(keyledger.EInvalid, "%s: two spaces in a row read as a column break; use one", field)
		case r != ' ' && unicode.IsSpace(r), unicode.Is(unicode.Zs, r) && r != ' ':
			return keyledger.Errorf(keyledger.EInvalid, "%s: the only space allowed is the plain one (U+0020), not %U", field, r)
		}
		prev = r
	}
	if !alnum {
		return keyledger.Errorf(keyledger.EInvalid, "%s: needs a letter or a digit", field)
	}
	if strings.HasPrefix(strings.ToLower(s), "recovery-") {
		return keyledger.Errorf(keyledger.EInvalid, "%s: names beginning recovery- are the ones admin recover gives; choose another", field)
	}
	return nil
}

// blank reports whether r is a letter or symbol that displays as nothing:
// the Hangul fillers, and the braille blank.
func blank(r rune) bool {
	switch r {
	case '\u115F', '\u1160', '\u3164', '\uFFA0', '\u2800':
		return true
	}
	return false
}
