package app

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/allot-dev/allot/schemas"
)

// NewSchemaCommand builds `allot schema KIND`, which prints an embedded JSON
// Schema for editors.
func NewSchemaCommand(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "schema platform|environment|environmenttemplate",
		Short: "Print the JSON Schema of a kind, for editors",
		Example: `  allot schema environment > .schemas/environment.schema.json
  # then, on the first line of a request:
  # yaml-language-server: $schema=../../.schemas/environment.schema.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(fmt.Errorf("%s takes one kind: platform, environment or environmenttemplate", cmd.CommandPath()))
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			for _, k := range schemas.Kinds() {
				if strings.EqualFold(string(k), args[0]) {
					data, err := schemas.File(k)
					if err != nil {
						return err
					}
					_, err = s.Out.Write(data)
					return err
				}
			}
			return usageError(fmt.Errorf("unknown kind %q: want platform, environment or environmenttemplate", args[0]))
		},
	}
}
