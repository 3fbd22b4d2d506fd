package natsauth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyledger/keyledger"
)

func TestGatewayCredentials(t *testing.T) {
	dir := t.TempDir()
	tok, err := NewGatewayCredential(dir, "edge-1")
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := checkGateway(dir, tok); !ok || name != "edge-1" {
		t.Fatalf("a fresh credential: %q %v", name, ok)
	}
	b, _ := os.ReadFile(filepath.Join(dir, gatewayDir, "edge-1"))
	if strings.Contains(string(b), tok[len(tok)-64:]) {
		t.Fatal("the secret is stored, not its hash")
	}
	if _, err := NewGatewayCredential(dir, "edge-1"); err == nil {
		t.Fatal("a second credential replaced the first")
	}
	for _, name := range []string{"", "*", ">", "a.b", "a b", "../x", "ÄÖ", "Edge", strings.Repeat("a", 33)} {
		if _, err := NewGatewayCredential(dir, name); keyledger.ErrorCode(err) != keyledger.EInvalid {
			t.Errorf("name %q: %v, want invalid", name, err)
		}
	}
	last := "0" // a wrong secret: the last hex digit changed
	if strings.HasSuffix(tok, last) {
		last = "1"
	}
	for _, bad := range []string{
		tok[:len(tok)-1] + last,                     // wrong secret
		strings.Replace(tok, "edge-1", "edge-2", 1), // another name
		"klgw_../gateways/edge-1_" + tok[len(tok)-64:],
		"klgw_edge-1", "klgw_*_" + tok[len(tok)-64:], "",
	} {
		if _, ok := checkGateway(dir, bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	os.Remove(filepath.Join(dir, gatewayDir, "edge-1"))
	if _, ok := checkGateway(dir, tok); ok {
		t.Fatal("a withdrawn credential still works")
	}
}

func TestPermissionsFollowRoles(t *testing.T) {
	for _, tc := range []struct {
		roles []string
		may   []string
		not   []string
	}{
		{nil, []string{"keyledger.verify", "$SRV.>"}, []string{"keyledger.cmd.>", "keyledger.query.>", "keyledger.cmd.key.>"}},
		{[]string{"developer"}, []string{"keyledger.cmd.key.>", "keyledger.query.>"}, []string{"keyledger.cmd.>"}},
		{[]string{"auditor"}, []string{"keyledger.query.>"}, []string{"keyledger.cmd.>", "keyledger.cmd.key.>"}},
		{[]string{"admin", "developer"}, []string{"keyledger.cmd.>", "keyledger.query.>", "keyledger.cmd.key.>"}, nil},
	} {
		var secret [32]byte
		token, _ := keyledger.NewToken("01KA0000000000000000000000", secret)
		p := keyPermissions(KeyInbox(token), tc.roles)
		for _, s := range tc.may {
			if !p.Pub.Allow.Contains(s) {
				t.Errorf("roles %v: may not publish %s", tc.roles, s)
			}
		}
		for _, s := range tc.not {
			if p.Pub.Allow.Contains(s) {
				t.Errorf("roles %v: may publish %s", tc.roles, s)
			}
		}
		_, sec, _ := keyledger.ParseToken(token)
		_, tag, _ := keyledger.ParseConnectionUser(keyledger.ConnectionUser("01KA0000000000000000000000", sec))
		if len(p.Sub.Allow) != 2 || !p.Sub.Allow.Contains("_INBOX_01KA0000000000000000000000_"+tag+".>") {
			t.Errorf("roles %v: subscribe %v", tc.roles, p.Sub.Allow)
		}
	}
	for _, name := range []string{"", "short", "has.dot", "has*star", "has>gt", "sp ace", "ünïcode0123456789"} {
		if p := anonPermissions(name); len(p.Sub.Allow) != 1 {
			t.Errorf("keyless name %q got an inbox: %v", name, p.Sub.Allow)
		}
	}
	if p := anonPermissions("Abcdefghijklmnop0123"); !p.Sub.Allow.Contains("_INBOX_anon_Abcdefghijklmnop0123.>") {
		t.Errorf("a random keyless name got no inbox: %v", p.Sub.Allow)
	}
}

// TestGatewayCredentialOnAnotherInstance: a credential made by one
// instance is added to another's data directory, where it then holds; a
// different credential under the same name is refused there, and junk is
// not a credential.
func TestGatewayCredentialOnAnotherInstance(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	tok, err := NewGatewayCredential(a, "edge")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := checkGateway(b, tok); ok {
		t.Fatal("another instance knew the credential before it was added")
	}
	for range 2 { // adding it again is no change
		if name, err := AddGatewayCredential(b, tok+"\n"); err != nil || name != "edge" {
			t.Fatalf("adding the credential: %q %v", name, err)
		}
	}
	if name, ok := checkGateway(b, tok); !ok || name != "edge" {
		t.Fatal("the added credential does not hold")
	}
	other, err := NewGatewayCredential(t.TempDir(), "edge")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddGatewayCredential(b, other); keyledger.ErrorCode(err) != keyledger.EConflict {
		t.Fatalf("another credential named edge: %v, want conflict", err)
	}
	for _, bad := range []string{"", "klgw_edge", "klgw_../x_" + tok[len(tok)-64:], "klgw_edge_" + strings.Repeat("z", 64), "kl_01J00000000000000000000000_x"} {
		if _, err := AddGatewayCredential(b, bad); keyledger.ErrorCode(err) != keyledger.EInvalid {
			t.Errorf("%q: %v, want invalid", bad, err)
		}
	}
	if _, ok := checkGateway(b, tok); !ok {
		t.Fatal("refused additions changed the credential")
	}
}
