package commands

import (
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keyledger/keyledger"
)

// Input limits.
const (
	MaxNameLen        = 100
	MaxDescriptionLen = 1000
	MaxReasonLen      = 500
	MaxScopes         = 100
	MaxScopeLen       = 100
	MaxCIDRs          = 100
	MaxRateLimit      = 1_000_000
)

// checkText checks a printable string's length in characters. It refuses
// control characters (but a description may hold newlines) and invisible
// formatting characters: bidirectional overrides and isolates, zero-width
// spaces and joiners, the byte-order mark, line and paragraph separators,
// which let a name pose as another in a table.
func checkText(field, s string, minLen, maxLen int) error {
	n := utf8.RuneCountInString(s)
	if !utf8.ValidString(s) {
		return keyledger.Errorf(keyledger.EInvalid, "%s is not valid UTF-8", field)
	}
	if n < minLen || n > maxLen {
		if minLen > 0 && n == 0 {
			return keyledger.Errorf(keyledger.EInvalid, "%s is required", field)
		}
		return keyledger.Errorf(keyledger.EInvalid, "%s must be %d to %d characters, not %d", field, minLen, maxLen, n)
	}
	if keyledger.ContainsToken(s) {
		return keyledger.Errorf(keyledger.EInvalid, "%s holds an API token; tokens are secret and %s is not (it is kept in the event log for good)", field, field)
	}
	for i, r := range s {
		switch {
		case unicode.IsControl(r) && (field != "description" || r != '\n'):
			return keyledger.Errorf(keyledger.EInvalid, "%s holds a control character (U+%04X at byte %d)", field, r, i)
		case invisible(r):
			return keyledger.Errorf(keyledger.EInvalid, "%s holds an invisible formatting character (U+%04X at byte %d), which can disguise text", field, r, i)
		case r == utf8.RuneError:
			// encoding/json puts it where the body held a lone surrogate
			// (\ud800): a character that was lost, not one that was sent.
			return keyledger.Errorf(keyledger.EInvalid, "%s holds U+FFFD at byte %d: a character that is not valid Unicode (a lone surrogate such as \\ud800?)", field, i)
		}
	}
	return nil
}

// checkKeyName checks a new name for a key: text as checkText has it, and
// no spaces at the start or end, which would make "ci " sit beside "ci" in
// a list, looking the same (user names are held to the same).
func checkKeyName(name string) error {
	if err := checkText("name", name, 1, MaxNameLen); err != nil {
		return err
	}
	if strings.TrimSpace(name) != name {
		return keyledger.Errorf(keyledger.EInvalid, "name: no spaces at the start or end")
	}
	return nil
}

// invisible reports whether r is a formatting character that changes how
// the text around it shows without showing itself: Unicode category Cf
// (U+200B–U+200F, U+202A–U+202E, U+2060–U+2069, U+FEFF, soft hyphen, ...),
// and the line and paragraph separators U+2028 and U+2029.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)
}

// checkScopes validates scope names: short words of letters, digits and
// : . _ / * -.
func checkScopes(scopes []string) error {
	if len(scopes) > MaxScopes {
		return keyledger.Errorf(keyledger.EInvalid, "scopes: at most %d, not %d", MaxScopes, len(scopes))
	}
	seen := make(map[string]bool, len(scopes))
	for _, s := range scopes {
		if seen[s] {
			return keyledger.Errorf(keyledger.EInvalid, "scopes: %s is named twice", keyledger.Quote(s))
		}
		seen[s] = true
		if keyledger.ContainsToken(s) {
			return keyledger.Errorf(keyledger.EInvalid, "scopes: that is an API token, not a scope (a word such as read or billing:write)")
		}
		if s == "" || len(s) > MaxScopeLen || strings.TrimFunc(s, scopeRune) != "" {
			return keyledger.Errorf(keyledger.EInvalid, "scopes: %s is not a scope (1-%d of letters, digits and : . _ / * -)", keyledger.Quote(s), MaxScopeLen)
		}
	}
	return nil
}

func scopeRune(r rune) bool {
	return r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(":._/*-", r))
}

// normalizeCIDRs parses and canonicalizes allowed_cidrs; a bare address is
// taken as a single-host prefix.
func normalizeCIDRs(in []string) ([]string, error) {
	if len(in) > MaxCIDRs {
		return nil, keyledger.Errorf(keyledger.EInvalid, "allowed_cidrs: at most %d, not %d", MaxCIDRs, len(in))
	}
	var out []string
	for _, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, keyledger.Errorf(keyledger.EInvalid, "allowed_cidrs: %s is not a CIDR such as 10.0.0.0/8", keyledger.Quote(s))
			}
			if a.Zone() != "" {
				// A zone names an interface of one machine; a gateway
				// elsewhere cannot match it, and dropping it widens the rule.
				return nil, keyledger.Errorf(keyledger.EInvalid, "allowed_cidrs: %s has an IPv6 zone (%%%s); give the address without it", keyledger.Quote(s), a.Zone())
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked().String())
	}
	return out, nil
}

// checkRateLimit validates a per-key rate limit.
func checkRateLimit(rl *keyledger.RateLimit) error {
	if rl == nil {
		return nil
	}
	if rl.Limit < 1 || rl.Limit > MaxRateLimit {
		return keyledger.Errorf(keyledger.EInvalid, "rate_limit.limit must be 1 to %d", MaxRateLimit)
	}
	if _, err := parsePeriodField("rate_limit.per", rl.Per); err != nil {
		return err
	}
	return nil
}

// parsePeriodField parses a period and names the field in its error.
func parsePeriodField(field, s string) (keyledger.Period, error) {
	p, err := keyledger.ParsePeriod(s)
	if err != nil {
		return p, keyledger.Errorf(keyledger.EInvalid, "%s: %s", field, keyledger.ErrorMessage(err))
	}
	return p, nil
}

// longer reports whether period a reaches further than b from t.
func longer(t time.Time, a, b keyledger.Period) bool { return a.AddTo(t).After(b.AddTo(t)) }

// checkRoles validates a set of roles.
func checkRoles(roles []string) error {
	for _, r := range roles {
		if !keyledger.ValidRole(r) {
			return keyledger.Errorf(keyledger.EInvalid, "roles: %q is not a role (admin, developer, auditor)", r)
		}
	}
	return nil
}
