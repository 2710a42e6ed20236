{{- define "sigil.labels" -}}
app.kubernetes.io/name: sigil
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "sigil.commonEnv" -}}
- name: SIGIL_NATS_URL
  value: {{ .Values.nats.url | quote }}
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
