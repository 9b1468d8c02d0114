package schemas

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// editorSchema compiles the environment schema as an editor uses it:
// every keyword asserted, formats included.
func editorSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	for _, name := range fileNames {
		data, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(baseURL+name, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile(baseURL + fileNames[KindEnvironment])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func requestDoc(t *testing.T, path string) any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// Issue 12: an editor with the environment schema flags, as you type, what
// allot validate refuses where JSON Schema can say it — names, e-mail
// addresses, expiry forms, one add-on source — and nothing the examples
// hold.
func TestEditorSchemaCatchesWhatValidateCatches(t *testing.T) {
	s := editorSchema(t)
	good, err := filepath.Glob(filepath.Join("..", "examples", "requests", "environments", "*", "*.yaml"))
	if err != nil || len(good) == 0 {
		t.Fatalf("no example requests: %v", err)
	}
	for _, path := range good {
		if err := s.Validate(requestDoc(t, path)); err != nil {
			t.Errorf("%s: the editor schema refuses a valid request: %v", path, err)
		}
	}
	for _, path := range []string{
		"invalid-name/environments/web/Demo_App.yaml",
		"owner-not-email/environments/web/demo.yaml",
		"expires-unparsable/environments/web/demo.yaml",
		"addon-two-sources/environments/web/demo.yaml",
	} {
		full := filepath.Join("..", "examples", "invalid", filepath.FromSlash(path))
		if _, err := os.Stat(full); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := s.Validate(requestDoc(t, full)); err == nil {
			t.Errorf("%s: the editor schema accepts what allot validate refuses", path)
		}
	}
}

// The editor-only keywords do not add terser copies of validate's own
// messages.
func TestValidatorLeavesEditorKeywordsToTheRules(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	doc := requestDoc(t, filepath.Join("..", "examples", "invalid", "addon-two-sources", "environments", "web", "demo.yaml"))
	if errs := v.Validate(KindEnvironment, doc); len(errs) != 0 {
		t.Errorf("schema errors %v; the add-on rule reports this one", errs)
	}
}
