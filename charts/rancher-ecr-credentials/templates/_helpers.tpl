{{/* The release's full name, at most 63 characters (a DNS label). */}}
{{- define "rec.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rec.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rec.labels" -}}
{{ include "rec.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "rec.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rec.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
One TOML value from a values entry: strings, numbers, booleans and lists of
them are written as JSON, which TOML reads the same; a map becomes an inline
table ({ "key" = value, ... }).
*/}}
{{- define "rec.tomlValue" -}}
{{- if kindIs "map" . -}}
{{- $pairs := list -}}
{{- range $key, $value := . -}}
{{- $pairs = append $pairs (printf "%s = %s" (toJson $key) (toJson $value)) -}}
{{- end -}}
{{- printf "{ %s }" (join ", " $pairs) -}}
{{- else -}}
{{- toJson . -}}
{{- end -}}
{{- end -}}

{{/* The keys of one [[source]] or [[target]] table, one per line. */}}
{{- define "rec.tomlTable" -}}
{{- range $key, $value := . }}
{{ $key }} = {{ include "rec.tomlValue" $value }}
{{- end }}
{{- end -}}

{{/* The configuration file: `config` as given, or rendered from the values. */}}
{{- define "rec.config" -}}
{{- if .Values.config -}}
{{ .Values.config }}
{{- else -}}
# Rendered by the rancher-ecr-credentials chart from its values.
{{- if not .Values.sources }}
{{- fail "sources: give at least one AWS source (name and region)" }}
{{- end }}
{{- range .Values.sources }}
{{- if not .region }}
{{- fail (printf "sources: %s needs a region, e.g. --set sources[0].region=eu-west-1" (.name | default "a source")) }}
{{- end }}

[[source]]
{{- include "rec.tomlTable" . }}
{{- end }}
{{- range .Values.targets }}

[[target]]
{{- include "rec.tomlTable" . }}
{{- end }}
{{- if .Values.leaderElection.enabled }}

[leader_election]
namespace = {{ toJson .Release.Namespace }}
lease_name = {{ toJson .Values.leaderElection.leaseName }}
lease_duration = {{ toJson .Values.leaderElection.leaseDuration }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "rec.configSecretName" -}}
{{- default (printf "%s-config" (include "rec.fullname" .)) .Values.existingConfigSecret -}}
{{- end -}}
