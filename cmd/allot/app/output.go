package app

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Output formats of the -o flag. Every command that prints takes json and
// yaml, which encode the same document with the same lowerCamelCase field
// names, and its own form for people, the default.
const (
	OutputText  = "text"
	OutputTable = "table"
	OutputJSON  = "json"
	OutputYAML  = "yaml"
	// OutputGitHub is validate's text form with GitHub annotations, kept
	// for workflows written before --github-annotations.
	OutputGitHub = "github"
)

// outputs are the -o values one command takes: its own form first, the
// default, then json and yaml.
type outputs []string

// formats returns the -o values of a command whose own form is named own.
func formats(own string, more ...string) outputs {
	o := outputs{own}
	for _, f := range append(more, OutputJSON, OutputYAML) {
		if !slices.Contains(o, f) {
			o = append(o, f)
		}
	}
	return o
}

// bind adds -o/--output to cmd, which refuses an unknown value while the
// flags are parsed, so that it is a usage error (exit 2) before any work.
func (o outputs) bind(cmd *cobra.Command, p *string) {
	*p = o[0]
	cmd.Flags().VarP(&choice{p: p, check: o.check}, "output", "o", "output format: "+strings.Join(o, ", "))
}

// check refuses a format the command does not print; "" is the default.
func (o outputs) check(format string) error {
	if format == "" || slices.Contains(o, format) {
		return nil
	}
	return fmt.Errorf("unknown output format %q: want one of %s", format, strings.Join(o, ", "))
}

// choice is a flag that takes one of a few words, and refuses others as
// the flags are parsed.
type choice struct {
	p     *string
	check func(string) error
}

func (v *choice) String() string { return *v.p }
func (v *choice) Type() string   { return "string" }

func (v *choice) Set(s string) error {
	if err := v.check(s); err != nil {
		return err
	}
	*v.p = s
	return nil
}

// oneOf is a check that s is one of allowed, naming them when it is not.
func oneOf(what string, allowed ...string) func(string) error {
	return func(s string) error {
		if slices.Contains(allowed, s) {
			return nil
		}
		return fmt.Errorf("unknown %s %q: want one of %s", what, s, strings.Join(allowed, ", "))
	}
}

// printOutput prints doc as JSON or YAML, or, for any other format, calls
// text to print the command's own form.
func printOutput(w io.Writer, format string, doc any, text func(io.Writer) error) error {
	switch format {
	case OutputJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	case OutputYAML:
		// Through JSON, so that YAML has the JSON field names.
		data, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return text(w)
}

// structured reports whether format is json or yaml, where stdout holds
// one document and nothing else.
func structured(format string) bool { return format == OutputJSON || format == OutputYAML }
