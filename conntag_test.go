package keyledger_test

import (
	"strings"
	"testing"

	"github.com/keyledger/keyledger"
)

func TestGatewayNamesAndUsers(t *testing.T) {
	for name, want := range map[string]bool{
		"edge-1": true, "a": true, "0": true, strings.Repeat("a", 32): true,
		"": false, "-edge": false, "Edge": false, "edge.1": false, "edge*": false, "edge>": false, "edge 1": false,
		"édge": false, strings.Repeat("a", 33): false, "edge:1": false,
	} {
		if got := keyledger.IsGatewayName(name); got != want {
			t.Errorf("IsGatewayName(%q) = %v", name, got)
		}
	}
	for user, want := range map[string]string{"gateway:edge-1:0123abcd": "edge-1", "gateway:edge-1": "edge-1", "gateway:*:x": "", "01J9Z3Q5W8X2M4N6P7R8S9T0VA:0123": "", "gateway:": ""} {
		name, _, ok := keyledger.ParseGatewayUser(user)
		if ok != (want != "") || name != want && ok {
			t.Errorf("ParseGatewayUser(%q) = %q, %v", user, name, ok)
		}
	}
}
