package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natsauth"
	"golang.org/x/mod/sumdb/note"
)

func auditList(fs *flag.FlagSet) runFunc {
	var f keyledger.AuditFilter
	var since, until string
	fs.StringVar(&f.KeyID, "key", "", "only entries about this `KEY_ID`")
	fs.StringVar(&f.Owner, "owner", "", "only entries about this owner's keys and account (`USER_ID` or name)")
	fs.StringVar(&f.Actor, "actor", "", "only what this `USER_ID` (or name, or system) did")
	fs.StringVar(&f.Action, "action", "", "only this `ACTION`: key.issued, key.renamed, key.revoked, key.regenerated, key.deleted, key.expired, user.registered, user.roles_changed, user.deactivated, key.denied, settings.changed, audit.checkpoint, audit.cosigned, ops.skipped")
	fs.StringVar(&since, "since", "", "only entries at or after this RFC 3339 `TIME`, or this long ago (1h, 30m, 72h)")
	fs.StringVar(&until, "until", "", "only entries before this RFC 3339 `TIME`, or this long ago")
	fs.IntVar(&f.Limit, "limit", 100, "entries per page, `N` from 1 to 1000")
	fs.StringVar(&f.Cursor, "cursor", "", "continue after this `CURSOR` (printed with a full page)")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("takes no arguments; filter with --key, --owner, --actor, --action, --since, --until")
		}
		if f.Limit < 1 || f.Limit > audit.MaxLimit {
			return invalidValue("--limit must be 1 to %d, not %d", audit.MaxLimit, f.Limit)
		}
		for _, t := range []struct {
			name, v string
			dst     **time.Time
		}{{"--since", since, &f.Since}, {"--until", until, &f.Until}} {
			if t.v == "" {
				continue
			}
			at, err := time.Parse(time.RFC3339, t.v)
			if d, ok := ago(t.v); err != nil && ok {
				at, err = time.Now().Add(-d).UTC(), nil
			}
			if err != nil {
				return invalidValue("%s: %s is neither an RFC 3339 time such as 2027-01-31T00:00:00Z nor a duration ago such as 1h or PT1H", t.name, keyledger.Quote(t.v))
			}
			*t.dst = &at
		}
		var page keyledger.AuditPage
		if err := cl.call(ctx, "query.audit", f, &page); err != nil || cl.json {
			return err
		}
		printEntries(cl.stdout, page.Entries, false)
		if page.NextCursor != "" {
			fmt.Fprintf(cl.stdout, "\nmore: --cursor %s\n", page.NextCursor)
		}
		return nil
	}
}

func auditTrace(fs *flag.FlagSet) runFunc {
	hours := fs.Int("hours", keyledger.TraceUsageHours, fmt.Sprintf("how many of the key's latest hours of use to show (at most %d)", keyledger.MaxTraceUsageHours))
	return func(ctx context.Context, cl *client, args []string) error {
		id, err := oneKeyID(args)
		if err != nil {
			return err
		}
		var tr keyledger.KeyTrace
		if err := cl.call(ctx, "query.audit.trace", commands.TraceQuery{KeyID: id, Hours: *hours}, &tr); err != nil || cl.json {
			return err
		}
		printTrace(cl.stdout, &tr, *hours)
		return nil
	}
}

// auditProve and auditReceipt print the receipt JSON check-receipt reads.
func auditProve(fs *flag.FlagSet) runFunc {
	wait := cosignFlags(fs)
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) != 1 {
			return usageError("takes one SEQ, not %d arguments", len(args))
		}
		seq, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil || seq == 0 {
			return invalidValue("SEQ: %s is not a stream sequence (1, 2, …)", keyledger.Quote(args[0]))
		}
		return printReceipt(ctx, cl, commands.ProveQuery{Seq: seq}, wait)
	}
}

