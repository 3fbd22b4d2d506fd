package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
)

// runOffline runs one invocation with no server behind it: help and usage errors
// must not need one.
func runOffline(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestHelpForEverySubcommand: every subcommand, group and the server answer
// --help (and -h, and `keyledger help ...`) on stdout with exit 0, naming
// themselves, with a usage line and an example.
func TestHelpForEverySubcommand(t *testing.T) {
	type helpCase struct {
		args []string
		want []string
	}
	var cases []helpCase
	for _, sc := range subcommands {
		words := strings.Fields(sc.name)
		want := []string{"Usage: keyledger " + sc.name, "Examples:", "keyledger " + sc.examples[0], "--token-file"}
		cases = append(cases,
			helpCase{append(words, "--help"), want},
			helpCase{append(words, "-h"), want},
			helpCase{append([]string{"help"}, words...), want},
			helpCase{append(append(words, "--json"), "--help"), want}, // after other flags
		)
	}
	for _, g := range groups {
		want := []string{"Usage: keyledger " + g.name + " SUBCOMMAND"}
		for _, sc := range inGroup(g.name) {
			want = append(want, "keyledger "+sc.name, "keyledger "+sc.examples[0])
		}
		cases = append(cases, helpCase{[]string{g.name, "--help"}, want}, helpCase{[]string{g.name, "help"}, want})
	}
	cases = append(cases,
		helpCase{[]string{"serve", "--help"}, []string{"Usage: keyledger serve", "-nats-listen", "Examples:"}},
		helpCase{[]string{"--help"}, []string{"Usage: keyledger COMMAND", "keyledger key issue", "keyledger watch"}},
		helpCase{[]string{"help"}, []string{"Usage: keyledger COMMAND"}},
		helpCase{[]string{"-h"}, []string{"Usage: keyledger COMMAND"}},
	)
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			out, errOut, code := runOffline(tc.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("no %q in:\n%s", w, out)
				}
			}
		})
	}
}

// TestUsageListsEveryFlag: `keyledger --help` and each subcommand's --help
// name every flag the subcommand declares, so none is a secret.
func TestUsageListsEveryFlag(t *testing.T) {
	usage, _, _ := runOffline("--help")
	for _, sc := range subcommands {
		help, _, _ := runOffline(append(strings.Fields(sc.name), "--help")...)
		declaredFlags(sc).VisitAll(func(f *flag.Flag) {
			synopsis := "keyledger " + sc.name + " " + sc.args
			if !strings.Contains(synopsis, "--"+f.Name) {
				t.Errorf("keyledger --help: %s does not show --%s", sc.name, f.Name)
			}
			if !strings.Contains(usage, synopsis) {
				t.Errorf("keyledger --help lacks %q", synopsis)
			}
			if !strings.Contains(help, "  --"+f.Name) {
				t.Errorf("keyledger %s --help does not describe --%s", sc.name, f.Name)
			}
		})
	}
}

// TestUsageErrors: a wrong command line exits 2 with one line on stderr that
// points to the right --help, and nothing on stdout; nothing connects (there
// is no server here).
func TestUsageErrors(t *testing.T) {
	const id = "01J9Z3Q5W8X2M4N6P7R8S9T0VA"
	t.Setenv("KEYLEDGER_SERVER", "nats://127.0.0.1:1")
	for _, tc := range []struct {
		args []string
		help string // the --help the line points to
	}{
		{nil, "keyledger --help"},
		{[]string{"frobnicate"}, "keyledger --help"},
		{[]string{"--bogus"}, "keyledger --help"},
		{[]string{"key"}, "keyledger key --help"},
		{[]string{"key", "explode"}, "keyledger key --help"},
		{[]string{"user"}, "keyledger user --help"},
		{[]string{"settings"}, "keyledger settings --help"},
		{[]string{"key", "issue"}, "keyledger key issue --help"},
		{[]string{"key", "issue", "ci"}, "keyledger key issue --help"},
		{[]string{"key", "issue", "--name"}, "keyledger key issue --help"},
		{[]string{"key", "issue", "--frob", "x"}, "keyledger key issue --help"},
		{[]string{"key", "list", "extra"}, "keyledger key list --help"},
		{[]string{"key", "list", "--limit", "many"}, "keyledger key list --help"},
		{[]string{"key", "list", "--never-expires=perhaps"}, "keyledger key list --help"},
		{[]string{"key", "show"}, "keyledger key show --help"},
		{[]string{"key", "show", id, id}, "keyledger key show --help"},
		{[]string{"key", "update", id}, "keyledger key update --help"},
		{[]string{"key", "update"}, "keyledger key update --help"},
		{[]string{"key", "revoke"}, "keyledger key revoke --help"},
		{[]string{"key", "revoke", "--reason", "x"}, "keyledger key revoke --help"},
		{[]string{"key", "regenerate"}, "keyledger key regenerate --help"},
		{[]string{"key", "delete"}, "keyledger key delete --help"},
		{[]string{"key", "delete", "--all"}, "keyledger key delete --help"},
		{[]string{"key", "delete", id, "--owner", id, "--all"}, "keyledger key delete --help"},
		{[]string{"user", "add"}, "keyledger user add --help"},
		{[]string{"user", "add", "two", "words"}, "keyledger user add --help"},
		{[]string{"user", "list", "bil"}, "keyledger user list --help"},
		{[]string{"user", "roles"}, "keyledger user roles --help"},
		{[]string{"user", "deactivate"}, "keyledger user deactivate --help"},
		{[]string{"settings", "show", "all"}, "keyledger settings show --help"},
		{[]string{"settings", "set"}, "keyledger settings set --help"},
		{[]string{"settings", "set", "P90D"}, "keyledger settings set --help"},
		{[]string{"settings", "set", "--enabled=maybe"}, "keyledger settings set --help"},
		{[]string{"settings", "set", "--max-active-keys", "ten"}, "keyledger settings set --help"},
		{[]string{"watch", "now"}, "keyledger watch --help"},
		{[]string{"watch", "--since", "-1"}, "keyledger watch --help"},
		{[]string{"serve", "--frob"}, "keyledger serve --help"},
		{[]string{"serve", "extra"}, "keyledger serve --help"},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			out, errOut, code := runOffline(tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, errOut)
			}
			if out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") {
				t.Fatalf("want one line on stderr and nothing on stdout; stdout %q, stderr %q", out, errOut)
			}
			if !strings.Contains(errOut, "'"+tc.help+"'") {
				t.Fatalf("%q does not point to %s", errOut, tc.help)
			}
		})
	}
}
