package keyledger

import (
	"math"
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

// ParsePeriod parses an ISO 8601 duration (PnYnMnWnDTnHnMnS, whole numbers).
// A zero-length period (P0D) is invalid: it could never be a sensible expiry.
func ParsePeriod(s string) (Period, error) {
	var p Period
	bad := func() (Period, error) {
		return Period{}, Errorf(EInvalid, "%q is not an ISO 8601 period such as P90D or PT12H", s)
	}
	rest, ok := strings.CutPrefix(strings.ToUpper(s), "P")
	if !ok || rest == "" {
		return bad()
	}
	inTime, any := false, false
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

// Seconds is the period as a fixed number of seconds, for limits that are a
// span rather than a date (inactivity, rate-limit windows, retention): a day
// is 24 hours, a week 7 days, a month 30 days and a year 365 days. Expiries
// chosen at issue use AddTo instead, with calendar units.
func (p Period) Seconds() int64 {
	days := int64(p.Years)*365 + int64(p.Months)*30 + int64(p.Days)
	return days*86400 + int64(p.Hours)*3600 + int64(p.Minutes)*60 + int64(p.Second)
}

// Duration is Seconds as a time.Duration, capped at the longest Duration
// (about 292 years) instead of overflowing.
func (p Period) Duration() time.Duration {
	if s := p.Seconds(); s < math.MaxInt64/int64(time.Second) {
		return time.Duration(s) * time.Second
	}
	return math.MaxInt64
}
