package commands_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/oklog/ulid/v2"
)

// Refused attempts that name a real key are stored as AccessDenied events,
// at most DeniedPerMinute per source, and the projections go on.
func TestDeniedAttemptsAreEventsRateLimited(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, devToken := l.developer(t, "dev")
	settings := endpointNamed(t, "cmd.settings.set")
	keys := endpointNamed(t, "query.keys")
	for i := range 15 { // each from a new connection: the limit is the key's
		from := commands.WithSource(ctx, fmt.Sprintf("http 10.9.8.7:%d", 40000+i))
		_, err := l.svc.Call(from, settings, "Bearer "+devToken, "", []byte(`{"enabled":false}`))
		wantCode(t, err, keyledger.EForbidden)
	}
	// The same key with another secret: a real key ID, a wrong secret.
	var secret [32]byte
	wrong, _ := keyledger.NewToken(dev.KeyID, secret)
	_, err := l.svc.Call(ctx, keys, "Bearer "+wrong, "", nil)
	wantCode(t, err, keyledger.EUnauthenticated)
	_, err = l.svc.Call(ctx, keys, "Bearer kl_garbage", "", nil)
	wantCode(t, err, keyledger.EUnauthenticated)

	var denied []*events.AccessDenied
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		recs, _, err := l.store.Load(ctx, "keyledger.events.user."+dev.UserID+".denied")
		if err != nil {
			t.Fatal(err)
		}
		denied = denied[:0]
		for _, r := range recs {
			denied = append(denied, r.Event.(*events.AccessDenied))
		}
		if len(denied) >= commands.DeniedPerMinute {
			break
		}
	}
	if len(denied) != commands.DeniedPerMinute {
		t.Fatalf("%d AccessDenied stored, want %d (the rest rate-limited)", len(denied), commands.DeniedPerMinute)
	}
	if d := denied[0]; d.Code != keyledger.EForbidden || d.Endpoint != "cmd.settings.set" || d.ActorKey != dev.KeyID ||
		!strings.HasPrefix(d.Source, "http 10.9.8.7:") {
		t.Fatalf("first denial: %+v", d)
	}
	// The rest of this minute is over the limit for this key; the projections
	// applied every denial and the owner can still act.
	if err := l.Projector.WaitFor(ctx, l.lastSeq(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: "after-denials"}); err != nil {
		t.Fatalf("issue after denials: %v", err)
	}
}

// TestWhoMayCallComesBeforeTheBodySize: a caller without a key, or
// without the role, hears that, not that the body is too large.
func TestWhoMayCallComesBeforeTheBodySize(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	_, devToken := l.developer(t, "dev")
	big := []byte(`{"name":"` + strings.Repeat("x", commands.MaxBody) + `"}`)
	_, err := l.svc.Call(ctx, endpointNamed(t, "cmd.key.issue"), "", "", big)
	wantCode(t, err, keyledger.EUnauthenticated)
	_, err = l.svc.Call(ctx, endpointNamed(t, "cmd.settings.set"), "Bearer "+devToken, "", big)
	wantCode(t, err, keyledger.EForbidden)
	_, err = l.svc.Call(ctx, endpointNamed(t, "cmd.key.issue"), "Bearer "+devToken, "", big)
	wantCode(t, err, keyledger.EInvalid)
}

// TestAFailedAuthenticationNamesNoActor: a wrong secret for a real key is
// recorded against the key and its owner, but names nobody as its actor:
// it proves nothing of who tried, and the owner's own actions
// (audit list --actor) must not include a stranger's guesses.
func TestAFailedAuthenticationNamesNoActor(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "dev")
	var secret [32]byte
	wrong, _ := keyledger.NewToken(dev.KeyID, secret)
	_, err := l.svc.Call(commands.WithSource(ctx, "http 203.0.113.9:4000"), endpointNamed(t, "query.keys"), "Bearer "+wrong, "", nil)
	wantCode(t, err, keyledger.EUnauthenticated)
	d := l.denials(t, dev.UserID, 1)[0]
	if d.Actor != "" || d.ActorKey != "" || d.KeyID != dev.KeyID || d.Owner != dev.UserID || d.Source != "http 203.0.113.9:4000" {
		t.Fatalf("denial: %+v; want no actor, the key and owner tried, and the source", d)
	}
}

