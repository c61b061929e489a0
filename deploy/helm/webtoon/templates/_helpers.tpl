{{/*
Names, labels and the component table shared by every template.
*/}}

{{- define "webtoon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release name (the chart is the whole application, so the chart's
name is not repeated), short enough that <fullname>-purchase is a DNS
label. */}}
{{- define "webtoon.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "webtoon.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webtoon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "webtoon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "webtoon.labels" -}}
{{ include "webtoon.selectorLabels" . }}
app.kubernetes.io/part-of: webtoon
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "webtoon.chart" . }}
{{- end -}}

{{/* Labels of one component: (dict "root" $ "c" "pointer"). */}}
{{- define "webtoon.componentSelectorLabels" -}}
{{ include "webtoon.selectorLabels" .root }}
app.kubernetes.io/component: {{ .c }}
{{- end -}}

{{- define "webtoon.componentLabels" -}}
{{ include "webtoon.labels" .root }}
app.kubernetes.io/component: {{ .c }}
{{- end -}}

{{- define "webtoon.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "webtoon.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Each component's port: the binary's defaults (docs/CONFIG.md). */}}
{{- define "webtoon.ports" -}}
auth: 8089
pointer: 8082
payment: 8083
history: 8084
webtoon: 8085
purchase: 8086
web: 8087
gateway: 8088
{{- end -}}

{{/* The components this release runs, in start order, as a JSON list. */}}
{{- define "webtoon.components" -}}
{{- $list := list -}}
{{- if .Values.auth.builtin.enabled -}}
{{- $list = append $list "auth" -}}
{{- end -}}
{{- $list = concat $list (list "pointer" "payment" "history" "webtoon" "purchase" "web") -}}
{{- if .Values.gateway.enabled -}}
{{- $list = append $list "gateway" -}}
{{- end -}}
{{- toJson $list -}}
{{- end -}}

{{/* The five services: what the gateway (or the mesh) routes to, besides web. */}}
{{- define "webtoon.services" -}}
{{- toJson (list "pointer" "payment" "history" "webtoon" "purchase") -}}
{{- end -}}

{{/* The components that open the store (WEBTOON_STORE_URL). */}}
{{- define "webtoon.usesStore" -}}
{{- if has . (list "auth" "pointer" "payment" "history" "webtoon" "purchase") -}}true{{- end -}}
{{- end -}}

{{- define "webtoon.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The built-in issuer's URL: its Service, the `iss` of its tokens. */}}
{{- define "webtoon.builtinIssuerUrl" -}}
{{- printf "http://%s-auth:%d" (include "webtoon.fullname" .) 8089 -}}
{{- end -}}

{{/* WEBTOON_DRAIN_TIMEOUT_MS as the processes will read it. */}}
{{- define "webtoon.drainTimeoutMs" -}}
{{- default "10000" (get .Values.config "DRAIN_TIMEOUT_MS") -}}
{{- end -}}

{{/* The grace period: long enough for the preStop delay, the drain and a
margin, so no process is killed while it finishes its work. */}}
{{- define "webtoon.minGracePeriod" -}}
{{- $drain := include "webtoon.drainTimeoutMs" . | int -}}
{{- add (int .Values.preStopDelay) (div (add $drain 999) 1000) 5 -}}
{{- end -}}

{{- define "webtoon.gracePeriod" -}}
{{- $min := include "webtoon.minGracePeriod" . | int -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- $min -}}
{{- else if lt (int .Values.terminationGracePeriodSeconds) $min -}}
{{- fail (printf "terminationGracePeriodSeconds must be at least %d (preStopDelay + DRAIN_TIMEOUT_MS + 5 s)" $min) -}}
{{- else -}}
{{- .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* Refuses contradictory values early, with a message that says what to change. */}}
{{- define "webtoon.validate" -}}
{{- if and .Values.auth.builtin.enabled .Values.auth.issuer -}}
{{- fail "auth.issuer names an external issuer: set auth.builtin.enabled=false (the built-in issuer runs only without one)" -}}
{{- end -}}
{{- if not (or .Values.auth.builtin.enabled .Values.auth.issuer) -}}
{{- fail "no issuer: set auth.issuer (e.g. a Keycloak realm) or auth.builtin.enabled=true" -}}
{{- end -}}
{{- if not .Values.engines.kafka.brokers -}}
{{- fail "engines.kafka.brokers is required: pods cannot share the embedded event log" -}}
{{- end -}}
{{- if not (or .Values.engines.postgres.url .Values.engines.postgres.existingSecret) -}}
{{- fail "engines.postgres.url or engines.postgres.existingSecret is required: a service's state on an emptyDir would not survive its pod" -}}
{{- end -}}
{{- $computed := list "DATA_DIR" "LISTEN_ADDR" "PORT" "UPSTREAM_HOST" "REPLICAS" "DRAIN_DELAY_MS" "KAFKA_BROKERS" "STORE_URL" "HISTORY_REDIS_URL" "AUTH_ISSUER" "AUTH_BUILTIN_URL" "AUTH_JWKS_URL" "AUTH_CLI_SECRET_FILE" -}}
{{- range $k, $v := .Values.config -}}
{{- if not (regexMatch "^[A-Z][A-Z0-9_]*$" $k) -}}
{{- fail (printf "config.%s: names are WEBTOON_* settings without the prefix, in capitals (e.g. LOG_LEVEL)" $k) -}}
{{- end -}}
{{- if hasPrefix "WEBTOON_" $k -}}
{{- fail (printf "config.%s: leave out the WEBTOON_ prefix" $k) -}}
{{- end -}}
{{- if or (has $k $computed) (hasSuffix "_PORT" $k) -}}
{{- fail (printf "config.%s is set by the chart (see values.yaml, config)" $k) -}}
{{- end -}}
{{- end -}}
{{- range $c := include "webtoon.components" . | fromJsonArray -}}
{{- $v := ternary $.Values.auth.builtin (index $.Values $c) (eq $c "auth") -}}
{{- if and $v.autoscaling $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- fail (printf "%s.autoscaling: minReplicas is above maxReplicas" $c) -}}
{{- end -}}
{{- end -}}
{{- end -}}
