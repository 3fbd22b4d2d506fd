package commands

import (
	"context"
	"strings"
	"testing"

	"github.com/keyledger/keyledger"
)

func TestNATSSourceFromRequestInfo(t *testing.T) {
	for info, want := range map[string]string{
		``:    "nats",
		`{`:   "nats",
		`[1]`: "nats",
		`{"acc":"A","host":"10.0.0.8:52100","name":"billing-svc"}`: "nats 10.0.0.8:52100 (billing-svc)",
		`{"host":"10.0.0.8:1"}`: "nats 10.0.0.8:1",
	} {
		if got := parseRequester(info).source(); got != want {
			t.Errorf("source of %q = %q, want %q", info, got, want)
		}
	}
}

func TestWithSourceCutsAndCleans(t *testing.T) {
	long := strings.Repeat("é", MaxSource)
	got := SourceOf(WithSource(context.Background(), "nats\n"+long))
	if len(got) > MaxSource || strings.ContainsRune(got, '\n') || !strings.HasPrefix(got, "nats?") {
		t.Fatalf("source %q (%d bytes)", got, len(got))
	}
	if SourceOf(context.Background()) != "" {
		t.Fatal("a context without a source has one")
	}
}

func TestRequesterKeyOnlyFromClientsAccount(t *testing.T) {
	const id = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
	user := keyledger.ConnectionUser(id, "secret")
	for info, want := range map[string]string{
		`{"acc":"CLIENTS","user":"` + user + `"}`:        id,
		`{"acc":"CLIENTS","user":"` + id + `"}`:          "", // no tag: not a name the callout gives
		`{"acc":"CLIENTS","user":"` + user + `0"}`:       "",
		`{"acc":"CLIENTS","user":"*:` + user[27:] + `"}`: "",
		`{"acc":"GATEWAYS","user":"` + user + `"}`:       "",
		`{"acc":"CLIENTS","user":"admin"}`:               "",
		`{"acc":"CLIENTS","user":"` + user + `"`:         "",
		``:                                               "",
	} {
		if got, _ := parseRequester(info).key(); got != want {
			t.Errorf("key of %q = %q, want %q", info, got, want)
		}
	}
}
