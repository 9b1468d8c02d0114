// Package harness starts the real components allot's tests run against:
// Kubernetes control planes (a real kube-apiserver and etcd, built from the
// Go module proxy by test/tools/build.sh and started through
// controller-runtime's envtest), a git smart-HTTP server and a git SSH
// server, a SCIM 2.0 server (scimmy) and an LDAP server (slapd), the real
// GitHub webhook payloads of @octokit/webhooks-examples, and a stand-in for
// the kubelet and controllers that marks workloads ready through their status
// subresource.
package harness
