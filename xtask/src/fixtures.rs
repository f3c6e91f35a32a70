//! The example application `cargo xtask up` and the benchmarks put in Git: podinfo's
//! Deployment and Service with their kustomization.

pub const PODINFO: &[(&str, &str)] = &[
    (
        "deploy/deployment.yaml",
        include_str!("fixtures/deployment.yaml"),
    ),
    ("deploy/service.yaml", include_str!("fixtures/service.yaml")),
    (
        "deploy/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n",
    ),
    (
        "deploy/kustomization.yaml",
        "resources:\n- namespace.yaml\n- deployment.yaml\n- service.yaml\n",
    ),
    (
        "README.md",
        "# podinfo\n\nThe example application of Driftless's `cargo xtask up`.\n",
    ),
];

/// A chart of the same application, for `bench sources --kind helmchart`: its templates are
/// the manifests above with the image and replicas as values.
pub const PODINFO_CHART: &[(&str, &str)] = &[
    (
        "Chart.yaml",
        "apiVersion: v2\nname: podinfo\nversion: 6.7.1\nappVersion: 6.7.1\ndescription: Podinfo, as the benchmarks serve it\n",
    ),
    (
        "values.yaml",
        "replicaCount: 1\nimage:\n  repository: ghcr.io/stefanprodan/podinfo\n  tag: 6.7.1\nservice:\n  port: 9898\n",
    ),
    (
        "templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicaCount }}\n  selector:\n    matchLabels:\n      app: {{ .Release.Name }}\n  template:\n    metadata:\n      labels:\n        app: {{ .Release.Name }}\n    spec:\n      containers:\n      - name: podinfod\n        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n        ports:\n        - containerPort: {{ .Values.service.port }}\n",
    ),
    (
        "templates/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector:\n    app: {{ .Release.Name }}\n  ports:\n  - port: {{ .Values.service.port }}\n",
    ),
];
