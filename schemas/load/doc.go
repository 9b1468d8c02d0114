// Package load reads a requests repository — allot.yaml, templates/ and
// environments/ — into typed objects that remember the file and line of every
// field, so that each problem found later can point at file:line.
//
// Everything it reads is treated as hostile: files have a size limit, must be
// UTF-8, hold exactly one YAML document, and may not use anchors or aliases;
// symbolic links and directories named like files are refused. A bad file is
// reported as a Problem and the rest of the repository is still read.
package load
