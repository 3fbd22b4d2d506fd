package commands

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/strictjson"
)

// Endpoint is one command or query of the public API. Name is its subject
// after "keyledger." (cmd.key.issue); HTTP serves it under /v1/ too.
// Request and Response are the Go types of its JSON bodies, from which the
// OpenAPI document is generated, so the document cannot drift from the code.
type Endpoint struct {
	Name     string
	Request  reflect.Type
	Response reflect.Type
	handle   func(ctx context.Context, s *Service, a Actor, cmdID string, body []byte) (any, error)
	// roles, if set, are those of which the caller must hold one: a check
	// that needs only the actor, made before the body is read or anything
	// is looked up. The decide functions check again, in full.
	roles []string
}

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// MaxIdempotencyKey is the longest accepted Idempotency-Key.
const MaxIdempotencyKey = 100

// endpoint adapts a typed service method to an Endpoint that decodes its body.
func endpoint[C any, R any](name string, f func(s *Service, ctx context.Context, a Actor, cmdID string, c C) (R, error)) Endpoint {
	return Endpoint{Name: name, Request: reflect.TypeFor[C](), Response: reflect.TypeFor[R](), handle: func(ctx context.Context, s *Service, a Actor, cmdID string, body []byte) (any, error) {
		var c C
		if err := Decode(body, &c); err != nil {
			return nil, err
		}
		if pc, ok := any(c).(prechecker); ok {
			if err := pc.precheck(); err != nil {
				return nil, err
			}
		}
		if cmdID != "" {
			cmdID = scopedCommandID(name, a, cmdID, c)
		}
		return f(s, ctx, a, cmdID, c)
	}}
}

