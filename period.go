package keyledger

import (
	"strconv"
	"strings"
	"time"
)

// Period is an ISO 8601 duration such as P90D or PT12H. Years, months, weeks
// and days are calendar units applied with time.AddDate; hours, minutes and
// seconds are exact.
type Period struct {
	Years, Months, Days    int
	Hours, Minutes, Second int
}

// MaxPeriodYears bounds every period: no keyledger setting or expiry needs a
// longer one, and a bound keeps times inside what RFC 3339 can print.
const MaxPeriodYears = 100

// periodRef is the fixed instant periods are measured from when compared, so
// that a rule such as "at most P365D" does not depend on today's date. 2001
// is not a leap year: P1Y and P365D compare equal.
var periodRef = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

// periodUnits are the designators in the order ISO 8601 writes them; each may
// appear once. Those after 'T' are the time part.
const periodUnits = "YMWDTHMS"

// ParsePeriod parses an ISO 8601 duration (PnYnMnWnDTnHnMnS, whole numbers,
// each unit at most once and in that order). A zero-length period (P0D) is
// invalid: it could never be a sensible expiry; so is one longer than
// MaxPeriodYears. Only ASCII is read: strings.ToUpper would take "ſ" for "S".
func ParsePeriod(s string) (Period, error) {
	var p Period
	bad := func() (Period, error) {
		return Period{}, Errorf(EInvalid, "%s is not an ISO 8601 period such as P90D or PT12H", Quote(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return bad()
		}
	}
	rest, ok := strings.CutPrefix(strings.ToUpper(s), "P")
	if !ok || rest == "" {
		return bad()
	}
	next, nonzero := 0, false // next: index in periodUnits the next unit may start at
	for rest != "" {
		if rest[0] == 'T' {
			if next > 4 || len(rest) == 1 {
				return bad()
			}
			next, rest = 5, rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || i > 6 {
			return bad()
		}
		n, _ := strconv.Atoi(rest[:i]) // at most 6 digits: cannot overflow
		unit := strings.IndexByte(periodUnits[next:], rest[i])
		if unit < 0 || periodUnits[next+unit] == 'T' {
			return bad() // unknown, repeated, out of order, or a time unit without T
		}
		unit += next
		if next < 5 && unit >= 5 {
			return bad() // H, M or S before T
		}
		next, rest = unit+1, rest[i+1:]
		switch periodUnits[unit] {
		case 'Y':
			p.Years = n
		case 'M':
			if unit == 1 {
				p.Months = n
			} else {
				p.Minutes = n
			}
		case 'W':
			p.Days += 7 * n
		case 'D':
			p.Days += n
		case 'H':
			p.Hours = n
		case 'S':
			p.Second = n
		}
		nonzero = nonzero || n > 0
	}
	if !nonzero {
		return bad()
	}
	if p.AddTo(periodRef).After(periodRef.AddDate(MaxPeriodYears, 0, 0)) {
		return Period{}, Errorf(EInvalid, "%s is longer than %d years", Quote(s), MaxPeriodYears)
	}
	return p, nil
}

// MustParsePeriod parses a period known to be valid, such as a constant.
func MustParsePeriod(s string) Period {
	p, err := ParsePeriod(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Compare returns -1, 0 or +1 as p is shorter than, as long as, or longer
// than q, measured from a fixed instant (so the answer does not change with
// the calendar: P1Y equals P365D, P1M equals P31D).
func (p Period) Compare(q Period) int {
	return p.AddTo(periodRef).Compare(q.AddTo(periodRef))
}

// AddTo returns t moved forward by the period.
func (p Period) AddTo(t time.Time) time.Time {
	return t.AddDate(p.Years, p.Months, p.Days).Add(
		time.Duration(p.Hours)*time.Hour + time.Duration(p.Minutes)*time.Minute + time.Duration(p.Second)*time.Second)
}

// SubFrom returns t moved back by the period.
func (p Period) SubFrom(t time.Time) time.Time {
	return t.AddDate(-p.Years, -p.Months, -p.Days).Add(
		-(time.Duration(p.Hours)*time.Hour + time.Duration(p.Minutes)*time.Minute + time.Duration(p.Second)*time.Second))
}

// Duration is the period as a fixed span, for limits that are a span
// rather than a date (inactivity, rate-limit windows, retention): measured
// from the same fixed instant as Compare, so P1D is 24 hours, P1M 31 days
// and P1Y 365 days, whatever today is. Expiries chosen at issue use AddTo
// instead, with calendar units. Periods are bounded by MaxPeriodYears, so
// this never overflows.
func (p Period) Duration() time.Duration { return p.AddTo(periodRef).Sub(periodRef) }

// Seconds is Duration in whole seconds.
func (p Period) Seconds() int64 { return int64(p.Duration() / time.Second) }
