// Package harness starts the real components allot's tests run against:
// Kubernetes control planes (a real kube-apiserver and etcd, built from the
// Go module proxy by test/tools/build.sh and started through
// controller-runtime's envtest), a git smart-HTTP server and a git SSH
// server, and a stand-in for the kubelet and controllers that marks
// workloads ready through their status subresource.
package harness
