{{/* Chart name, or nameOverride. */}}
{{- define "ingest-worker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of every object: fullnameOverride, else the release name when it already contains the chart
name (`helm install ingest-worker .`), else release-chart. Truncated to 63 characters (DNS label).
*/}}
{{- define "ingest-worker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The admin Service: fullname with -admin, kept within 63 characters. */}}
{{- define "ingest-worker.adminName" -}}
{{- printf "%s-admin" (include "ingest-worker.fullname" . | trunc 57 | trimSuffix "-") }}
{{- end }}

{{- define "ingest-worker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the life of a release (a Deployment's selector cannot change). */}}
{{- define "ingest-worker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ingest-worker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ingest-worker.labels" -}}
helm.sh/chart: {{ include "ingest-worker.chart" . }}
{{ include "ingest-worker.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ingest-worker
{{- end }}

{{- define "ingest-worker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ingest-worker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the pods read tokens from: an existing one, the chart's own, or none (""). */}}
{{- define "ingest-worker.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if .Values.secrets.create }}
{{- include "ingest-worker.fullname" . }}
{{- end }}
{{- end }}

{{/* The ConfigMap holding the routes file: an existing one or the chart's own. */}}
{{- define "ingest-worker.routesConfigMap" -}}
{{- default (printf "%s-routes" (include "ingest-worker.fullname" .)) .Values.routes.existingConfigMap }}
{{- end }}

{{- define "ingest-worker.routesEnabled" -}}
{{- if or .Values.routes.existingConfigMap .Values.routes.file }}true{{ end }}
{{- end }}

{{/* Is KEDA or the HPA in charge of the replica count? */}}
{{- define "ingest-worker.autoscaled" -}}
{{- if or .Values.keda.enabled .Values.hpa.enabled }}true{{ end }}
{{- end }}

{{/*
Checks values that would otherwise give a pod that misbehaves only under load or at shutdown.
Included by the Deployment, so `helm template`/`install` fail with the message.
*/}}
{{- define "ingest-worker.validate" -}}
{{- range $name, $value := .Values.env }}
{{- if regexMatch "(_TOKEN|_CLIENT_SECRET|^NOTIFY_SECRET)$" $name }}
{{- fail (printf "env.%s is a secret: put it in the Secret (secrets.existingSecret, or secrets.create with secrets.values), not in the ConfigMap" $name) }}
{{- end }}
{{- if has $name (list "HTTP_PORT" "ADMIN_PORT" "ADMIN_HOST" "SHUTDOWN_TIMEOUT_MS" "SHUTDOWN_DELAY_MS" "ROUTES_FILE") }}
{{- fail (printf "env.%s is set by the chart: use the matching value (http.port, admin.port, shutdown.*, routes.*)" $name) }}
{{- end }}
{{- end }}
{{- if and .Values.keda.enabled .Values.hpa.enabled }}
{{- fail "keda.enabled and hpa.enabled: choose one (KEDA creates its own HPA)" }}
{{- end }}
{{- if and .Values.keda.enabled (not (or .Values.keda.sqs.enabled .Values.keda.prometheus.enabled)) }}
{{- fail "keda.enabled needs a trigger: keda.sqs.enabled and/or keda.prometheus.enabled" }}
{{- end }}
{{- if and .Values.keda.sqs.enabled .Values.keda.enabled (not (or .Values.keda.sqs.queueURL .Values.env.SQS_QUEUE_URL)) }}
{{- fail "keda.sqs needs keda.sqs.queueURL or env.SQS_QUEUE_URL" }}
{{- end }}
{{- if and .Values.secrets.create .Values.secrets.existingSecret }}
{{- fail "secrets.create and secrets.existingSecret: choose one" }}
{{- end }}
{{- if and .Values.admin.enabled (eq (int .Values.admin.port) (int .Values.http.port)) }}
{{- fail "admin.port must differ from http.port" }}
{{- end }}
{{- /* SIGKILL comes terminationGracePeriodSeconds after the preStop hook starts: the hook, the
  delay, the drain and the worker's 5 s bound on closing connections must all fit. */}}
{{- $needMs := add (mul (int .Values.shutdown.preStopSleepSeconds) 1000) (int .Values.shutdown.delayMs) (int .Values.shutdown.timeoutMs) 5000 }}
{{- if le (mul (int .Values.terminationGracePeriodSeconds) 1000) $needMs }}
{{- fail (printf "terminationGracePeriodSeconds (%d s) must exceed shutdown.preStopSleepSeconds + (shutdown.delayMs + shutdown.timeoutMs) / 1000 + 5 s of closing = %d ms" (int .Values.terminationGracePeriodSeconds) $needMs) }}
{{- end }}
{{- end }}