func auditReceipt(fs *flag.FlagSet) runFunc {
	wait := cosignFlags(fs)
	return func(ctx context.Context, cl *client, args []string) error {
		id, err := oneKeyID(args)
		if err != nil {
			return err
		}
		if err := printReceipt(ctx, cl, commands.ProveQuery{KeyID: id}, wait); err != nil {
			return err
		}
		// The receipt proves the revocation; the key may have come back.
		var k keyledger.Key
		if err := cl.call(ctx, "query.key", map[string]string{"key_id": id}, &k); err == nil && k.Status != keyledger.StatusRevoked {
			fmt.Fprintf(cl.stderr, "note: this receipt proves the key's latest revocation; the key is %s now (audit trace %s)\n", k.Status, id)
		}
		return nil
	}
}

// cosignWait is how long a receipt is fetched again until its checkpoint
// carries co-signatures of min witnesses.
type cosignWait struct {
	min *int
	max *time.Duration
}

// cosignFlags adds --min-witnesses and --wait to prove and receipt.
func cosignFlags(fs *flag.FlagSet) cosignWait {
	return cosignWait{
		min: fs.Int("min-witnesses", 0, "fetch the receipt again until its checkpoint carries co-signatures of `N` witnesses "+
			"(they co-sign about a second after a checkpoint; check-receipt verifies them)"),
		max: fs.Duration("wait", 30*time.Second, "with --min-witnesses: give up after this long"),
	}
}

func printReceipt(ctx context.Context, cl *client, q commands.ProveQuery, wait cosignWait) error {
	if *wait.min < 0 || *wait.min > 16 {
		return invalidValue("--min-witnesses must be 0 to 16, not %d", *wait.min)
	}
	cl.json = false // the receipt is JSON either way
	deadline := time.Now().Add(*wait.max)
	var r json.RawMessage
	for {
		if err := cl.call(ctx, "query.audit.prove", q, &r); err != nil {
			return err
		}
		if *wait.min == 0 {
			break
		}
		rec, err := audit.ParseReceipt(r)
		if err != nil {
			return err
		}
		have := rec.Cosigners()
		if len(have) >= *wait.min {
			break
		}
		if time.Now().After(deadline) {
			return keyledger.Errorf(keyledger.EUnavailable, "after %s the checkpoint proving seq %d carries co-signatures of %d witnesses, %d wanted "+
				"(is every instance's witness running? see keyledger_audit_witness_ok)", *wait.max, rec.Seq, len(have), *wait.min)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	var out bytes.Buffer
	if err := json.Indent(&out, r, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := out.WriteTo(cl.stdout)
	return err
}

// auditPubkey prints the verifier key of DIR/audit.key, or with --witness
// of DIR/witness.key; it never prints a private key.
func auditPubkey(fs *flag.FlagSet) runFunc {
	dir := fs.String("data", "keyledger-data", "the server's data `DIR`, holding audit.key and witness.key")
	witness := fs.Bool("witness", false, "print this instance's witness key (DIR/witness.key) instead of the log's")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("takes no arguments")
		}
		vkey, err := verifierKeyIn(*dir)
		if *witness {
			vkey, err = witnessKeyIn(*dir)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(cl.stdout, vkey)
		return nil
	}
}

// verifierKeyIn reads the verifier key of DIR/audit.key without creating one.
func verifierKeyIn(dir string) (string, error) {
	path := filepath.Join(dir, "audit.key")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", keyledger.Errorf(keyledger.ENotFound, "no data directory %s: give the server's with --data (the one `keyledger serve --data` runs on)", keyledger.Quote(dir))
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", keyledger.Errorf(keyledger.ENotFound, "no signing key at %s: `keyledger serve --data %s` creates it at first start", path, dir)
	}
	_, vkey, err := audit.LoadOrCreateKey(path, audit.Origin)
	return vkey, err
}

// witnessKeyIn reads the verifier key of DIR/witness.key without creating one.
func witnessKeyIn(dir string) (string, error) {
	path := filepath.Join(dir, witnessKeyFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", keyledger.Errorf(keyledger.ENotFound, "no witness key at %s: `keyledger serve --data %s` creates it at first start (unless --cosign=false)", path, dir)
	}
	_, vkey, err := audit.LoadWitnessKey(path)
	return vkey, err
}

// readVerifierKey reads a verifier key file (what `audit pubkey` printed).
func readVerifierKey(path string) (string, error) {
	return readVerifierKeyFlag("--public-key", path, "audit pubkey")
}

// readVerifierKeyFlag reads the verifier key file given to flag, which
// `keyledger <printedBy>` prints.
func readVerifierKeyFlag(flag, path, printedBy string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", keyledger.Errorf(keyledger.EInvalid, "%s: %v", flag, err)
	}
	vkey := strings.TrimSpace(string(b))
	if strings.HasPrefix(vkey, "PRIVATE+KEY") {
		return "", keyledger.Errorf(keyledger.EInvalid, "%s: %s holds a private key; pass what `keyledger %s` prints", flag, path, printedBy)
	}
	if _, err := note.NewVerifier(vkey); err != nil {
		return "", keyledger.Errorf(keyledger.EInvalid, "%s: %s holds no verifier key", flag, path)
	}
	return vkey, nil
}

