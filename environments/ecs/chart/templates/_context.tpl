{{/* allot.ecs.cidr is the VPC CIDR: the value, or one derived from the name. */}}
{{- define "allot.ecs.cidr" -}}
{{- .Values.allot.values.cidr | default (printf "10.%d.0.0/16" (add 16 (mod (adler32sum .Values.allot.name) 200))) -}}
{{- end -}}
{{/* allot.ecs.subnet returns the n-th /24 of the VPC. */}}
{{- define "allot.ecs.subnet" -}}
{{- $parts := splitList "." (include "allot.ecs.cidr" .root) -}}
{{- printf "%s.%s.%d.0/24" (index $parts 0) (index $parts 1) .n -}}
{{- end -}}
{{- define "allot.ecs.region" -}}
{{- .Values.allot.values.region | default .Values.allot.options.region | default "eu-west-1" -}}
{{- end -}}
