{{/*
Names. Kubernetes object names (and label values) are limited to 63 characters because they must be valid
DNS-1123 labels: Services become DNS names, and a DNS label cannot exceed 63 bytes. Every name is
therefore truncated to 63 and a trailing "-" left by the cut is trimmed (a label must end alphanumeric).
Component names append "-<component>" to the full name, so the full name is cut short enough first that
the suffix always survives; otherwise two components could truncate to the same name.
*/}}
{{- define "kubeloop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped base name: "<release>-kubeloop" unless the release name already contains the chart name. */}}
{{- define "kubeloop.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>", with the full name shortened so the whole stays within 63 characters. */}}
{{- define "kubeloop.componentName" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $max := sub 62 (len $component) | int -}}
{{- printf "%s-%s" (include "kubeloop.fullname" $root | trunc $max | trimSuffix "-") $component -}}
{{- end -}}

{{- define "kubeloop.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object; the component label is added per object. */}}
{{- define "kubeloop.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ include "kubeloop.chart" $root }}
{{ include "kubeloop.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: kubeloop
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels: stable for the life of a release (selectors are immutable). */}}
{{- define "kubeloop.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "kubeloop.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* The platform image; a tag of the form "v@sha256:..." (as skaffold sets it) pins by digest. */}}
{{- define "kubeloop.image" -}}
{{- $img := index . 0 -}}
{{- $chart := index . 1 -}}
{{- $tag := default $chart.AppVersion $img.tag -}}
{{- if $img.digest -}}
{{- printf "%s:%s@%s" $img.repository $tag $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "kubeloop.platformImage" -}}
{{- include "kubeloop.image" (list .Values.image .Chart) -}}
{{- end -}}

{{/* The slim model-server images of the kserve and bentoml runtimes (serving/Dockerfile). */}}
{{- define "kubeloop.servingImage" -}}
{{- include "kubeloop.image" (list .Values.servingImage .Chart) -}}
{{- end -}}

{{- define "kubeloop.bentoImage" -}}
{{- include "kubeloop.image" (list .Values.bentoImage .Chart) -}}
{{- end -}}

{{- define "kubeloop.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{- define "kubeloop.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{- define "kubeloop.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Scheduling knobs shared by every workload: pass (list $root $componentValues). */}}
{{- define "kubeloop.scheduling" -}}
{{- $values := index . 1 -}}
{{- with $values.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* In-cluster addresses the components give each other. */}}
{{- define "kubeloop.mlflowUrl" -}}
{{- if .Values.mlflow.enabled -}}
{{- printf "http://%s.%s.svc:%d" (include "kubeloop.componentName" (list . "mlflow")) .Release.Namespace (int .Values.mlflow.service.port) -}}
{{- else -}}
{{- required "mlflow.externalTrackingUri is required when mlflow.enabled is false" .Values.mlflow.externalTrackingUri -}}
{{- end -}}
{{- end -}}

{{- define "kubeloop.collectorUrl" -}}
{{- printf "http://%s.%s.svc:%d" (include "kubeloop.componentName" (list . "collector")) .Release.Namespace (int .Values.collector.service.port) -}}
{{- end -}}

{{/* PostgreSQL: the bundled StatefulSet or the external database named in values. */}}
{{- define "kubeloop.db.host" -}}
{{- if .Values.postgresql.enabled -}}
{{- include "kubeloop.componentName" (list . "postgresql") -}}
{{- else -}}
{{- required "externalDatabase.host is required when postgresql.enabled is false" .Values.externalDatabase.host -}}
{{- end -}}
{{- end -}}

{{- define "kubeloop.db.secretName" -}}
{{- if .Values.postgresql.enabled -}}
{{- default (include "kubeloop.componentName" (list . "postgresql")) .Values.postgresql.auth.existingSecret -}}
{{- else -}}
{{- required "externalDatabase.existingSecret is required: the name of a Secret holding the database password" .Values.externalDatabase.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "kubeloop.db.secretKey" -}}
{{- ternary .Values.postgresql.auth.secretKey .Values.externalDatabase.secretKey .Values.postgresql.enabled -}}
{{- end -}}

{{- define "kubeloop.db.port" -}}
{{- ternary 5432 .Values.externalDatabase.port .Values.postgresql.enabled -}}
{{- end -}}

{{- define "kubeloop.db.name" -}}
{{- ternary .Values.postgresql.auth.database .Values.externalDatabase.database .Values.postgresql.enabled -}}
{{- end -}}

{{- define "kubeloop.db.user" -}}
{{- ternary .Values.postgresql.auth.username .Values.externalDatabase.username .Values.postgresql.enabled -}}
{{- end -}}

{{/* Volumes every Python container needs with a read-only root filesystem: a writable /tmp. */}}
{{- define "kubeloop.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{/* Checkov reads skips from annotations; the reasons live next to each use in the templates. */}}
{{- define "kubeloop.checkovDigestSkip" -}}
checkov.io/skip1: CKV_K8S_43=Images are pinned by digest at deploy time (skaffold sets image.tag to tag@digest); chart defaults cannot know a digest
{{- end -}}

{{- define "kubeloop.gatewayTokenSecret" -}}
{{- default (include "kubeloop.componentName" (list . "gateway-token")) .Values.gateway.adminToken.existingSecret -}}
{{- end -}}

{{/*
A random Secret value that survives upgrades: reuse what the cluster already holds (lookup returns
nothing under `helm template`, so offline renders get a fresh value). Pass (list $root secretName key length).
*/}}
{{- define "kubeloop.stableRandom" -}}
{{- $root := index . 0 -}}
{{- $existing := lookup "v1" "Secret" $root.Release.Namespace (index . 1) -}}
{{- if and $existing (hasKey $existing.data (index . 2)) -}}
{{- index $existing.data (index . 2) -}}
{{- else -}}
{{- randAlphaNum (index . 3) | b64enc -}}
{{- end -}}
{{- end -}}

{{/* The rollout ClusterRole: cluster-scoped, so the release namespace is in its name (two releases of the
same name in different namespaces keep distinct roles). */}}
{{- define "kubeloop.rolloutRoleName" -}}
{{- printf "%s-%s" (include "kubeloop.componentName" (list . "rollout")) .Release.Namespace | trunc 63 | trimSuffix "-" -}}
{{- end -}}
