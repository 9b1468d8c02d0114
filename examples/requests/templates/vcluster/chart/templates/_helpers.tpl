{{- define "vc.labels" -}}
app: vcluster
release: {{ .Release.Name }}
{{- end -}}
