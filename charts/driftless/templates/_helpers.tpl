{{- /* part-of "flux": the flux CLI (check, version, logs) finds the controllers by it. */ -}}
{{- define "driftless.labels" -}}
app.kubernetes.io/part-of: flux
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "driftless.image" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $digest := (index $root.Values.controllers $name).digest -}}
{{ $root.Values.image.registry }}/{{ $root.Values.image.repositoryPrefix }}{{ $name }}{{ if $digest }}@{{ $digest }}{{ else }}:{{ $root.Values.image.tag | default $root.Chart.AppVersion }}{{ end }}
{{- end -}}
