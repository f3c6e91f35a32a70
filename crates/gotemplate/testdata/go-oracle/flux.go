package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

// Mirrors of the types Flux's image-automation-controller gives commit message templates
// (TemplateData, update.ResultV2, ObjectIdentifier embedding kyaml's ResourceIdentifier,
// types.NamespacedName), so that struct keys, embedding and methods behave as in Flux.

type NamespacedName struct{ Namespace, Name string }

func (n NamespacedName) String() string { return n.Namespace + "/" + n.Name }

type TypeMeta struct {
	APIVersion string
	Kind       string
}
type NameMeta struct {
	Name      string
	Namespace string
}
type ResourceIdentifier struct {
	TypeMeta
	NameMeta
}
type ObjectIdentifier struct{ ResourceIdentifier }

type Change struct {
	OldValue string
	NewValue string
	Setter   string
}

type ObjectChanges map[ObjectIdentifier][]Change

type ResultV2 struct {
	FileChanges map[string]ObjectChanges
}

func (r ResultV2) Changes() []Change {
	var result []Change
	for _, objChanges := range r.FileChanges {
		for _, changes := range objChanges {
			result = append(result, changes...)
		}
	}
	return result
}

func (r ResultV2) Objects() ObjectChanges {
	result := make(ObjectChanges)
	for _, objChanges := range r.FileChanges {
		for obj, changes := range objChanges {
			result[obj] = append(result[obj], changes...)
		}
	}
	return result
}

type TemplateData struct {
	AutomationObject NamespacedName
	Changed          ResultV2
	Values           map[string]string
}

// FluxTemplate is Flux's documented example, plus lines exercising struct printing,
// methods and Values.
const FluxTemplate = `Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
{{ len .Changed.Changes }} changes; env={{ .Values.env }}; missing={{ .Values.nope }}
{{ range $r, $_ := .Changed.Objects }}{{ $r }} {{ printf "%+v" $r }}
{{ end }}{{ .AutomationObject.Name }} {{ printf "%v|%s|%q" .AutomationObject .AutomationObject .AutomationObject }}`

func obj(apiVersion, kind, name, ns string) ObjectIdentifier {
	return ObjectIdentifier{ResourceIdentifier{TypeMeta{apiVersion, kind}, NameMeta{name, ns}}}
}

func fluxData() TemplateData {
	return TemplateData{
		AutomationObject: NamespacedName{"flux-system", "auto"},
		Changed: ResultV2{FileChanges: map[string]ObjectChanges{
			"deploy/app.yaml": {
				obj("apps/v1", "Deployment", "web", "default"): {
					{"ghcr.io/org/web:1.0", "ghcr.io/org/web:1.1", "flux-system:web"},
				},
				obj("apps/v1", "Deployment", "api", "default"): {
					{"ghcr.io/org/api:2.0", "ghcr.io/org/api:2.1", "flux-system:api"},
					{"2.0", "2.1", "flux-system:api:tag"},
				},
			},
			"cron.yaml": {
				obj("batch/v1", "CronJob", "backup", "ops"): {
					{"backup:1", "backup:2", "flux-system:backup"},
				},
			},
		}},
		Values: map[string]string{"env": "prod"},
	}
}

func renderFlux() {
	t := template.Must(template.New("flux").Parse(FluxTemplate))
	var b strings.Builder
	if err := t.Execute(&b, fluxData()); err != nil {
		panic(err)
	}
	out, err := json.MarshalIndent(map[string]string{"template": FluxTemplate, "output": b.String()}, "", "  ")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile("../golden-flux.json", append(out, '\n'), 0o644); err != nil {
		panic(err)
	}
}
