package commands

import (
	"reflect"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
)

// checkTimes refuses a request holding a time whose year, in UTC, is not
// 1 to 9999: RFC 3339 accepts 9999-12-31T23:00:00-05:00, which is year
// 10000 in UTC. Stored and compared as text such a time sorted before
// every other ("10000-…" < "2026-…"), so a filter "created after" it
// matched every key, and a revoke by lineage would have revoked them all;
// one before year 1 could not be written back as JSON at all.
func checkTimes(v any) error {
	return walkTimes(reflect.ValueOf(v), "")
}

func walkTimes(v reflect.Value, field string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return walkTimes(v.Elem(), field)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := walkTimes(v.Index(i), field); err != nil {
				return err
			}
		}
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			return checkTime(field, t)
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			if err := walkTimes(v.Field(i), name); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkTime refuses t unless its year in UTC is 1 to 9999.
func checkTime(field string, t time.Time) error {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return keyledger.Errorf(keyledger.EInvalid, "%s: %s is year %d in UTC; times must fall in years 1 to 9999",
			field, t.Format(time.RFC3339), y)
	}
	return nil
}
