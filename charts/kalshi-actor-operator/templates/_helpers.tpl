{{- define "kao.name" -}}kalshi-actor-operator{{- end -}}

{{- define "kao.fullname" -}}
{{- if contains "kalshi-actor-operator" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-kalshi-actor-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kao.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ include "kao.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "kao.selector" -}}
app.kubernetes.io/name: {{ include "kao.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kao.serviceAccount" -}}
{{- default (include "kao.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The rules the operator needs, and no more (see operator/README.md). */}}
{{- define "kao.rules" -}}
- apiGroups: [trading.kalshiflow.io]
  resources: [kalshiactors]
  verbs: [get, list, watch, patch]
- apiGroups: [trading.kalshiflow.io]
  resources: [kalshiactors/status]
  verbs: [get, patch]
- apiGroups: [trading.kalshiflow.io]
  resources: [kalshiactors/finalizers]
  verbs: [update]  # the children's blockOwnerDeletion, where OwnerReferencesPermissionEnforcement is on (OpenShift)
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]  # read-only: why an actor's pod is down (its container states)
- apiGroups: [""]
  resources: [configmaps, services]
  verbs: [get, create, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, patch]  # patch: add the viewer token to a Secret an earlier version made (never rewritten)
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, create, patch]
{{- if .Values.networkPolicy.enabled }}
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, create, patch]
{{- end }}
- apiGroups: [monitoring.coreos.com]
  resources: [podmonitors]
  verbs: [get, create, patch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [get, list, watch]  # the actor pods' Events (image pulls, scheduling, mounts)
{{- end -}}
