package verifier_test

import (
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

	if owner, found, ok := f.x.Authenticate(id, &secret); owner != "OWNER" || !found || !ok {
		t.Fatalf("the right secret: owner %q found %t ok %t", owner, found, ok)
	}
	if _, found, ok := f.x.Authenticate(id, &wrong); !found || ok {
		t.Fatalf("a wrong secret: found %t ok %t", found, ok)
	}
	if _, found, ok := f.x.Authenticate(id, nil); !found || !ok {
		t.Fatalf("a key NATS authenticated (no secret): found %t ok %t", found, ok)
	}
	if _, found, ok := f.x.Authenticate("01J00000000000000000000000", &secret); found || ok {
		t.Fatalf("an unknown key: found %t ok %t", found, ok)
	}
	if _, found, ok := f.x.Authenticate("*", &secret); found || ok {
		t.Fatalf("not a key ID: found %t ok %t", found, ok)
	}

	// Keys disabled for verification: admins must still get in to enable them.
	s := keyledger.DefaultSettings()
	s.Enabled, s.InactivityExpiry = false, "PT1H"
	f.apply(&events.SettingsChanged{Settings: s})
	if _, _, ok := f.x.Authenticate(id, &secret); !ok {
		t.Fatal("keys disabled for verification refused a management call")
	}
	// A management call is a use: it keeps the key from expiring idle.
	f.now = t0.Add(59 * time.Minute)
	if _, _, ok := f.x.Authenticate(id, &secret); !ok {
		t.Fatal("refused within the inactivity window")
	}
	f.now = f.now.Add(59 * time.Minute)
	if _, _, ok := f.x.Authenticate(id, &secret); !ok {
		t.Fatal("the last call did not move the inactivity window")
	}
	f.now = f.now.Add(61 * time.Minute)
	if _, found, ok := f.x.Authenticate(id, &secret); !found || ok {
		t.Fatalf("idle past the policy: found %t ok %t", found, ok)
	}
	if u := f.x.TakeUsage(f.now, "i"); len(u) != 1 || u[0].Valid != 5 {
		t.Fatalf("usage %+v; want the 5 accepted calls counted as valid uses", u[0])
	}

	f.now = t0
	f.apply(&events.KeyRevoked{KeyID: id, Owner: "OWNER"})
	if _, found, ok := f.x.Authenticate(id, &secret); !found || ok {
		t.Fatalf("a revoked key: found %t ok %t", found, ok)
	}
}