// denials waits up to 5 s for want AccessDenied events against owner
// (recorded off the caller's path), and returns them.
func (l *ledger) denials(t *testing.T, owner string, want int) []*events.AccessDenied {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		recs, _, err := l.store.Load(context.Background(), "keyledger.events.user."+owner+".denied")
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) >= want || time.Now().After(deadline) {
			if len(recs) != want {
				t.Fatalf("%d denials of %s stored, want %d", len(recs), owner, want)
			}
			out := make([]*events.AccessDenied, len(recs))
			for i, r := range recs {
				out[i] = r.Event.(*events.AccessDenied)
			}
			return out
		}
	}
}

// TestAKeysHolderHearsWhyItIsRefused: whoever holds a key's secret is told
// that it was revoked, as verifying the token would tell them; anyone else
// hears the same refusal for every key, and so does the holder of a key
// that was deleted (with its owner's deactivation, say).
func TestAKeysHolderHearsWhyItIsRefused(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	keys := endpointNamed(t, "query.keys")
	dev, devToken := l.developer(t, "dev")
	other, otherToken := l.developer(t, "other")
	if _, err := l.svc.Call(ctx, endpointNamed(t, "cmd.key.revoke"), "Bearer "+l.Token, "", []byte(`{"key_ids":["`+dev.KeyID+`"]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.Call(ctx, endpointNamed(t, "cmd.user.deactivate"), "Bearer "+l.Token, "", []byte(`{"user_id":"`+other.UserID+`"}`)); err != nil {
		t.Fatal(err)
	}
	var secret [32]byte
	wrong, _ := keyledger.NewToken(dev.KeyID, secret)
	for _, c := range []struct{ token, want string }{
		{devToken, "key " + dev.KeyID + " was revoked"},
		{otherToken, "a valid API key is required"},
		{wrong, "a valid API key is required"},
	} {
		_, err := l.svc.Call(ctx, keys, "Bearer "+c.token, "", nil)
		if keyledger.ErrorCode(err) != keyledger.EUnauthenticated || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v; want unauthenticated saying %q", err, c.want)
		}
	}
}

// TestForgedKeyIDsDoNotHideRealRefusals: a thousand well-formed tokens
// with random key IDs, each from its own address, name no key and are not
// recorded; they do not use up the minute's limit, so a wrong secret for a
// real key, tried right after, is still recorded.
func TestForgedKeyIDsDoNotHideRealRefusals(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "dev")
	keys := endpointNamed(t, "query.keys")
	before := l.lastSeq(t)
	for i := range 1000 {
		var secret [32]byte
		forged, _ := keyledger.NewToken(ulid.Make().String(), secret)
		from := commands.WithClientAddr(ctx, netip.AddrFrom4([4]byte{10, 7, byte(i / 256), byte(i % 256)}))
		_, err := l.svc.Call(from, keys, "Bearer "+forged, "", nil)
		wantCode(t, err, keyledger.EUnauthenticated)
	}
	var secret [32]byte
	wrong, _ := keyledger.NewToken(dev.KeyID, secret)
	_, err := l.svc.Call(commands.WithClientAddr(ctx, netip.MustParseAddr("198.51.100.7")), keys, "Bearer "+wrong, "", nil)
	wantCode(t, err, keyledger.EUnauthenticated)
	l.denials(t, dev.UserID, 1)
	if all, err := l.store.After(ctx, "keyledger.events.>", before); err != nil || len(all) != 1 {
		t.Fatalf("%d events stored (%v); want the one real refusal", len(all), err)
	}
}
