package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/keyledger/keyledger"
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
		return f(s, ctx, a, cmdID, c)
	}}
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
	return []Endpoint{
		endpoint("cmd.settings.set", (*Service).SetSettings),
		endpoint("query.settings", func(s *Service, ctx context.Context, a Actor, _ string, _ empty) (keyledger.Settings, error) {
			return s.Settings(ctx, a)
		}),
		endpoint("cmd.user.register", (*Service).RegisterUser),
		endpoint("cmd.user.roles", (*Service).ChangeRoles),
		endpoint("cmd.user.deactivate", (*Service).DeactivateUser),
		endpoint("query.users", func(s *Service, ctx context.Context, a Actor, _ string, q usersQuery) ([]*keyledger.User, error) {
			return s.Users(ctx, a, q.Q)
		}),
		endpoint("cmd.key.issue", (*Service).IssueKey),
		endpoint("cmd.key.update", (*Service).UpdateKey),
		endpoint("cmd.key.revoke", (*Service).RevokeKeys),
		endpoint("cmd.key.regenerate", (*Service).RegenerateKey),
		endpoint("cmd.key.delete", (*Service).DeleteKeys),
		endpoint("query.keys", func(s *Service, ctx context.Context, a Actor, _ string, f keyledger.KeyFilter) (*keyledger.KeyPage, error) {
			if err := checkKeyFilter(f); err != nil {
				return nil, err
			}
			return s.Keys(ctx, a, f)
		}),
		endpoint("query.key", func(s *Service, ctx context.Context, a Actor, _ string, q keyIDQuery) (*keyledger.Key, error) {
			return s.KeyAsOf(ctx, a, q.KeyID, q.AsOf)
		}),
		endpoint("query.whoami", func(s *Service, ctx context.Context, a Actor, _ string, _ empty) (*Identity, error) {
			return s.Whoami(ctx, a)
		}),
	}
}

// Call authenticates bearer and runs the named endpoint with a JSON body.
// cmdID is the caller's Idempotency-Key; without one, a retry is a new
// command.
func (s *Service) Call(ctx context.Context, ep Endpoint, bearer, cmdID string, body []byte) (any, error) {
	res, err := s.call(ctx, ep, bearer, cmdID, body)
	if s.OnCall != nil {
		s.OnCall(ep.Name, keyledger.ErrorCode(err))
	}
	return res, err
}

func (s *Service) call(ctx context.Context, ep Endpoint, bearer, cmdID string, body []byte) (any, error) {
	if len(cmdID) > MaxIdempotencyKey || strings.ContainsAny(cmdID, " \t\r\n#@") {
		return nil, keyledger.Errorf(keyledger.EInvalid, "Idempotency-Key: at most %d characters, no spaces, # or @", MaxIdempotencyKey)
	}
	if len(body) > MaxBody {
		return nil, keyledger.Errorf(keyledger.EInvalid, "body: larger than %d bytes", MaxBody)
	}
	a, err := s.Authenticate(ctx, bearer)
	if err != nil {
		return nil, err
	}
	return ep.handle(ctx, s, a, cmdID, body)
}

// Decode reads a JSON request body strictly: an empty body is {}, and
// unknown fields, wrong types and trailing data are invalid, naming the field.
func Decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			return keyledger.Errorf(keyledger.EInvalid, "%s: expected %s, got JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
		case errors.As(err, &syntaxErr):
			return keyledger.Errorf(keyledger.EInvalid, "malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
		}
		return keyledger.Errorf(keyledger.EInvalid, "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return keyledger.Errorf(keyledger.EInvalid, "malformed JSON: data after the object")
	}
	return nil
}

// String names the endpoint, for logs.
func (e Endpoint) String() string { return fmt.Sprintf("keyledger.%s", e.Name) }

// IsCommand reports whether the endpoint changes anything (and so takes an
// Idempotency-Key), as opposed to a query.
func (e Endpoint) IsCommand() bool { return strings.HasPrefix(e.Name, "cmd.") }
