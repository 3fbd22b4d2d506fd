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

// ParsePeriod parses an ISO 8601 duration (PnYnMnWnDTnHnMnS, whole numbers,
// each unit at most once and in that order, ASCII only: strings.ToUpper
// would otherwise read "ſ" as "S", and a repeated unit could add up past
// what a time.Duration holds). A zero-length period (P0D) is invalid: it
// could never be a sensible expiry.
func ParsePeriod(s string) (Period, error) {
	var p Period
	bad := func() (Period, error) {
		return Period{}, Errorf(EInvalid, "%q is not an ISO 8601 period such as P90D or PT12H", s)
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
	inTime, any := false, false
	next := 0 // position in the unit order "YMWD" + "HMS" that a unit may take
	order := func(units string, unit byte, offset int) bool {
		i := strings.IndexByte(units, unit)
		if i < 0 || offset+i < next {
			return false
		}
		next = offset + i + 1
		return true
	}
	for rest != "" {
		if rest[0] == 'T' {
			if inTime || len(rest) == 1 {
				return bad()
			}
			inTime, rest = true, rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || i > 6 {
			return bad()
		}
		n, _ := strconv.Atoi(rest[:i])
		unit := rest[i]
		rest = rest[i+1:]
		if (!inTime && !order("YMWD", unit, 0)) || (inTime && !order("HMS", unit, 4)) {
			return bad()
		}
		switch {
		case !inTime && unit == 'Y':
			p.Years += n
		case !inTime && unit == 'M':
			p.Months += n
		case !inTime && unit == 'W':
			p.Days += 7 * n
		case !inTime && unit == 'D':
			p.Days += n
		case inTime && unit == 'H':
			p.Hours += n
		case inTime && unit == 'M':
			p.Minutes += n
		case inTime && unit == 'S':
			p.Second += n
		default:
			return bad()
		}
		any = any || n > 0
	}
	if !any {
		return bad()
	}
	return p, nil
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
