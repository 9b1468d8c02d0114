package app

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// ListOptions are the inputs of List.
type ListOptions struct {
	Repo   string
	Output string
}

// EnvironmentRow is one line of `allot list`.
type EnvironmentRow struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Team     string   `json:"team"`
	Owner    string   `json:"owner"`
	Clusters []string `json:"clusters"`
	Expires  string   `json:"expires"`
	File     string   `json:"file"`
}

// NewListCommand builds `allot list`, a table of the requests in a
// repository.
func NewListCommand(s Streams) *cobra.Command {
	opts := ListOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the environments a requests repository asks for",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return List(s, opts) },
	}
	cmd.Flags().StringVar(&opts.Repo, "repo", ".", "the requests repository's directory")
	listOutputs.bind(cmd, &opts.Output)
	return cmd
}

var listOutputs = formats(OutputTable)

// BrokenFile is a file `allot list` left out, with its first problem.
type BrokenFile struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Problem string `json:"problem"`
}

// listReport is the document of `allot list -o json|yaml`.
type listReport struct {
	Environments []EnvironmentRow `json:"environments"`
	Broken       []BrokenFile     `json:"broken"`
}

// List prints the repository's environments with the clusters they resolve
// to. A file that does not load is left out, and said so on stderr (and in
// the document's broken list); List then returns errProblems, exit 1.
func List(s Streams, opts ListOptions) error {
	if err := listOutputs.check(opts.Output); err != nil {
		return usageError(err)
	}
	repo, err := load.Load(opts.Repo, load.Options{Builtin: environments.Templates()})
	if err != nil {
		return usageError(err)
	}
	report := listReport{Environments: Rows(repo), Broken: Broken(repo)}
	for _, b := range report.Broken {
		pos := schemas.Position{File: b.File, Line: b.Line}
		fmt.Fprintf(s.Err, "allot: %s: left out: %s\n", pos, b.Problem)
	}
	err = printOutput(s.Out, opts.Output, report, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tTYPE\tTEAM\tOWNER\tCLUSTER\tEXPIRES")
		for _, r := range report.Environments {
			clusters := strings.Join(r.Clusters, ",")
			if clusters == "" {
				clusters = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Type, r.Team, r.Owner, clusters, r.Expires)
		}
		return tw.Flush()
	})
	if err == nil && len(report.Broken) > 0 {
		err = errProblems
	}
	return err
}

// Broken lists the files the loader left out, each with its first error,
// in the order the loader found them.
func Broken(repo *load.Repository) []BrokenFile {
	out := []BrokenFile{}
	seen := map[string]bool{}
	for _, p := range repo.Problems {
		if p.Severity != schemas.SeverityError || seen[p.File] {
			continue
		}
		seen[p.File] = true
		out = append(out, BrokenFile{File: p.File, Line: p.Line, Problem: p.Message})
	}
	return out
}

// Rows resolves each loaded request to a table row.
func Rows(repo *load.Repository) []EnvironmentRow {
	rows := make([]EnvironmentRow, 0, len(repo.Environments))
	for _, ef := range repo.Environments {
		spec := ef.Environment.Spec
		row := EnvironmentRow{Name: ef.Environment.Metadata.Name, Type: spec.Type, Team: spec.Team, Owner: spec.Owner, File: ef.Doc.File, Clusters: []string{}, Expires: "never"}
		if repo.Platform != nil {
			var tmpl *schemas.TemplateSpec
			if tf := repo.Templates[spec.Type]; tf != nil {
				tmpl = &tf.Template.Spec
			}
			if cs, err := schemas.Place(&repo.Platform.Platform.Spec, &spec, tmpl); err == nil {
				for _, c := range cs {
					row.Clusters = append(row.Clusters, c.Name)
				}
			}
		}
		if spec.Expires != "" {
			row.Expires = spec.Expires
			if e, err := schemas.ParseExpiry(spec.Expires); err == nil && e.At.IsZero() {
				row.Expires += " after merge"
			} else if err == nil {
				row.Expires = e.At.UTC().Format("2006-01-02 15:04 UTC")
			}
		}
		rows = append(rows, row)
	}
	return rows
}
