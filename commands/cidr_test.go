package commands_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
)

// TestAllowedCIDRsHoldForKeyledgersOwnAPI: a key with allowed_cidrs calls
// keyledger's API only from inside them. From outside, or from an address
// the transport could not tell, it is forbidden, its holder is told why,
// and the attempt is recorded against the key with its owner as actor.
func TestAllowedCIDRsHoldForKeyledgersOwnAPI(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "dev")
	k, err := l.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: "office-only", AllowedCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"}})
	if err != nil {
		t.Fatal(err)
	}
	keys := endpointNamed(t, "query.keys")
	from := func(addr string) context.Context {
		c := commands.WithSource(ctx, "http "+addr+":4000")
		if addr != "" {
			c = commands.WithClientAddr(c, netip.MustParseAddr(addr))
		}
		return c
	}
	for _, inside := range []string{"10.1.2.3", "::ffff:10.9.9.9", "2001:db8::1"} {
		if _, err := l.svc.Call(from(inside), keys, "Bearer "+k.Token, "", nil); err != nil {
			t.Errorf("from %s: %v", inside, err)
		}
	}
	for _, outside := range []string{"203.0.113.9", "11.0.0.1", "2001:db9::1", ""} {
		_, err := l.svc.Call(from(outside), keys, "Bearer "+k.Token, "", nil)
		if keyledger.ErrorCode(err) != keyledger.EForbidden || !strings.Contains(err.Error(), "allowed_cidrs") {
			t.Errorf("from %q: %v; want the reason", outside, err)
		}
	}
	// A key without allowed_cidrs works from anywhere, known or not.
	_, devToken := l.developer(t, "other")
	if _, err := l.svc.Call(ctx, keys, "Bearer "+devToken, "", nil); err != nil {
		t.Fatalf("a key without allowed_cidrs: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		recs, _, err := l.store.Load(ctx, "keyledger.events.user."+dev.UserID+".denied")
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 4 { // recorded in the background, in any order
			for _, r := range recs {
				d := r.Event.(*events.AccessDenied)
				if d.Code != keyledger.EForbidden || d.KeyID != k.ID || d.Actor != dev.UserID || !strings.HasSuffix(d.Source, ":4000") {
					t.Fatalf("denial: %+v", d)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d denials stored, want 4", len(recs))
		}
	}
}
