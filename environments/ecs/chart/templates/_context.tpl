{{/*
allot.ecs.config resolves the stack's settings once, as JSON, from the
request's values, the management cluster's labels and the template's options,
in that order:

  provider  values.provider, label allot.dev/ecs-provider, options.provider, "ack"
  network   values.network, label allot.dev/ecs-network, options.network, "public"
  region    values.region, options.region, "eu-west-1"

The provider says which controllers the management cluster runs; the network
says where the tasks run: "public" puts them in public subnets with a public
IP, "private" in private subnets behind a NAT gateway.
*/}}
{{- define "allot.ecs.config" -}}
{{- $a := .Values.allot -}}
{{- $v := $a.values | default dict -}}
{{- $o := $a.options | default dict -}}
{{- $l := $a.cluster.labels | default dict -}}
{{- $provider := $v.provider | default (index $l "allot.dev/ecs-provider") | default $o.provider | default "ack" -}}
{{- if not (has $provider (list "ack" "crossplane")) -}}
{{- fail (printf "provider %q is neither ack nor crossplane; fix values.provider, the cluster's allot.dev/ecs-provider label or the template's options.provider" $provider) -}}
{{- end -}}
{{- $network := $v.network | default (index $l "allot.dev/ecs-network") | default $o.network | default "public" -}}
{{- if not (has $network (list "public" "private")) -}}
{{- fail (printf "network %q is neither public nor private; fix values.network, the cluster's allot.dev/ecs-network label or the template's options.network" $network) -}}
{{- end -}}
{{- $cidr := $v.cidr | default (printf "10.%d.0.0/16" (add 16 (mod (adler32sum $a.name) 200))) -}}
{{- $parts := splitList "." $cidr -}}
{{- $prefix := printf "%s.%s" (index $parts 0) (index $parts 1) -}}
{{- $region := $v.region | default $o.region | default "eu-west-1" -}}
{{- $port := int ($v.containerPort | default 8080) -}}
{{- $desired := 1 -}}
{{- if hasKey $v "desiredCount" }}{{ $desired = int $v.desiredCount }}{{ end -}}
{{- $zones := list -}}
{{- range $i, $az := list "a" "b" -}}
{{- $zones = append $zones (dict "suffix" $az "zone" (printf "%s%s" $region $az) "public" (printf "%s.%d.0/24" $prefix $i) "private" (printf "%s.%d.0/24" $prefix (add $i 2))) -}}
{{- end -}}
{{- toJson (dict
  "name" $a.name
  "namespace" $a.namespace
  "owner" $a.owner
  "provider" $provider
  "network" $network
  "region" $region
  "cidr" $cidr
  "zones" $zones
  "port" $port
  "desiredCount" $desired
  "image" $v.image
  "ingressCIDRs" ($v.ingressCIDRs | default $o.ingressCIDRs | default (list $cidr))
  "registryCredentials" ($v.registryCredentials | default "")
  "executionRoleARN" ($o.executionRoleARN | default "")
  "cpu" (toString ($o.cpu | default "256"))
  "memory" (toString ($o.memory | default "512"))
  "providerConfig" ($o.providerConfig | default "")
) -}}
{{- end -}}

{{/* allot.ecs.taskSubnets lists the subnets the tasks run in. */}}
{{- define "allot.ecs.taskSubnets" -}}
{{- $c := . -}}
{{- $out := list -}}
{{- range $c.zones }}{{ $out = append $out (printf "%s-%s-%s" $c.name $c.network .suffix) }}{{ end -}}
{{- toJson $out -}}
{{- end -}}
