package schemas

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed *.schema.json
var files embed.FS

// baseURL is the $id prefix of the embedded schemas.
const baseURL = "https://allot.dev/schemas/v1alpha1/"

// fileNames maps each kind to its schema file.
var fileNames = map[Kind]string{
	KindPlatform:            "platform.schema.json",
	KindEnvironment:         "environment.schema.json",
	KindEnvironmentTemplate: "environmenttemplate.schema.json",
}

// Kinds lists the kinds in a stable order.
func Kinds() []Kind {
	return []Kind{KindPlatform, KindEnvironmentTemplate, KindEnvironment}
}

// File returns the JSON Schema of a kind as it is embedded, for editors.
func File(k Kind) ([]byte, error) {
	name, ok := fileNames[k]
	if !ok {
		return nil, fmt.Errorf("unknown kind %q: want one of Platform, EnvironmentTemplate, Environment", k)
	}
	return files.ReadFile(name)
}

// FieldError is one way a document does not match its schema, at a path of
// keys and indexes into the document.
type FieldError struct {
	Path    []string
	Message string
}

// Validator checks documents against the embedded schemas. It is safe for
// concurrent use.
type Validator struct {
	schemas map[Kind]*jsonschema.Schema
	raw     map[string]any // schema documents by URL, to suggest field names
	printer *message.Printer
}

var (
	defaultOnce      sync.Once
	defaultValidator *Validator
	defaultErr       error
)

// DefaultValidator returns a Validator for the embedded schemas, compiled once.
func DefaultValidator() (*Validator, error) {
	defaultOnce.Do(func() { defaultValidator, defaultErr = NewValidator() })
	return defaultValidator, defaultErr
}

// NewValidator compiles the embedded schemas.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	v := &Validator{schemas: map[Kind]*jsonschema.Schema{}, raw: map[string]any{}, printer: message.NewPrinter(language.English)}
	for _, name := range fileNames {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		if err := c.AddResource(baseURL+name, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		v.raw[baseURL+name] = doc
	}
	for k, name := range fileNames {
		s, err := c.Compile(baseURL + name)
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", name, err)
		}
		v.schemas[k] = s
	}
	return v, nil
}

// Validate checks a document (as decoded from YAML into maps, slices and
// scalars) against the schema of kind k.
func (v *Validator) Validate(k Kind, doc any) []FieldError {
	s, ok := v.schemas[k]
	if !ok {
		return []FieldError{{Message: fmt.Sprintf("unknown kind %q", k)}}
	}
	err := s.Validate(doc)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return []FieldError{{Message: err.Error()}}
	}
	var out []FieldError
	v.collect(verr, &out)
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Join(out[i].Path, "/") < strings.Join(out[j].Path, "/")
	})
	return slices.CompactFunc(out, func(a, b FieldError) bool {
		return slices.Equal(a.Path, b.Path) && a.Message == b.Message
	})
}

// collect flattens the error tree into its leaves, phrased for people who
// write YAML rather than JSON Schema.
//
// Patterns, formats and oneOf are there for editors: allot's own rules
// (schemas/validate) check the same things — names, e-mail addresses,
// expiry forms, one add-on source — and say how to fix them, so the
// schema's terser verdicts on them are left out.
func (v *Validator) collect(e *jsonschema.ValidationError, out *[]FieldError) {
	switch e.ErrorKind.(type) {
	case *kind.Pattern, *kind.Format, *kind.OneOf:
		return
	}
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			v.collect(c, out)
		}
		return
	}
	at := slices.Clone(e.InstanceLocation)
	field := Describe(at)
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		known := v.properties(e.SchemaURL)
		for _, p := range k.Properties {
			msg := fmt.Sprintf("unknown field %q in %s", p, field)
			if s := suggest(p, known); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else if len(known) > 0 {
				msg += fmt.Sprintf("; allowed fields are %s", strings.Join(known, ", "))
			}
			*out = append(*out, FieldError{Path: append(slices.Clone(at), p), Message: msg})
		}
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, FieldError{Path: at, Message: fmt.Sprintf("missing required field %q in %s", m, field)})
		}
	case *kind.Type:
		if strings.HasSuffix(e.SchemaURL, "#/$defs/secretSource") {
			// Never echo the value: it is a credential that should not be in git.
			*out = append(*out, FieldError{Path: at, Message: fmt.Sprintf("%s must say where the credential comes from, as env: VARIABLE or file: /path, never the credential itself; remove it from git and rotate it", field)})
			return
		}
		*out = append(*out, FieldError{Path: at, Message: fmt.Sprintf("%s must be %s, not %s", field, strings.Join(k.Want, " or "), k.Got)})
	case *kind.Const:
		*out = append(*out, FieldError{Path: at, Message: fmt.Sprintf("%s must be %s", field, jsonText(k.Want))})
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = jsonText(w)
		}
		*out = append(*out, FieldError{Path: at, Message: fmt.Sprintf("%s must be one of %s", field, strings.Join(want, ", "))})
	default:
		*out = append(*out, FieldError{Path: at, Message: fmt.Sprintf("%s: %s", field, e.ErrorKind.LocalizedString(v.printer))})
	}
}

// properties lists the property names the schema at url allows, sorted.
func (v *Validator) properties(url string) []string {
	base, frag, _ := strings.Cut(url, "#")
	node := v.raw[base]
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]
	}
	m, ok := node.(map[string]any)
	if !ok {
		return nil
	}
	props, _ := m["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Describe names a place in a document the way a YAML author reads it:
// "spec.addons[0].helm", or "the document" at the top.
func Describe(path []string) string {
	if len(path) == 0 {
		return "the document"
	}
	var b strings.Builder
	for _, p := range path {
		if isIndex(p) {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

// suggest returns the known name closest to a misspelt one, if it is close.
func suggest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(name), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance between two short strings.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
