package keyledger_test

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger"
)

func TestParsePeriod(t *testing.T) {
	base := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"P90D", base.AddDate(0, 0, 90)},
		{"PT12H", base.Add(12 * time.Hour)},
		{"P1Y2M3DT4H5M6S", base.AddDate(1, 2, 3).Add(4*time.Hour + 5*time.Minute + 6*time.Second)},
		{"P2W", base.AddDate(0, 0, 14)},
		{"p30d", base.AddDate(0, 0, 30)},
	} {
		p, err := keyledger.ParsePeriod(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if got := p.AddTo(base); !got.Equal(tc.want) {
			t.Fatalf("%s: %s, want %s", tc.in, got, tc.want)
		}
		if back := p.SubFrom(p.AddTo(base)); tc.in == "PT12H" && !back.Equal(base) {
			t.Fatalf("%s: SubFrom does not undo AddTo", tc.in)
		}
	}
	for _, bad := range []string{"", "P", "PT", "P0D", "90D", "P1.5D", "P1H", "PT1D", "P-1D", "P1DT", "never", "P9999999D"} {
		if _, err := keyledger.ParsePeriod(bad); err == nil {
			t.Fatalf("%q parsed", bad)
		} else if keyledger.ErrorCode(err) != keyledger.EInvalid {
			t.Fatalf("%q: code %s", bad, keyledger.ErrorCode(err))
		}
	}
}

// TestParsePeriodRefusesOverflowAndDisorder: huge, repeated or out-of-order
// units are invalid (never a panic, never a time past year 9999).
func TestParsePeriodRefusesOverflowAndDisorder(t *testing.T) {
	for _, bad := range []string{
		"P9999Y", "P101Y", "P999999Y", "P999999M", "P999999W", "P999999D", "PT999999H", // past 100 years
		"P99Y999999D", "P1D1D", "P1Y1Y", "PT1H1H", "P1D2Y", "P1DT2S3H", "P1W1Y", // repeated or out of order
		"P1T", "PT1H1T1M", "P1DTT1H", "P1DT1D", "P1M1H", "P 1D", "P1D ", "P+1D", "P1_0D", "P١D", // junk
	} {
		p, err := keyledger.ParsePeriod(bad)
		if err == nil {
			t.Errorf("%q parsed as %+v", bad, p)
		} else if keyledger.ErrorCode(err) != keyledger.EInvalid {
			t.Errorf("%q: code %s, want invalid", bad, keyledger.ErrorCode(err))
		}
	}
	for _, good := range []string{"P100Y", "P36500D", "P1Y2M1W3DT4H5M6S", "PT876000H", "P1M"} {
		p, err := keyledger.ParsePeriod(good)
		if err != nil {
			t.Errorf("%q: %v", good, err)
			continue
		}
		if y := p.AddTo(time.Date(9899, 1, 1, 0, 0, 0, 0, time.UTC)).Year(); y > 9999 {
			t.Errorf("%q reaches year %d", good, y)
		}
	}
}

func TestPeriodCompareIgnoresTheCalendar(t *testing.T) {
	p := keyledger.MustParsePeriod
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"P1Y", "P365D", 0},
		{"P12M", "P365D", 0},
		{"P366D", "P365D", 1},
		{"PT24H", "P1D", 0},
		{"PT12H", "P1D", -1},
		{"P52W", "P1Y", -1},
	} {
		if got := p(tc.a).Compare(p(tc.b)); got != tc.want {
			t.Errorf("%s vs %s: %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestPeriodDurationIsAFixedSpan(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT90S": 90 * time.Second, "P1D": 24 * time.Hour, "P1M": 31 * 24 * time.Hour, "P1Y": 365 * 24 * time.Hour,
		"P1MT1H": 31*24*time.Hour + time.Hour, "P100Y": 36524 * 24 * time.Hour,
	} {
		if got := keyledger.MustParsePeriod(in).Duration(); got != want {
			t.Errorf("%s is %v, want %v", in, got, want)
		}
	}
}
