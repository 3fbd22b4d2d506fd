package commands

import (
	"fmt"
	"testing"
	"time"
)

// TestDeniedLimitHoldsAcrossKeys: ten denials a minute per key, and no more
// than DeniedPerMinuteTotal in all, however many keys are named; the next
// minute starts afresh.
func TestDeniedLimitHoldsAcrossKeys(t *testing.T) {
	var l deniedLimit
	now := time.Date(2026, 11, 23, 10, 0, 5, 0, time.UTC)
	stored := 0
	for k := range 3000 {
		for range DeniedPerMinute + 2 {
			if l.allow(fmt.Sprint("key", k), fmt.Sprint("10.0.", k/256, ".", k%256), now) {
				stored++
			}
		}
	}
	if stored != DeniedPerMinuteTotal {
		t.Fatalf("%d denials stored in one minute over 3,000 keys, want %d", stored, DeniedPerMinuteTotal)
	}
	if !l.allow("key0", "10.0.0.0", now.Add(time.Minute)) {
		t.Fatal("the next minute refused a denial")
	}
	for range DeniedPerMinute {
		l.allow("key1", "10.0.0.1", now.Add(time.Minute))
	}
	if l.allow("key1", "10.0.0.2", now.Add(time.Minute)) {
		t.Fatal("an eleventh denial of one key in a minute was stored")
	}
}

// TestDeniedLimitPerAddress: one address naming a thousand real keys
// stores DeniedPerMinutePerAddress denials, and leaves the rest of the
// minute's total to everyone else.
func TestDeniedLimitPerAddress(t *testing.T) {
	var l deniedLimit
	now := time.Date(2026, 11, 23, 10, 0, 5, 0, time.UTC)
	stored := 0
	for k := range 1000 {
		if l.allow(fmt.Sprint("key", k), "203.0.113.9", now) {
			stored++
		}
	}
	if stored != DeniedPerMinutePerAddress {
		t.Fatalf("one address stored %d denials, want %d", stored, DeniedPerMinutePerAddress)
	}
	if !l.allow("victim", "198.51.100.7", now) {
		t.Fatal("another address's denial was not stored")
	}
}