// readWitnessKey reads a --witness-key file: a witness's verifier key
// (what `audit pubkey --witness` prints), never the log's own.
func readWitnessKey(path string) (string, error) {
	k, err := readVerifierKeyFlag("--witness-key", path, "audit pubkey --witness")
	if err != nil {
		return "", err
	}
	if v, err := note.NewVerifier(k); err == nil && v.Name() == audit.Origin {
		return "", keyledger.Errorf(keyledger.EInvalid, "--witness-key: %s holds the log's own key (`audit pubkey`); a witness key is what `audit pubkey --witness` prints", path)
	}
	return k, nil
}

// fileList is a repeatable flag of file names.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

func auditCheckReceipt(fs *flag.FlagSet) runFunc {
	pub := fs.String("public-key", "", "`FILE` holding the log's verifier key (what `audit pubkey` prints)")
	var witnesses fileList
	fs.Var(&witnesses, "witness-key", "`FILE` holding a witness's verifier key (what `audit pubkey --witness` prints); repeat for each")
	minWitnesses := fs.Int("min-witnesses", 0, "how many of the --witness-key witnesses must have co-signed, at least 1 (default: all given)")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) != 1 {
			return usageError("takes one receipt FILE, not %d arguments", len(args))
		}
		if *pub == "" {
			return usageError("--public-key FILE is required")
		}
		wkeys, need, err := pinnedWitnesses(fs, witnesses, *minWitnesses)
		if err != nil {
			return err
		}
		vkey, err := readVerifierKey(*pub)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(args[0])
		if err != nil {
			return keyledger.Errorf(keyledger.EInvalid, "receipt: %v", err)
		}
		r, err := audit.ParseReceipt(b)
		if err != nil {
			return err
		}
		sc, err := audit.CheckReceipt(r, vkey, wkeys...)
		if err != nil {
			return fmt.Errorf("receipt does NOT hold: %w", err)
		}
		signed := sc.Witnesses()
		if len(signed) < need {
			by := ""
			if len(signed) > 0 {
				by = " (" + strings.Join(signed, ", ") + ")"
			}
			return fmt.Errorf("receipt does NOT hold: its checkpoint is co-signed by %d of the witnesses given%s, %d needed "+
				"(witnesses co-sign within seconds of a checkpoint: a receipt fetched right after one may not carry theirs yet; "+
				"fetch it with `audit receipt KEY_ID --min-witnesses %d`, which waits for them)", len(signed), by, need, need)
		}
		fmt.Fprintf(cl.stdout, "receipt holds: the event at seq %d is in %s's log of %d events (root %s)\n", r.Seq, sc.Origin, sc.Size, sc.Root)
		fmt.Fprintf(cl.stdout, "the event: %s\n", describeEvent(r.Event))
		if len(wkeys) > 0 {
			fmt.Fprintf(cl.stdout, "co-signed by %d of %d witnesses given: %s\n", len(signed), len(wkeys), strings.Join(signed, ", "))
		}
		return nil
	}
}

