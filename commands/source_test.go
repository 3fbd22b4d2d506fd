package commands

import (
	"context"
	"strings"
	"testing"
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
	for info, want := range map[string]string{
		`{"acc":"CLIENTS","user":"` + id + `"}`:  id,
		`{"acc":"GATEWAYS","user":"` + id + `"}`: "",
		`{"acc":"CLIENTS","user":"admin"}`:       "",
		`{"acc":"CLIENTS","user":"` + id + `"`:   "",
		``:                                       "",
	} {
		if got := parseRequester(info).key(); got != want {
			t.Errorf("key of %q = %q, want %q", info, got, want)
		}
	}
}
