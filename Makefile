# allot — make targets. `make demo` and `make test` are the two commands a new
# machine needs; everything they depend on is built here.

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X github.com/allot-dev/allot/cmd/allot/app.version=$(VERSION) \
             -X github.com/allot-dev/allot/cmd/allot/app.commit=$(COMMIT)
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := .cache/tools/golangci-lint-$(GOLANGCI_LINT_VERSION)

.PHONY: build test demo lint bench fault deps controlplane vcluster fmt vet clean check-upstream

# The release build, as examples/deploy/Dockerfile's: -trimpath and -s -w
# leave out local paths, the symbol table and DWARF (stack traces keep
# their functions and lines). The tag leaves out kustomize's loader of Go
# plugins, which allot never runs (its kustomizations have plugins
# disabled) and whose import of package plugin makes the linker keep every
# exported method of every package: 17 MB of text in a cgo build.
# test/bench builds allot with the same flags.
BUILDFLAGS := -trimpath -tags kustomize_disable_go_plugin_support

## build: compile bin/allot with its version and commit
build:
	$(GO) build $(BUILDFLAGS) -ldflags "-s -w $(LDFLAGS)" -o $(BIN)/allot ./cmd/allot

## deps: install (with apt-get, once) the Debian packages the tests need: slapd, ldap-utils, Node.js, gcc, git
deps:
	test/tools/system-deps.sh

## controlplane: build (once) the kube-apiserver, etcd and kubectl the tests run against
controlplane:
	test/tools/build.sh >/dev/null

## vcluster: download (once) the vcluster release the built-in template pins, its real chart and config check
vcluster:
	test/tools/vcluster.sh >/dev/null

SCIM_SERVER := test/harness/scimserver

# The real SCIM server the scim backend's tests run against (scimmy, npm),
# installed once from its package-lock.json.
$(SCIM_SERVER)/node_modules: $(SCIM_SERVER)/package-lock.json
	npm ci --prefix $(SCIM_SERVER) --no-audit --no-fund
	touch $@

WEBHOOK_EXAMPLES := test/harness/webhookexamples

# Real GitHub webhook payloads (@octokit/webhooks-examples, npm).
$(WEBHOOK_EXAMPLES)/node_modules: $(WEBHOOK_EXAMPLES)/package-lock.json
	npm ci --prefix $(WEBHOOK_EXAMPLES) --no-audit --no-fund
	touch $@

GITHUB_FIXTURES := test/harness/githubfixtures

# Recorded real GitHub API exchanges (@octokit/fixtures, npm).
$(GITHUB_FIXTURES)/node_modules: $(GITHUB_FIXTURES)/package-lock.json
	npm ci --prefix $(GITHUB_FIXTURES) --no-audit --no-fund
	touch $@

## test: every test, including those against real control planes, git, LDAP and SCIM servers
test: deps controlplane vcluster $(SCIM_SERVER)/node_modules $(WEBHOOK_EXAMPLES)/node_modules $(GITHUB_FIXTURES)/node_modules
	KUBEBUILDER_ASSETS="$$(test/tools/build.sh)" $(GO) test -count=1 ./...

## check-upstream: check the project's cut-down CRDs against the AWS controllers' own (ALLOT_UPSTREAM_CRDS, or ../shared/fixtures beside the repository)
check-upstream: controlplane
	KUBEBUILDER_ASSETS="$$(test/tools/build.sh)" $(GO) test -count=1 -tags upstream -run 'Upstream' ./environments/

## demo: validate the example, list and render it, reconcile it onto local control planes, then take a pull request through allot serve
demo: deps build controlplane vcluster $(SCIM_SERVER)/node_modules $(WEBHOOK_EXAMPLES)/node_modules
	@$(GO) run ./test/demo -seed-charts .cache/demo-charts
	$(BIN)/allot validate --repo examples/requests --chart-cache .cache/demo-charts
	@echo
	$(BIN)/allot list --repo examples/requests
	@echo
	$(BIN)/allot render --repo examples/requests --chart-cache .cache/demo-charts checkout-dev
	KUBEBUILDER_ASSETS="$$(test/tools/build.sh)" $(GO) run ./test/demo

## bench: benchmarks, printing figures (render and validate speed, then the reconciler on a real apiserver)
bench: controlplane $(SCIM_SERVER)/node_modules $(WEBHOOK_EXAMPLES)/node_modules
	KUBEBUILDER_ASSETS="$$(test/tools/build.sh)" $(GO) test -run '^$$' -bench . -benchmem ./...
	KUBEBUILDER_ASSETS="$$(test/tools/build.sh)" $(GO) run ./test/bench -n 1000 -edits 50
	KUBEBUILDER_ASSETS="$$(test/tools/build.sh)" $(GO) run ./test/bench -scale 100,1000,5000

## fault: the full fault run: allot SIGKILLed mid-pass, mid-teardown and mid-fetch over 200 environments (make test runs a small one)
fault: controlplane
	KUBEBUILDER_ASSETS="$$(test/tools/build.sh)" ALLOT_FAULT_ENVS=200 ALLOT_FAULT_ROUNDS=30 $(GO) test -count=1 -timeout 60m -v -run 'TestKilledAnywhere' ./test/

## lint: golangci-lint at a pinned version
lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	mkdir -p .cache/tools
	GOBIN="$(CURDIR)/.cache/tools/gobin" $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv .cache/tools/gobin/golangci-lint $@

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
