package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/allot-dev/allot/schemas"
)

// maxDepth bounds how deeply a document may nest, so that a hostile file
// cannot exhaust the stack.
const maxDepth = 64

// Document is one parsed YAML file: its value as JSON-compatible data (maps,
// slices, strings, int64, float64, bool, nil) and the position of every field.
type Document struct {
	// File is the path relative to the repository root, with forward slashes.
	File  string
	Value any
	lines map[string][2]int
}

// Pos returns the position of the field at path (keys and decimal indexes),
// or of its nearest ancestor that exists.
func (d *Document) Pos(path ...string) schemas.Position {
	for n := len(path); n >= 0; n-- {
		if lc, ok := d.lines[pointer(path[:n])]; ok {
			return schemas.Position{File: d.File, Line: lc[0], Column: lc[1]}
		}
	}
	return schemas.Position{File: d.File}
}

// fileError is a problem that makes a whole file unusable.
type fileError struct {
	rule schemas.Rule
	line int
	msg  string
}

func (e *fileError) Error() string { return e.msg }

// parse reads one YAML document of at most limit bytes from r.
func parse(file string, r io.Reader, limit int64) (*Document, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, &fileError{rule: schemas.RuleFile, msg: fmt.Sprintf("cannot read the file: %v", err)}
	}
	if int64(len(data)) > limit {
		return nil, &fileError{rule: schemas.RuleFile, msg: fmt.Sprintf("file is larger than %d bytes; a request is a few dozen lines, so split it or move large values into an add-on directory", limit)}
	}
	if !utf8.Valid(data) {
		line := 1 + bytes.Count(data[:invalidUTF8At(data)], []byte("\n"))
		return nil, &fileError{rule: schemas.RuleFile, line: line, msg: "file is not valid UTF-8; save it as UTF-8"}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &fileError{rule: schemas.RuleFile, msg: "file is empty; remove it or write the object in it"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); errors.Is(err, io.EOF) {
		return nil, &fileError{rule: schemas.RuleFile, msg: "file holds no object; remove it or write the object in it"}
	} else if err != nil {
		return nil, syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(err)
	default:
		return nil, &fileError{rule: schemas.RuleFile, line: next.Line, msg: "file holds more than one YAML document; put each object in a file of its own"}
	}
	d := &Document{File: file, lines: map[string][2]int{}}
	body := &root
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		body = root.Content[0]
	}
	v, err := d.convert(body, nil)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, &fileError{rule: schemas.RuleFile, msg: "file holds no object; remove it or write the object in it"}
	}
	d.Value = v
	return d, nil
}

// convert turns a YAML node into JSON-compatible data, recording positions and
// refusing what a request never needs: aliases, merge keys, deep nesting,
// duplicate keys and non-string keys.
func (d *Document) convert(n *yaml.Node, path []string) (any, error) {
	if len(path) > maxDepth {
		return nil, &fileError{rule: schemas.RuleFile, line: n.Line, msg: fmt.Sprintf("nesting is deeper than %d levels", maxDepth)}
	}
	if _, seen := d.lines[pointer(path)]; !seen {
		d.lines[pointer(path)] = [2]int{n.Line, n.Column}
	}
	if err := refuseAlias(n); err != nil {
		return nil, err
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if err := refuseAlias(k); err != nil {
				return nil, err
			}
			if k.Kind != yaml.ScalarNode || (k.ShortTag() != "!!str" && k.ShortTag() != "!!int" && k.ShortTag() != "!!bool") {
				return nil, &fileError{rule: schemas.RuleSyntax, line: k.Line, msg: "mapping keys must be plain strings"}
			}
			if _, dup := m[k.Value]; dup {
				return nil, &fileError{rule: schemas.RuleSyntax, line: k.Line, msg: fmt.Sprintf("field %q appears twice in %s; keep one", k.Value, schemas.Describe(path))}
			}
			child := append(path[:len(path):len(path)], k.Value)
			d.lines[pointer(child)] = [2]int{k.Line, k.Column}
			cv, err := d.convert(val, child)
			if err != nil {
				return nil, err
			}
			m[k.Value] = cv
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			cv, err := d.convert(item, append(path[:len(path):len(path)], strconv.Itoa(i)))
			if err != nil {
				return nil, err
			}
			s = append(s, cv)
		}
		return s, nil
	case yaml.ScalarNode:
		return scalar(n)
	default:
		return nil, &fileError{rule: schemas.RuleSyntax, line: n.Line, msg: "unexpected YAML node"}
	}
}

// scalar resolves a scalar by its YAML tag. Timestamps stay strings: dates in
// requests are parsed by the rules that need them.
func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, &fileError{rule: schemas.RuleSyntax, line: n.Line, msg: err.Error()}
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, &fileError{rule: schemas.RuleSyntax, line: n.Line, msg: fmt.Sprintf("number %s does not fit in 64 bits; quote it if it is text", n.Value)}
		}
		return i, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, &fileError{rule: schemas.RuleSyntax, line: n.Line, msg: fmt.Sprintf("number %s is not a finite number; quote it if it is text", n.Value)}
		}
		return f, nil
	case "!!str", "!!timestamp", "!!binary":
		return n.Value, nil
	default:
		return nil, &fileError{rule: schemas.RuleSyntax, line: n.Line, msg: fmt.Sprintf("YAML tag %s is not supported; remove it", n.Tag)}
	}
}

// refuseAlias refuses a node that is an anchor, an alias or a merge key.
// Aliases let a file of a few kilobytes expand to gigabytes once decoded
// (a "billion laughs"), and a requests repository never needs them.
func refuseAlias(n *yaml.Node) error {
	var name string
	switch {
	case n.Anchor != "":
		name = "&" + n.Anchor
	case n.Kind == yaml.AliasNode:
		name = "*" + n.Value
	case n.Tag == "!!merge":
		name = n.Value
	default:
		return nil
	}
	return &fileError{rule: schemas.RuleFile, line: n.Line, msg: fmt.Sprintf("YAML anchors and aliases (%s) are not allowed in a requests repository; write the values out", name)}
}

// syntaxError turns a YAML parser error into a fileError with its line.
func syntaxError(err error) error {
	msg := err.Error()
	line := 0
	// The parser says "yaml: line N: message".
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, text
			}
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &fileError{rule: schemas.RuleSyntax, line: line, msg: "invalid YAML: " + msg}
}

func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// pointer joins a path into a map key.
func pointer(path []string) string {
	return strings.Join(path, "\x00")
}
