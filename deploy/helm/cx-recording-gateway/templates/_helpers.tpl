{{- define "gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "gateway.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "gateway.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The Secret holding one secretEnv entry, or "" when none is configured. */}}
{{- define "gateway.secretName" -}}
{{- $entry := index .root.Values.secretEnv .var | default dict -}}
{{- $entry.name | default .root.Values.existingSecret | default "" -}}
{{- end -}}

{{/*
Refuses configurations that cannot work, before anything is applied:
- several replicas without the shared state store: each would keep its own cursor and ledger in its own
  STATE_DIR and run the push job itself, so CX would receive every link once per replica;
- SHUTDOWN_TIMEOUT_MS in `config`: it comes from shutdown.timeoutSeconds, which also sizes the grace period.
*/}}
{{- define "gateway.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (eq (include "gateway.secretName" (dict "root" . "var" "STATE_DATABASE_URL")) "") -}}
{{- fail "replicaCount > 1 requires STATE_DATABASE_URL (secretEnv.STATE_DATABASE_URL or existingSecret with key state-database-url): without the shared PostgreSQL state store every replica keeps its own push cursor and ledger and runs the push job itself, pushing each recording link to CX once per replica" -}}
{{- end -}}
{{- if hasKey .Values.config "SHUTDOWN_TIMEOUT_MS" -}}
{{- fail "set shutdown.timeoutSeconds, not config.SHUTDOWN_TIMEOUT_MS: the chart derives terminationGracePeriodSeconds from it" -}}
{{- end -}}
{{- if hasKey .Values.config "STATE_DIR" -}}
{{- fail "config.STATE_DIR is set by the chart (the mounted state volume)" -}}
{{- end -}}
{{- end -}}

{{/* Seconds Kubernetes waits after SIGTERM: preStop + the server's shutdown timeout + its 10 s hard-exit margin + 5 s. */}}
{{- define "gateway.terminationGracePeriodSeconds" -}}
{{- add (int .Values.shutdown.preStopSleepSeconds) (int .Values.shutdown.timeoutSeconds) 10 5 -}}
{{- end -}}