func auditVerify(fs *flag.FlagSet) runFunc {
	dir := fs.String("data", "keyledger-data", "the server's data `DIR`: ledger.db's audit rows and hashes, and audit.key")
	pub := fs.String("public-key", "", "`FILE` holding the verifier key (default: from DIR/audit.key)")
	var witnesses fileList
	fs.Var(&witnesses, "witness-key", "`FILE` holding a witness's verifier key (audit pubkey --witness): the log must hold a checkpoint "+
		"these witnesses co-signed; repeat for each")
	minWitnesses := fs.Int("min-witnesses", 0, "how many of the --witness-key witnesses must have co-signed one checkpoint, at least 1 (default: all given)")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("takes no arguments")
		}
		wkeys, need, err := pinnedWitnesses(fs, witnesses, *minWitnesses)
		if err != nil {
			return err
		}
		var vkey string
		if *pub != "" {
			vkey, err = readVerifierKey(*pub)
		} else {
			vkey, err = verifierKeyIn(*dir)
		}
		if err != nil {
			return err
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return err
		}
		for _, k := range wkeys {
			if name, _, _ := strings.Cut(k, "+"); name == v.Name() {
				return invalidValue("--witness-key %s is the log's own key: a witness has a key of its own (audit pubkey --witness)", keyledger.Quote(name))
			}
		}
		var ledger *sql.DB
		path := filepath.Join(*dir, "ledger.db")
		if _, err := os.Stat(path); err != nil && flagSet(fs, "data") {
			// A mistyped --data must not pass with the rows unchecked.
			return invalidValue("--data %s holds no ledger.db: is it the server's data directory? "+
				"(without --data, verify checks the stream and its checkpoints only)", keyledger.Quote(*dir))
		}
		if _, err := os.Stat(path); err == nil {
			if ledger, err = sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000"); err != nil {
				return err
			}
			defer ledger.Close()
		} else {
			fmt.Fprintf(cl.stdout, "no %s: checking the stream and its checkpoints only\n", path)
		}
		if cl.tokenFile == "" && os.Getenv("KEYLEDGER_TOKEN") == "" {
			// An API key, such as the admin's, cannot read the stream.
			return keyledger.Errorf(keyledger.EUnauthenticated, "audit verify reads the event stream, which needs a gateway credential: "+
				"`keyledger gateway-credentials --name auditor --data %s --out gw.cred`, then --token-file gw.cred", *dir)
		}
		if err := cl.loadToken(); err != nil {
			return err
		}
		if !natsauth.IsGatewayCredential(cl.token) {
			// An API key, an auditor's included, cannot read the stream:
			// said at once, not after a wait.
			return keyledger.Errorf(keyledger.EForbidden, "audit verify reads the event stream, which takes a gateway credential, not an API key: "+
				"`keyledger gateway-credentials --name auditor --data %s --out gw.cred` on the server's host, then --token-file gw.cred", *dir)
		}
		nc, err := cl.conn()
		if err != nil {
			return err
		}
		store, err := gatewayStore(ctx, nc)
		if err != nil {
			return err
		}
		rep, err := audit.VerifyTrail(ctx, audit.ReadStream(store), note.VerifierList(v), ledger)
		var d *audit.DivergenceError
		if errors.As(err, &d) {
			return fmt.Errorf("audit trail DIVERGES at seq %d (%s): %s", d.Seq, d.What, d.Detail)
		} else if err != nil {
			return err
		}
		rows := fmt.Sprintf("%d stored leaves and %d audit rows match the stream", rep.StoredSize, rep.Rows)
		if ledger == nil {
			rows = "no ledger.db given, so no stored leaves or audit rows checked"
		}
		fmt.Fprintf(cl.stdout, "audit trail holds: %d events, root %s, %d checkpoints and %d co-signatures verified, %s\n",
			rep.Size, rep.Root, rep.Checkpoints-rep.Cosignatures, rep.Cosignatures, rows)
		if rep.Checkpoints == 0 {
			fmt.Fprintln(cl.stdout, "note: no checkpoint is signed yet, so nothing yet proves this tree to anyone else "+
				"(a running server signs one every 1,000 events or 60 s, --checkpoint-every and --checkpoint-interval)")
		}
		for _, w := range rep.Witnesses {
			fmt.Fprintf(cl.stdout, "witness %s co-signed %d checkpoints, the latest of size %d\n", w.Key, w.Cosigned, w.LastSize)
		}
		if len(wkeys) == 0 {
			return nil
		}
		size := rep.Witnessed(wkeys, need)
		if size == 0 {
			return fmt.Errorf("audit trail NOT witnessed: no checkpoint is co-signed by %d of the %d witnesses given; "+
				"this may not be the history they saw (or their instances have not co-signed yet)", need, len(wkeys))
		}
		fmt.Fprintf(cl.stdout, "witnessed: %d of the %d witnesses given co-signed the checkpoint of size %d, so the log up to it is the one they saw", need, len(wkeys), size)
		if int64(size) < rep.Size {
			fmt.Fprintf(cl.stdout, "; the %d events after it are not co-signed by them yet", rep.Size-int64(size))
		}
		fmt.Fprintln(cl.stdout)
		return nil
	}
}

