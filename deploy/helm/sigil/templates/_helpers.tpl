{{- define "sigil.labels" -}}
app.kubernetes.io/name: sigil
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* <registry>/<name>:<tag>; no registry = the bare image name, tag defaults to appVersion. */}}
{{- define "sigil.image" -}}
{{- $name := index .root.Values.image.names .service -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .root.Values.image.registry -}}
{{ printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) $name $tag }}
{{- else -}}
{{ printf "%s:%s" $name $tag }}
{{- end -}}
{{- end -}}

{{- define "sigil.natsUrl" -}}
{{- .Values.nats.url | default (printf "nats://%s-nats:4222" .Release.Name) -}}
{{- end -}}

{{- define "sigil.commonEnv" -}}
- name: SIGIL_NATS_URL
  value: {{ include "sigil.natsUrl" . | quote }}
- name: SIGIL_JS_REPLICAS
  value: {{ .Values.jetstreamReplicas | quote }}
{{- if .Values.otel.endpoint }}
- name: OTEL_TRACES_EXPORTER
  value: otlp
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.otel.endpoint | quote }}
{{- end }}
{{- end -}}

{{- define "sigil.natsUser" -}}
- name: SIGIL_NATS_USER
  value: {{ .user }}
- name: SIGIL_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.existingSecrets.natsUsers }}
      key: {{ .user }}
{{- end -}}

{{/* Bus services: the Prometheus endpoint doubles as the HTTP probe target (no NATS, no new process). */}}
{{- define "sigil.metricsEnv" -}}
- name: SIGIL_METRICS_PORT
  value: {{ .Values.metricsPort | quote }}
- name: SIGIL_METRICS_HOST
  value: "0.0.0.0"
{{- end -}}

{{- define "sigil.busProbes" -}}
ports:
  - {name: metrics, containerPort: {{ .Values.metricsPort }}}
startupProbe:
  httpGet: {path: /metrics, port: metrics}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /metrics, port: metrics}
  periodSeconds: 15
  failureThreshold: 4
readinessProbe:
  httpGet: {path: /metrics, port: metrics}
  periodSeconds: 10
{{- end -}}

{{/* Init container: the service starts only once the setup job has made its streams. */}}
{{- define "sigil.waitForStreams" -}}
initContainers:
  - name: wait-for-streams
    image: {{ include "sigil.image" (dict "root" .root "service" .service) | quote }}
    imagePullPolicy: {{ .root.Values.image.pullPolicy }}
    command: ["python", "-m", "sigil_shared.wait_streams", {{ .service | quote }}, {{ .root.Values.setup.waitSeconds | quote }}]
    env:
      {{- include "sigil.commonEnv" .root | nindent 6 }}
      {{- include "sigil.natsUser" (dict "root" .root "user" .service) | nindent 6 }}
{{- end -}}
