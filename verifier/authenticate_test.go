package verifier_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

func TestAuthenticateJudgesAManagementCall(t *testing.T) {
	f := newFixture()
	id, tok := f.issue(nil)
	_, secret, _ := keyledger.ParseToken(tok)
	wrong := secret[:len(secret)-1] + "x"

	if owner, found, ok := f.x.Authenticate(id, keyledger.SecretProof(secret), netip.Addr{}); owner != "OWNER" || !found || !ok {
		t.Fatalf("the right secret: owner %q found %t ok %t", owner, found, ok)
	}
	if _, found, ok := f.x.Authenticate(id, keyledger.SecretProof(wrong), netip.Addr{}); !found || ok {
		t.Fatalf("a wrong secret: found %t ok %t", found, ok)
	}
	_, tag, _ := keyledger.ParseConnectionUser(keyledger.ConnectionUser(id, secret))
	if _, found, ok := f.x.Authenticate(id, keyledger.ConnectionProof(tag), netip.Addr{}); !found || !ok {
		t.Fatalf("a connection NATS authenticated with the secret: found %t ok %t", found, ok)
	}
	_, wrongTag, _ := keyledger.ParseConnectionUser(keyledger.ConnectionUser(id, wrong))
	if _, found, ok := f.x.Authenticate(id, keyledger.ConnectionProof(wrongTag), netip.Addr{}); !found || ok {
		t.Fatalf("a connection made with another secret: found %t ok %t", found, ok)
	}
	if _, found, ok := f.x.Authenticate("01J00000000000000000000000", keyledger.SecretProof(secret), netip.Addr{}); found || ok {
		t.Fatalf("an unknown key: found %t ok %t", found, ok)
	}
	if _, found, ok := f.x.Authenticate("*", keyledger.SecretProof(secret), netip.Addr{}); found || ok {
		t.Fatalf("not a key ID: found %t ok %t", found, ok)
	}

	// Keys disabled for verification: admins must still get in to enable them.
	s := keyledger.DefaultSettings()
	s.Enabled, s.InactivityExpiry = false, "PT1H"
	f.apply(&events.SettingsChanged{Settings: s})
	if _, _, ok := f.x.Authenticate(id, keyledger.SecretProof(secret), netip.Addr{}); !ok {
		t.Fatal("keys disabled for verification refused a management call")
	}
	// A management call is a use: it keeps the key from expiring idle.
	f.now = t0.Add(59 * time.Minute)
	if _, _, ok := f.x.Authenticate(id, keyledger.SecretProof(secret), netip.Addr{}); !ok {
		t.Fatal("refused within the inactivity window")
	}
	f.now = f.now.Add(59 * time.Minute)
	if _, _, ok := f.x.Authenticate(id, keyledger.SecretProof(secret), netip.Addr{}); !ok {
		t.Fatal("the last call did not move the inactivity window")
	}
	f.now = f.now.Add(61 * time.Minute)
	if _, found, ok := f.x.Authenticate(id, keyledger.SecretProof(secret), netip.Addr{}); !found || ok {
		t.Fatalf("idle past the policy: found %t ok %t", found, ok)
	}
	if u := f.x.TakeUsage(f.now, "i"); len(u) != 1 || u[0].Valid != 5 {
		t.Fatalf("usage %+v; want the 5 accepted calls counted as valid uses", u[0])
	}

	f.now = t0
	f.apply(&events.KeyRevoked{KeyID: id, Owner: "OWNER"})
	if _, found, ok := f.x.Authenticate(id, keyledger.SecretProof(secret), netip.Addr{}); !found || ok {
		t.Fatalf("a revoked key: found %t ok %t", found, ok)
	}
}

// TestAuthenticateHoldsAllowedCIDRs: a management call with a key limited
// to some networks passes from inside them; from outside (or from an
// address nobody could tell) it is refused with the key's owner named, is
// counted as forbidden_ip, and is no use of the key: it must not keep a
// leaked key from expiring idle, nor show as valid in the key's trace.
func TestAuthenticateHoldsAllowedCIDRs(t *testing.T) {
	f := newFixture()
	id, tok := f.issue(func(e *events.KeyIssued) { e.AllowedCIDRs = []string{"10.0.0.0/8"} })
	_, secret, _ := keyledger.ParseToken(tok)
	for _, from := range []netip.Addr{netip.MustParseAddr("203.0.113.9"), {}} {
		if owner, found, ok := f.x.Authenticate(id, keyledger.SecretProof(secret), from); owner != "OWNER" || !found || ok {
			t.Fatalf("from %v: owner %q found %t ok %t; want the owner, refused", from, owner, found, ok)
		}
	}
	if f.x.LastUsed(id) != 0 {
		t.Fatal("a refused call counted as a use")
	}
	if _, _, ok := f.x.Authenticate(id, keyledger.SecretProof(secret), netip.MustParseAddr("10.1.2.3")); !ok {
		t.Fatal("from inside its network: refused")
	}
	if f.x.LastUsed(id) == 0 {
		t.Fatal("an accepted call is no use")
	}
	usage := f.x.TakeUsage(f.now.Add(time.Minute), "i")
	if len(usage) != 1 || usage[0].Valid != 1 || usage[0].Denied["forbidden_ip"] != 2 {
		t.Fatalf("usage %+v; want 1 valid, 2 forbidden_ip", usage)
	}
}