// pinnedWitnesses reads the --witness-key files, each key once, and how
// many of them must have co-signed (--min-witnesses, else all).
func pinnedWitnesses(fs *flag.FlagSet, files []string, min int) ([]string, int, error) {
	if flagSet(fs, "min-witnesses") && len(files) == 0 {
		return nil, 0, usageError("--min-witnesses needs the witnesses' keys: --witness-key FILE, once per witness")
	}
	var keys []string
	for _, path := range files {
		k, err := readWitnessKey(path)
		if err != nil {
			return nil, 0, err
		}
		if !slices.Contains(keys, k) { // the same witness twice is one witness
			keys = append(keys, k)
		}
	}
	if !flagSet(fs, "min-witnesses") {
		return keys, len(keys), nil
	}
	if min < 1 || min > len(keys) {
		return nil, 0, usageError("--min-witnesses must be 1 to %d (the different --witness-key witnesses given), not %d", len(keys), min)
	}
	return keys, min, nil
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// describeEvent says what a receipt proves, in one line: the event's type,
// the key and owner it is about, and when, so that a receipt for one event
// is not taken for another's (an issue for a revocation).
func describeEvent(data []byte) string {
	e, err := events.Decode(data)
	if err != nil {
		return "not readable by this build (" + err.Error() + ")"
	}
	out := e.Base().Type
	if k := e.KeyRef(); k != "" {
		out += " of key " + k
	}
	if o := e.OwnerID(); o != "" {
		out += ", owner " + o
	}
	return out + ", at " + e.Base().At.UTC().Format(time.RFC3339)
}

// ago reads a positive span back from now: a Go duration (1h, 90m) or an
// ISO 8601 period of days and time (PT1H, P2D, P1DT12H), as the policy
// flags take them.
func ago(v string) (time.Duration, bool) {
	if d, err := time.ParseDuration(v); err == nil {
		return d, d > 0
	}
	up := strings.ToUpper(v)
	rest, ok := strings.CutPrefix(up, "P")
	if !ok || rest == "" {
		return 0, false
	}
	var d time.Duration
	days, clock, hasT := strings.Cut(rest, "T")
	if days != "" {
		n, ok := strings.CutSuffix(days, "D")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count < 0 || count > 36500 {
			return 0, false
		}
		d = time.Duration(count) * 24 * time.Hour
	}
	if hasT {
		c, err := time.ParseDuration(strings.ToLower(clock))
		if clock == "" || err != nil || c < 0 {
			return 0, false
		}
		d += c
	}
	return d, d > 0
}
