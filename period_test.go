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

func TestPeriodDurationDoesNotOverflow(t *testing.T) {
	p, err := keyledger.ParsePeriod("P999999Y")
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Duration(); d < 290*365*24*time.Hour {
		t.Fatalf("P999999Y is %v", d)
	}
	if d := (keyledger.Period{Months: 1, Hours: 1}).Duration(); d != 30*24*time.Hour+time.Hour {
		t.Fatalf("P1MT1H is %v", d)
	}
}
