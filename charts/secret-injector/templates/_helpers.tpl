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

{{/*
Labels on an object of one component: (list . "<component>"), or
(list . "<component>" extra) with a map of further labels. The chart's own
labels come first; commonLabels and extra follow as one map (extra wins a
key both set), so no key is written twice. The schema keeps the chart's
own keys out of commonLabels.
*/}}
{{- define "secret-injector.componentLabels" -}}
{{- $ctx := index . 0 -}}
{{- $extra := dict -}}
{{- if gt (len .) 2 }}{{ $extra = index . 2 | default dict }}{{ end -}}
helm.sh/chart: {{ include "secret-injector.chart" $ctx }}
{{ include "secret-injector.instanceLabels" $ctx }}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
app.kubernetes.io/part-of: secret-injector
{{- with merge (dict) $extra $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels of the webhook pods: the selector's, then commonLabels and
podLabels as one map (podLabels wins a key both set).
*/}}
{{- define "secret-injector.podLabels" -}}
{{ include "secret-injector.selectorLabels" . }}
{{- with merge (dict) .Values.podLabels .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
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

{{/*
The part of the webhook image after the repository: "@<digest>" when
image.digest is set (the tag is then ignored), else ":<tag>", the tag
defaulting to appVersion.
*/}}
{{- define "secret-injector.imageRef" -}}
{{- if .Values.image.digest }}
{{- printf "@%s" .Values.image.digest }}
{{- else }}
{{- printf ":%s" (include "secret-injector.str" (default .Chart.AppVersion .Values.image.tag)) }}
{{- end }}
{{- end }}

{{/* The webhook image: repository@digest or repository:tag. */}}
{{- define "secret-injector.image" -}}
{{- printf "%s%s" .Values.image.repository (include "secret-injector.imageRef" .) }}
{{- end }}

{{/*
The agent image injected into pods: its own repository, digest or tag
where set, else the webhook's (a digest of its own wins over a tag of its
own, which wins over the webhook's digest or tag).
*/}}
{{- define "secret-injector.agentImage" -}}
{{- $img := .Values.defaults.agent.image }}
{{- $repo := default .Values.image.repository $img.repository }}
{{- if $img.digest }}
{{- printf "%s@%s" $repo $img.digest }}
{{- else if $img.tag }}
{{- printf "%s:%s" $repo (include "secret-injector.str" $img.tag) }}
{{- else }}
{{- printf "%s%s" $repo (include "secret-injector.imageRef" .) }}
{{- end }}
{{- end }}

{{/*
The webhook's name in the MutatingWebhookConfiguration, which the API
server's admission metrics carry as their name label (webhook.WebhookName).
*/}}
{{- define "secret-injector.webhookName" -}}
pods.secrets.tradepulse.io
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
