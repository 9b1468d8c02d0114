package schemas

import "fmt"

// Rule names the check a Problem comes from, so that tools and tests can tell
// problems apart without parsing messages.
type Rule string

// The rules allot validate checks.
const (
	RuleFile     Rule = "file"     // the file cannot be read safely: size, encoding, documents, aliases, links
	RuleSyntax   Rule = "syntax"   // the file is not valid YAML
	RuleSchema   Rule = "schema"   // the document does not match its JSON Schema
	RuleName     Rule = "name"     // a name is not a DNS-1123 label or does not match its file
	RuleUnique   Rule = "unique"   // two objects share a name
	RuleType     Rule = "type"     // unknown environment type
	RuleSize     Rule = "size"     // unknown size preset
	RuleCluster  Rule = "cluster"  // the cluster or placement does not resolve
	RuleOwner    Rule = "owner"    // owner or member e-mail not allowed
	RuleExpires  Rule = "expires"  // expiry missing, in the past, or beyond the policy's maximum TTL
	RuleSleep    Rule = "sleep"    // a sleep schedule has a bad time zone or expression, or never wakes
	RuleLimit    Rule = "limit"    // the owner has too many environments
	RuleBudget   Rule = "budget"   // the team's environments would reserve more than its budget
	RuleAddon    Rule = "addon"    // add-on source not allowed or ambiguous
	RulePath     Rule = "path"     // add-on path leaves the repository or does not exist
	RuleValues   Rule = "values"   // spec.values does not match the template's parameters
	RulePlatform Rule = "platform" // allot.yaml is inconsistent
	RuleTemplate Rule = "template" // an EnvironmentTemplate is inconsistent
	RuleRender   Rule = "render"   // the request does not render: a chart, kustomization or tenancy rule fails
)

// Severity says whether a Problem fails validation.
type Severity string

// Severities of a Problem.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Position is a place in a file of the requests repository. Line and Column
// count from 1; zero means the whole file.
type Position struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// String formats the position as file:line, the form editors and CI logs link.
func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Problem is one thing wrong with a requests repository, at a place in a file.
type Problem struct {
	Position
	Rule     Rule     `json:"rule"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// Errorf returns an error-severity Problem at pos.
func Errorf(pos Position, rule Rule, format string, args ...any) Problem {
	return Problem{Position: pos, Rule: rule, Severity: SeverityError, Message: fmt.Sprintf(format, args...)}
}

// String formats the problem as "file:line: message".
func (p Problem) String() string {
	return p.Position.String() + ": " + p.Message
}
