{{- define "library.name" -}}library{{- end -}}
