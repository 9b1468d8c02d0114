package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/entra"
	"github.com/allot-dev/allot/reconciler/idp/keycloak"
	"github.com/allot-dev/allot/reconciler/idp/ldap"
	"github.com/allot-dev/allot/reconciler/idp/okta"
	"github.com/allot-dev/allot/reconciler/idp/scim"
	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/schemas"
)

// maxCredentialBytes bounds a credential file.
const maxCredentialBytes = 64 << 10

// groupSyncerFactory builds the IdP syncer from allot.yaml's idp section,
// keeping the record of added members in allot-system of the state cluster.
func groupSyncerFactory(r *reconciler.Reconciler, o ReconcileOptions, log *slog.Logger) func(*schemas.IdentityProvider) (reconciler.GroupSyncer, error) {
	return func(spec *schemas.IdentityProvider) (reconciler.GroupSyncer, error) {
		if spec == nil || spec.Provider == "none" {
			return nil, nil
		}
		p, err := newProvider(spec)
		if err != nil {
			return nil, err
		}
		state, err := stateClient(r, spec)
		if err != nil {
			return nil, err
		}
		prefix := spec.GroupPrefix
		if prefix == "" {
			prefix = renderer.DefaultGroupPrefix
		}
		share := 0.0
		if spec.MaxRemoveShare != nil {
			share = *spec.MaxRemoveShare
		}
		return &idp.Syncer{
			Provider: p, Prefix: prefix, State: &idp.ConfigMapState{Client: state},
			MaxRemoveShare: share, AllowMassRemoval: o.AllowMassDelete, Log: log,
		}, nil
	}
}

var _ reconciler.GroupPlanner = (*idp.Syncer)(nil)

// stateClient connects to the cluster that keeps the IdP record.
func stateClient(r *reconciler.Reconciler, spec *schemas.IdentityProvider) (client.Client, error) {
	name := spec.StateCluster
	var clusters []schemas.Cluster
	if p := r.Platform(); p != nil {
		clusters = p.Clusters
	}
	for _, c := range clusters {
		if name == "" || c.Name == name {
			cl, err := r.ClusterFor(context.Background(), c)
			if err != nil {
				return nil, fmt.Errorf("idp state cluster %s: %w", c.Name, err)
			}
			return cl.Client, nil
		}
	}
	return nil, fmt.Errorf("idp.stateCluster %q is not a cluster of allot.yaml", name)
}

func newProvider(spec *schemas.IdentityProvider) (idp.Provider, error) {
	httpClient := &http.Client{Timeout: 30 * time.Second}
	switch spec.Provider {
	case "scim":
		token, err := credential("idp.token", spec.Token)
		if err != nil {
			return nil, err
		}
		return scim.New(spec.URL, token, httpClient)
	case "ldap":
		password, err := credential("idp.password", spec.Password)
		if err != nil {
			return nil, err
		}
		return ldap.New(ldap.Options{
			URL: spec.URL, StartTLS: spec.StartTLS, BindDN: spec.BindDN, BindPassword: password,
			UsersBaseDN: cmp.Or(spec.UsersBaseDN, spec.BaseDN), GroupsBaseDN: cmp.Or(spec.GroupsBaseDN, spec.BaseDN),
		})
	case "keycloak":
		secret, err := credential("idp.clientSecret", spec.ClientSecret)
		if err != nil {
			return nil, err
		}
		return keycloak.New(keycloak.Options{URL: spec.URL, Realm: spec.Realm, ClientID: spec.ClientID, ClientSecret: secret, HTTPClient: httpClient})
	case "okta":
		token, err := credential("idp.token", spec.Token)
		if err != nil {
			return nil, err
		}
		return okta.New(okta.Options{URL: spec.URL, Token: token, HTTPClient: httpClient})
	case "entra":
		secret, err := credential("idp.clientSecret", spec.ClientSecret)
		if err != nil {
			return nil, err
		}
		return entra.New(entra.Options{Tenant: spec.TenantID, ClientID: spec.ClientID, ClientSecret: secret, HTTPClient: httpClient})
	}
	return nil, fmt.Errorf("unknown idp provider %q", spec.Provider)
}

// credential reads a secret from the environment variable or file allot.yaml
// names; its value never appears in an error.
func credential(field string, src *schemas.SecretSource) (string, error) {
	switch {
	case src == nil:
		return "", fmt.Errorf("%s is not set in allot.yaml", field)
	case src.Env != "":
		v, ok := os.LookupEnv(src.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set", field, src.Env)
		}
		return v, nil
	default:
		f, err := os.Open(src.File)
		if err != nil {
			return "", fmt.Errorf("%s: %w", field, err)
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxCredentialBytes+1))
		if err != nil {
			return "", fmt.Errorf("%s: %w", field, err)
		}
		if len(data) > maxCredentialBytes {
			return "", errors.New(field + ": the credential file is too large")
		}
		return strings.TrimSpace(string(data)), nil
	}
}
