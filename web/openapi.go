package web

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/verifier"
)

// OpenAPI returns the OpenAPI 3.1 document of the HTTP API. It is generated
// from the endpoint catalogue that builds the NATS and HTTP handlers, and
// from the Go types of their bodies, so it cannot drift from them.
func OpenAPI(version string) []byte {
	g := &schemas{defs: map[string]any{}}
	paths := map[string]any{}
	for _, ep := range commands.Endpoints() {
		op := map[string]any{
			"operationId": ep.Name,
			"summary":     summary(ep.Name),
			"description": "Also served as the NATS request subject `keyledger." + ep.Name + "`.",
			"tags":        []string{strings.SplitN(ep.Name, ".", 2)[0]},
			"requestBody": map[string]any{"required": false, "content": jsonContent(g.of(ep.Request, true))},
			"responses":   withErrors(map[string]any{"200": map[string]any{"description": "OK", "content": jsonContent(g.of(ep.Response, false))}}),
		}
		if ep.IsCommand() {
			op["parameters"] = []any{map[string]any{"name": "Idempotency-Key", "in": "header", "required": false,
				"description": "Makes a retried command a no-op that answers like the first attempt (at most 100 characters, no spaces, # or @).",
				"schema":      map[string]any{"type": "string", "maxLength": commands.MaxIdempotencyKey}}}
		}
		paths[HTTPPath(ep.Name)] = map[string]any{"post": op}
	}
	paths["/v1/verify"] = map[string]any{"post": map[string]any{
		"operationId": "verify",
		"summary":     "Verify a key: valid, or the reason it is not. Answered from memory.",
		"description": "Also served as the NATS request subject `keyledger.verify`. Needs no key unless the server runs with --verify-token-required.",
		"tags":        []string{"verify"},
		"security":    []any{map[string]any{}, map[string]any{"bearer": []any{}}},
		"requestBody": map[string]any{"required": true, "content": jsonContent(g.of(reflect.TypeFor[verifier.Request](), true))},
		"responses": map[string]any{
			"200": map[string]any{"description": "The verdict", "content": jsonContent(g.of(reflect.TypeFor[verifier.Result](), false))},
			"400": errorResponse([]string{keyledger.EInvalid}),
			"401": errorResponse([]string{keyledger.EUnauthenticated}),
		},
	}}
	g.of(reflect.TypeFor[Notice](), false) // the data of each /v1/live event
	paths["/v1/live"] = map[string]any{"get": map[string]any{
		"operationId": "live",
		"summary":     "Stored user events as they happen, as server-sent events: the console's live view.",
		"description": "Each `event: notice` carries a Notice as its data (admins and auditors see every owner's events, " +
			"developers their own). A caller too slow to keep up gets `event: resync` and should reload what it shows. " +
			"An idle stream gets a comment line every 20 s, and ends when the caller's key no longer holds.",
		"tags": []string{"live"},
		"responses": withErrors(map[string]any{"200": map[string]any{
			"description": "An event stream of Notice objects (see components/schemas/Notice)",
			"content":     map[string]any{"text/event-stream": map[string]any{"schema": map[string]any{"type": "string"}}},
		}}),
	}}
	g.defs["Error"] = errorSchema(keyledger.Codes)
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "keyledger", "version": version,
			"description": "The API-key ledger. Every entry is POST /v1/<NATS subject after \"keyledger.\" with dots as slashes>. " +
				"Errors carry {\"error\":{\"code\",\"message\"}} with a stable code."},
		"paths":      paths,
		"security":   []any{map[string]any{"bearer": []any{}}},
		"components": map[string]any{"schemas": g.defs, "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "kl_<keyID>_<secret>"}}},
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
}

// HTTPPath is where a catalogue entry is served: /v1/cmd/key/issue.
func HTTPPath(name string) string { return "/v1/" + strings.ReplaceAll(name, ".", "/") }

func summary(name string) string {
	if s, ok := commands.Summaries[name]; ok {
		return s
	}
	return name
}

func jsonContent(schema any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}

// withErrors adds one response per HTTP status that an error code maps to.
func withErrors(responses map[string]any) map[string]any {
	byStatus := map[int][]string{}
	for _, code := range keyledger.Codes {
		st := keyledger.HTTPStatus(code)
		byStatus[st] = append(byStatus[st], code)
	}
	for st, codes := range byStatus {
		responses[strconv.Itoa(st)] = errorResponse(codes)
	}
	return responses
}

func errorResponse(codes []string) map[string]any {
	return map[string]any{"description": "Error: " + strings.Join(codes, ", "), "content": jsonContent(map[string]any{"$ref": "#/components/schemas/Error"})}
}

func errorSchema(codes []string) map[string]any {
	return map[string]any{"type": "object", "required": []string{"error"}, "additionalProperties": false,
		"properties": map[string]any{"error": map[string]any{"type": "object", "required": []string{"code", "message"}, "additionalProperties": false,
			"properties": map[string]any{"code": map[string]any{"type": "string", "enum": codes}, "message": map[string]any{"type": "string"}}}}}
}

// schemas turns Go types into JSON Schema (2020-12, as OpenAPI 3.1 uses),
// collecting named structs under components/schemas.
type schemas struct{ defs map[string]any }

var timeType = reflect.TypeFor[time.Time]()

// rawType is JSON passed through as it is (an audit entry's detail): any value.
var rawType = reflect.TypeFor[json.RawMessage]()

// of returns the schema of t. Request schemas refuse unknown fields, as the
// server's decoder does; response schemas require every field that is
// always present.
func (g *schemas) of(t reflect.Type, request bool) any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{}
	case t.Kind() == reflect.Pointer:
		return nullable(g.of(t.Elem(), request))
	case t.Kind() == reflect.Slice:
		return map[string]any{"type": []string{"array", "null"}, "items": g.of(t.Elem(), request)}
	case t.Kind() == reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem(), request)}
	case t.Kind() == reflect.Struct:
		name := t.Name()
		if name == "" || name == "empty" {
			return g.object(t, request)
		}
		if request {
			name += "Request"
		}
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder for recursive types
			g.defs[name] = g.object(t, request)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	case t.Kind() == reflect.String:
		return map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		return map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return map[string]any{"type": "integer"}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

func (g *schemas) object(t reflect.Type, request bool) map[string]any {
	props, required := map[string]any{}, []string{}
	g.fields(t, request, props, &required)
	slices.Sort(required)
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": !request}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// fields adds t's JSON fields to props, flattening embedded structs as
// encoding/json does.
func (g *schemas) fields(t reflect.Type, request bool, props map[string]any, required *[]string) {
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			g.fields(f.Type, request, props, required)
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.of(f.Type, request)
		optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		if !request && !optional {
			*required = append(*required, name)
		}
	}
}

func nullable(s any) any {
	if m, ok := s.(map[string]any); ok {
		if typ, ok := m["type"].(string); ok {
			c := map[string]any{}
			for k, v := range m {
				c[k] = v
			}
			c["type"] = []string{typ, "null"}
			return c
		}
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}
