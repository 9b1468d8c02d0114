// Package harness starts the real components allot's tests run against. For
// now that is the Kubernetes control plane: a real kube-apiserver and etcd,
// built from the Go module proxy by test/tools/build.sh and started through
// controller-runtime's envtest.
package harness
