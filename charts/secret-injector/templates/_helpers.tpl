{{/*
Names. Kubernetes caps most names (Services, labels) at 63 characters, so
every name is truncated, and a name with a suffix keeps room for it.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "secret-injector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name: fullnameOverride, else the release name when it
already contains the chart's name, else "<release>-<chart>".
*/}}
{{- define "secret-injector.fullname" -}}
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

{{/*
A name derived from the full name: (list . "-suffix"). The full name is cut
so that the whole stays within 63 characters and the suffix survives.
*/}}
{{- define "secret-injector.suffixed" -}}
{{- $ctx := index . 0 }}
{{- $suffix := index . 1 }}
{{- $base := include "secret-injector.fullname" $ctx | trunc (int (sub 63 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s%s" $base $suffix }}
{{- end }}

{{/* "<chart>-<version>" for the helm.sh/chart label. */}}
{{- define "secret-injector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object of the webhook. */}}
{{- define "secret-injector.labels" -}}
{{ include "secret-injector.componentLabels" (list . "webhook") }}
{{- end }}

{{/* Labels on an object of one component: (list . "<component>"). */}}
{{- define "secret-injector.componentLabels" -}}
{{- $ctx := index . 0 -}}
helm.sh/chart: {{ include "secret-injector.chart" $ctx }}
{{ include "secret-injector.instanceLabels" $ctx }}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
app.kubernetes.io/part-of: secret-injector
{{- end }}

{{/* Labels that name the release. */}}
{{- define "secret-injector.instanceLabels" -}}
app.kubernetes.io/name: {{ include "secret-injector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels that select the webhook's pods; immutable once installed. */}}
{{- define "secret-injector.selectorLabels" -}}
{{ include "secret-injector.instanceLabels" . }}
app.kubernetes.io/component: webhook
{{- end }}

{{/* The webhook's ServiceAccount. */}}
{{- define "secret-injector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "secret-injector.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret holding the serving certificate: written by the webhook
(self-managed), by cert-manager, or provided by the operator.
*/}}
{{- define "secret-injector.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" }}
{{- .Values.tls.secret.name }}
{{- else }}
{{- include "secret-injector.suffixed" (list . "-tls") }}
{{- end }}
{{- end }}

{{/*
A scalar value as a string: helm makes `--set x=2` an int64 and a YAML 2 a
float64, which printf "%s" or toString would spell "%!s(int64=2)" or
"2e+06"; a whole number is written without exponent.
*/}}
{{- define "secret-injector.str" -}}
{{- if kindIs "float64" . }}{{ printf "%.0f" . }}{{ else }}{{ toString . }}{{ end }}
{{- end }}

{{/* The webhook image, repository:tag; the tag defaults to appVersion. */}}
{{- define "secret-injector.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "secret-injector.str" (default .Chart.AppVersion .Values.image.tag)) }}
{{- end }}

{{/* The agent image injected into pods; defaults to the webhook's image. */}}
{{- define "secret-injector.agentImage" -}}
{{- $img := .Values.defaults.agent.image }}
{{- printf "%s:%s" (default .Values.image.repository $img.repository) (include "secret-injector.str" (default (default .Chart.AppVersion .Values.image.tag) $img.tag)) }}
{{- end }}

{{/* The in-cluster DNS names of the webhook Service, for the certificate. */}}
{{- define "secret-injector.dnsNames" -}}
{{- $svc := include "secret-injector.fullname" . }}
{{- $ns := .Release.Namespace -}}
- {{ $svc }}
- {{ $svc }}.{{ $ns }}
- {{ $svc }}.{{ $ns }}.svc
- {{ $svc }}.{{ $ns }}.svc.{{ .Values.clusterDomain }}
{{- end }}
