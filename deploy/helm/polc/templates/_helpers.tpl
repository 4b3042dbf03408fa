{{- define "polc.name" -}}{{ .Chart.Name }}{{- end -}}

{{- define "polc.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "polc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "polc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "polc.labels" -}}
{{ include "polc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "polc.postgresSecret" -}}
{{- .Values.postgres.existingSecret | default (printf "%s-postgres" (include "polc.fullname" .)) -}}
{{- end -}}

{{- define "polc.authSecret" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "polc.fullname" .)) -}}
{{- end -}}
