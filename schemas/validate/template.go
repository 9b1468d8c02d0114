package validate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// parameterSchema is a template's compiled spec.parameters.
type parameterSchema struct {
	schema *jsonschema.Schema
}

// templates checks every template and compiles its parameter schema.
func (c *checker) templates() {
	c.params = map[string]*parameterSchema{}
	for _, name := range sortedKeys(c.repo.Templates) {
		tf := c.repo.Templates[name]
		c.dnsLabel(tf.Doc.Pos("metadata", "name"), "template name", name)
		if sel := tf.Template.Spec.ClusterSelector; sel != nil {
			if _, err := sel.Selector(); err != nil {
				c.errorf(tf.Doc.Pos("spec", "clusterSelector"), schemas.RuleTemplate, "clusterSelector: %v", err)
			}
		}
		c.sleep(tf.Doc, tf.Template.Spec.Sleep, "spec", "sleep")
		if tf.Template.Spec.Parameters == nil {
			continue
		}
		s, err := compileParameters(name, tf.Template.Spec.Parameters)
		if err != nil {
			c.errorf(tf.Doc.Pos("spec", "parameters"), schemas.RuleTemplate, "parameters is not a valid JSON Schema: %v", err)
			continue
		}
		c.params[name] = s
	}
}

func compileParameters(name string, params map[string]any) (*parameterSchema, error) {
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	// Parameter schemas are self-contained: no loading of remote references.
	comp.UseLoader(noLoader{})
	url := "https://allot.dev/templates/" + name + "/parameters.json"
	if err := comp.AddResource(url, params); err != nil {
		return nil, err
	}
	s, err := comp.Compile(url)
	if err != nil {
		return nil, err
	}
	return &parameterSchema{schema: s}, nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("parameter schemas cannot refer to %s; keep them self-contained", url)
}

// knownTypes lists the template names for messages.
func (c *checker) knownTypes() string {
	names := sortedKeys(c.repo.Templates)
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// templateFor returns the template of an environment's type.
func (c *checker) templateFor(ef *load.EnvironmentFile) *load.TemplateFile {
	return c.repo.Templates[ef.Environment.Spec.Type]
}