// scopedCommandID ties an Idempotency-Key to the command it came with: the
// endpoint, the caller and the decoded body (so a retry that re-encodes the
// same JSON differently is still a replay). The same key sent with anything
// else is a different command ID, so it runs as a new command and is never
// answered as a replay of the first: a runbook that uses a ticket number as
// the key for a revoke and then a delete gets both. Client keys hold no '#'.
func scopedCommandID(endpoint string, a Actor, key string, c any) string {
	body, _ := json.Marshal(c)
	h := sha256.New()
	for _, part := range [][]byte{[]byte(endpoint), []byte(a.UserID), body} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return key + "#" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// allow restricts the endpoint to callers holding one of roles.
func (e Endpoint) allow(roles ...string) Endpoint {
	e.roles = roles
	return e
}

type keyIDQuery struct {
	KeyID string `json:"key_id"`
	AsOf  string `json:"as_of"`
}

type usersQuery struct {
	Q string `json:"q"`
}

type empty struct{}

// Endpoints returns the API's catalogue, as DESIGN.md lists it.
func Endpoints() []Endpoint {
	admin, dev, auditor := keyledger.RoleAdmin, keyledger.RoleDeveloper, keyledger.RoleAuditor
	return []Endpoint{
		endpoint("cmd.settings.set", func(s *Service, ctx context.Context, a Actor, cmdID string, c SetSettings) (keyledger.Settings, error) {
			st, err := s.SetSettings(ctx, a, cmdID, c)
			return s.namedSettings(ctx, a, st, err)
		}).allow(admin),
		endpoint("query.settings", func(s *Service, ctx context.Context, a Actor, _ string, _ empty) (keyledger.Settings, error) {
			st, err := s.Settings(ctx, a)
			return s.namedSettings(ctx, a, st, err)
		}).allow(admin, dev, auditor),
		endpoint("cmd.user.register", (*Service).RegisterUser).allow(admin),
		endpoint("cmd.user.roles", (*Service).ChangeRoles).allow(admin),
		endpoint("cmd.user.deactivate", (*Service).DeactivateUser).allow(admin),
		endpoint("query.users", func(s *Service, ctx context.Context, a Actor, _ string, q usersQuery) ([]*keyledger.User, error) {
			return s.Users(ctx, a, q.Q)
		}).allow(admin, dev, auditor),
		endpoint("cmd.key.issue", func(s *Service, ctx context.Context, a Actor, cmdID string, c IssueKey) (*keyledger.Key, error) {
			k, err := s.IssueKey(ctx, a, cmdID, c)
			return s.namedKey(ctx, a, k, err)
		}).allow(admin, dev),
		endpoint("cmd.key.update", func(s *Service, ctx context.Context, a Actor, cmdID string, c UpdateKey) (*keyledger.Key, error) {
			k, err := s.UpdateKey(ctx, a, cmdID, c)
			return s.namedKey(ctx, a, k, err)
		}).allow(admin, dev),
		endpoint("cmd.key.revoke", (*Service).RevokeKeys).allow(admin, dev),
		endpoint("cmd.key.revoke_matching", (*Service).RevokeMatching).allow(admin),
		endpoint("cmd.key.regenerate", func(s *Service, ctx context.Context, a Actor, cmdID string, c RegenerateKey) (*keyledger.Key, error) {
			k, err := s.RegenerateKey(ctx, a, cmdID, c)
			return s.namedKey(ctx, a, k, err)
		}).allow(admin, dev),
		endpoint("cmd.key.delete", (*Service).DeleteKeys).allow(admin, dev),
		endpoint("query.keys", func(s *Service, ctx context.Context, a Actor, _ string, f keyledger.KeyFilter) (*keyledger.KeyPage, error) {
			if err := checkKeyFilter(f); err != nil {
				return nil, err
			}
			return s.Keys(ctx, a, f)
		}).allow(admin, dev, auditor),
		endpoint("query.audit.suspicious", (*Service).Suspicious).allow(admin, auditor),
		endpoint("query.key", func(s *Service, ctx context.Context, a Actor, _ string, q keyIDQuery) (*keyledger.Key, error) {
			k, err := s.KeyAsOf(ctx, a, q.KeyID, q.AsOf)
			return s.namedKey(ctx, a, k, err)
		}).allow(admin, dev, auditor),
		endpoint("cmd.ops.skip", (*Service).SkipEvent).allow(admin),
		endpoint("query.audit", func(s *Service, ctx context.Context, a Actor, _ string, f keyledger.AuditFilter) (*keyledger.AuditPage, error) {
			return s.AuditList(ctx, a, f)
		}).allow(admin, auditor),
		endpoint("query.audit.prove", func(s *Service, ctx context.Context, a Actor, _ string, q ProveQuery) (*keyledger.AuditReceipt, error) {
			return s.AuditProve(ctx, a, q)
		}).allow(admin, auditor),
		endpoint("query.audit.trace", func(s *Service, ctx context.Context, a Actor, _ string, q TraceQuery) (*keyledger.KeyTrace, error) {
			return s.AuditTrace(ctx, a, q)
		}).allow(admin, auditor),
		// Any valid key may ask who it is, even one whose owner has no role.
		endpoint("query.whoami", func(s *Service, ctx context.Context, a Actor, _ string, _ empty) (*Identity, error) {
			return s.Whoami(ctx, a)
		}),
	}
}

// Call authenticates bearer and runs the named endpoint with a JSON body.
// cmdID is the caller's Idempotency-Key; without one, a retry is a new
// command.
func (s *Service) Call(ctx context.Context, ep Endpoint, bearer, cmdID string, body []byte) (any, error) {
	var a Actor
	res, err := s.call(ctx, ep, func() (Actor, error) { return s.Authenticate(ctx, bearer) }, cmdID, body, &a)
	s.observe(ctx, ep, bearer, a, err)
	return res, err
}

// CallAsKey runs the named endpoint for a key that NATS has authenticated
// (see AuthenticateKey): a request with no Authorization header, made on a
// connection that presented the key.
func (s *Service) CallAsKey(ctx context.Context, ep Endpoint, keyID, tag, cmdID string, body []byte) (any, error) {
	var a Actor
	res, err := s.call(ctx, ep, func() (Actor, error) { return s.AuthenticateKey(ctx, keyID, tag) }, cmdID, body, &a)
	s.observe(ctx, ep, "", a, err)
	return res, err
}

// observe reports a call's outcome to OnCall and records a refusal, with
// where the call came from.
func (s *Service) observe(ctx context.Context, ep Endpoint, bearer string, a Actor, err error) {
	code := keyledger.ErrorCode(err)
	if s.OnCall != nil {
		s.OnCall(ep.Name, code)
	}
	if code == keyledger.EForbidden || code == keyledger.EUnauthenticated {
		s.recordDenied(ctx, ep, bearer, a, code)
	}
}

func (s *Service) call(ctx context.Context, ep Endpoint, authenticate func() (Actor, error), cmdID string, body []byte, actor *Actor) (any, error) {
	if len(cmdID) > MaxIdempotencyKey || strings.ContainsAny(cmdID, " \t\r\n#@") {
		return nil, keyledger.Errorf(keyledger.EInvalid, "Idempotency-Key: at most %d characters, no spaces, # or @", MaxIdempotencyKey)
	}
	if strings.HasPrefix(cmdID, "kl_") { // it would be stored in the events
		return nil, keyledger.Errorf(keyledger.EInvalid, "Idempotency-Key: this is an API key token; a token belongs only in the Authorization header")
	}
	if err := s.gate(ep); err != nil {
		return nil, err
	}
	a, err := authenticate()
	a.Source = SourceOf(ctx)
	*actor = a // a key refused for where it is used from still names its owner
	if err != nil {
		return nil, err
	}
	if len(ep.roles) > 0 && !slices.ContainsFunc(ep.roles, a.Is) {
		roles := strings.Join(a.Roles, ", ")
		if roles == "" {
			roles = "none"
		}
		return nil, keyledger.Errorf(keyledger.EForbidden, "your key's roles (%s) do not allow keyledger.%s, which needs: %s", roles, ep.Name, strings.Join(ep.roles, " or "))
	}
	// Who may call comes first: a caller without a key, or without the
	// role, learns that before anything about the body.
	if len(body) > MaxBody {
		return nil, keyledger.Errorf(keyledger.EInvalid, "body: larger than %d bytes", MaxBody)
	}
	return ep.handle(ctx, s, a, cmdID, body)
}

// Halter is implemented by an Applied whose projections can halt on an
// event they cannot apply; seq is 0 while they run.
type Halter interface {
	Halted() (seq uint64, reason string)
}

// halted reports where this instance's projections are halted, if they are.
func (s *Service) halted() (uint64, string) {
	if h, ok := s.Applied.(Halter); ok {
		return h.Halted()
	}
	return 0, ""
}

// gate refuses commands at once while projections are halted: they could
// be stored but never reflected, and would decide on stale state. Queries
// still answer, and so do operations commands (the way past a halt).
func (s *Service) gate(ep Endpoint) error {
	if !strings.HasPrefix(ep.Name, "cmd.") || strings.HasPrefix(ep.Name, "cmd.ops.") {
		return nil
	}
	if seq, reason := s.halted(); seq != 0 {
		return keyledger.Errorf(keyledger.EUnavailable, "commands are refused until an admin acts: %s", reason)
	}
	return nil
}

// Decode reads a JSON request body strictly: an empty body is {}, and
// unknown fields, wrong types and trailing data are invalid, naming the field.
func Decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if !utf8.Valid(body) {
		// encoding/json would quietly read each bad byte as U+FFFD.
		return keyledger.Errorf(keyledger.EInvalid, "body: not valid UTF-8 (at byte %d)", invalidUTF8At(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		var timeErr *time.ParseError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field == "":
			return keyledger.Errorf(keyledger.EInvalid, "body: expected a JSON object, got JSON %s", typeErr.Value)
		case errors.As(err, &typeErr):
			return keyledger.Errorf(keyledger.EInvalid, "%s: expected %s, got JSON %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)
		case errors.As(err, &syntaxErr):
			return keyledger.Errorf(keyledger.EInvalid, "malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return keyledger.Errorf(keyledger.EInvalid, "malformed JSON: the body ends before the object does")
		case errors.As(err, &timeErr):
			return keyledger.Errorf(keyledger.EInvalid, "%s is not an RFC 3339 time such as 2027-01-31T00:00:00Z", keyledger.Quote(timeErr.Value))
		}
		// encoding/json has no error type for this one: its text is all there is.
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			if near := nearestField(strictjson.FieldNames(v), strings.Trim(field, `"`)); near != "" {
				return keyledger.Errorf(keyledger.EInvalid, "unknown field %s (did you mean %q?)", fieldName(field), near)
			}
			return keyledger.Errorf(keyledger.EInvalid, "unknown field %s", fieldName(field))
		}
		return keyledger.Errorf(keyledger.EInvalid, "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return keyledger.Errorf(keyledger.EInvalid, "malformed JSON: data after the object")
	}
	if name, ok := strictjson.DuplicateField(body); ok {
		return keyledger.Errorf(keyledger.EInvalid, "field %s appears twice in one object", fieldName(`"`+name+`"`))
	}
	if got, want, ok := strictjson.MiscasedField(body, strictjson.FieldNames(v)); ok {
		return keyledger.Errorf(keyledger.EInvalid, "field %s: names are case-sensitive (did you mean %q?)", keyledger.Quote(got), want)
	}
	return checkTimes(v)
}

// invalidUTF8At returns the offset of body's first byte that is not UTF-8.
func invalidUTF8At(body []byte) int {
	for i := 0; i < len(body); {
		r, n := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(body)
}

// nearestField returns the one of names (a body's JSON field names, as
// strictjson.FieldNames lists them) that name is one typo away from (an
// edit, or a letter more or less), or "": key_id for key_ids.
func nearestField(names []string, name string) string {
	for _, n := range names {
		if oneEditApart(strings.ToLower(n), strings.ToLower(name)) {
			return n
		}
	}
	return ""
}

// oneEditApart reports whether a and b differ by exactly one letter
// changed, added or removed.
func oneEditApart(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	if a == b || len(b)-len(a) > 1 {
		return false
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	if len(a) == len(b) {
		return a[i+1:] == b[i+1:]
	}
	return a[i:] == b[i+1:]
}

// jsonKind names a Go type as the JSON a client should send, never as Go
// spells it.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.Struct:
		if t.PkgPath() == "time" && t.Name() == "Time" {
			return "an RFC 3339 time string"
		}
		return "an object"
	case reflect.Map:
		return "an object"
	}
	return "another JSON type"
}

// fieldName repeats a quoted field name from a request only if it looks
// like one (short, lower-case letters, digits, _): anything else may be a
// secret pasted in the wrong place.
func fieldName(quoted string) string {
	name := strings.Trim(quoted, `"`)
	if len(name) > 40 || strings.HasPrefix(name, "kl_") || strings.TrimFunc(name, func(r rune) bool {
		return r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
	}) != "" {
		return "(not shown)"
	}
	return quoted
}

// String names the endpoint, for logs.
func (e Endpoint) String() string { return fmt.Sprintf("keyledger.%s", e.Name) }

// IsCommand reports whether the endpoint changes anything (and so takes an
// Idempotency-Key), as opposed to a query.
func (e Endpoint) IsCommand() bool { return strings.HasPrefix(e.Name, "cmd.") }
