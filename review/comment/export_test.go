package comment

// What the tests in package comment_test check besides the API. They are
// outside the package so that they can read renderings with
// review.ParseCommands, and package review imports this one.
const (
	Footer            = commentFooter
	CheckSummaryLimit = checkSummaryLimit
	MaxName           = maxName
)

// ReportTitle is reportTitle.
var ReportTitle = reportTitle
