package app

import (
	"encoding/json"
	"fmt"
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
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "table", "output format: table or json")
	return cmd
}

// List prints the repository's environments with the clusters they resolve
// to. Files that do not load are left out; `allot validate` reports them.
func List(s Streams, opts ListOptions) error {
	if opts.Output != "table" && opts.Output != OutputJSON {
		return usageError(fmt.Errorf("unknown output format %q: want table or json", opts.Output))
	}
	repo, err := load.Load(opts.Repo, load.Options{Builtin: environments.Templates()})
	if err != nil {
		return usageError(err)
	}
	rows := Rows(repo)
	if opts.Output == OutputJSON {
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tTEAM\tOWNER\tCLUSTER\tEXPIRES")
	for _, r := range rows {
		clusters := strings.Join(r.Clusters, ",")
		if clusters == "" {
			clusters = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Type, r.Team, r.Owner, clusters, r.Expires)
	}
	return tw.Flush()
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
