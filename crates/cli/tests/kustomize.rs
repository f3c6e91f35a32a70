//! `driftless kustomize build` as a process: local builds, errors, and remote resources
//! fetched from a real Git server (`git http-backend`) and an HTTP file server on loopback.

use std::path::Path;
use std::process::{Command, Output};

use driftless_testenv::git::{GitAuth, GitServer};

fn driftless(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(args)
        .arg(dir)
        .output()
        .expect("running driftless")
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

const SERVICE: &str =
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n";

#[test]
fn builds_a_directory_and_reports_errors_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "kustomization.yaml",
                "namePrefix: p-\nresources: [svc.yaml]\n",
            ),
            ("svc.yaml", SERVICE),
        ],
    );
    let out = driftless(&["kustomize", "build"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: p-web\nspec:\n  ports:\n  - port: 80\n"
    );

    write(
        dir.path(),
        &[("kustomization.yaml", "resources: [missing.yaml]\n")],
    );
    let out = driftless(&["kustomize", "build"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("Error: ") && stderr.contains("missing.yaml"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// Serves `path` → `body` over HTTP on loopback until the process ends.
fn file_server(path: &'static str, body: &'static str) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app =
                axum::Router::new().route(path, axum::routing::get(move || async move { body }));
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

#[test]
fn remote_bases_and_files_are_fetched_only_when_enabled() {
    let git = GitServer::start(GitAuth::default()).unwrap();
    let repo = git.create_repo("platform").unwrap();
    repo.commit(
        &[
            ("deploy/kustomization.yaml", "resources: [deployment.yaml, ../shared]\ncommonLabels: {from: git}\n"),
            (
                "deploy/deployment.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n      - name: api\n        image: api:1\n",
            ),
            ("shared/kustomization.yaml", "configMapGenerator:\n- name: shared\n  literals: [REGION=eu]\n"),
        ],
        "v1",
    )
    .unwrap();
    repo.push("main").unwrap();
    repo.tag("v1.0.0", None).unwrap();
    repo.commit(
        &[(
            "deploy/kustomization.yaml",
            "resources: [deployment.yaml]\ncommonLabels: {from: main}\n",
        )],
        "v2",
    )
    .unwrap();
    repo.push("main").unwrap();
    let files = file_server("/manifests/svc.yaml", SERVICE);

    let dir = tempfile::tempdir().unwrap();
    let kustomization = format!(
        "resources:\n- {}//deploy?ref=v1.0.0\n- http://{files}/manifests/svc.yaml\nnamespace: prod\n",
        git.url("platform")
    );
    write(dir.path(), &[("kustomization.yaml", &kustomization)]);

    let refused = driftless(&["kustomize", "build"], dir.path());
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("remote resources are not enabled"));

    let out = driftless(&["kustomize", "build", "--enable-remote"], dir.path());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The tag's content (with the shared base), not main's.
    assert!(
        stdout.contains("from: git") && !stdout.contains("from: main"),
        "{stdout}"
    );
    assert!(stdout.contains("name: shared-"), "{stdout}");
    assert!(
        stdout.contains("kind: Service") && stdout.matches("namespace: prod").count() == 3,
        "{stdout}"
    );
    let fetches = git
        .requests()
        .iter()
        .filter(|r| r.command.as_deref() == Some("fetch"))
        .count();
    assert!(
        fetches >= 1,
        "the repository was fetched from the Git server"
    );

    // An unknown ref fails with the reason.
    write(
        dir.path(),
        &[(
            "kustomization.yaml",
            &format!("resources:\n- {}//deploy?ref=nope\n", git.url("platform")),
        )],
    );
    let out = driftless(&["kustomize", "build", "--enable-remote"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nope"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A chart with a CRD, a hook, a test hook and a default that is null.
const CHART: &[(&str, &str)] = &[
    (
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 1.0.0\nkubeVersion: '>=1.25.0-0'\n",
    ),
    (
        "charts/web/values.yaml",
        "replicas: 1\nmessage: default\nresources:\n  limits:\n  requests:\n    cpu: 1m\n",
    ),
    (
        "charts/web/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  namespace: {{ .Release.Namespace }}\nspec:\n  replicas: {{ .Values.replicas }}\n  template:\n    spec:\n      containers:\n      - name: web\n        env:\n        - name: MESSAGE\n          value: {{ .Values.message | quote }}\n        - name: KUBE\n          value: {{ .Capabilities.KubeVersion.Version | quote }}\n        resources:\n          {{- toYaml .Values.resources | nindent 10 }}\n",
    ),
    (
        "charts/web/templates/job.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations:\n    helm.sh/hook: pre-install\n",
    ),
    (
        "charts/web/templates/test.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations:\n    helm.sh/hook: test\n",
    ),
    (
        "charts/web/crds/crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things.example.com\n",
    ),
    ("extra.yaml", "message: from the extra file\n"),
];

/// Documents as JSON, sorted, so outputs compare regardless of kustomize's reordering.
fn documents(text: &str) -> Vec<serde_json::Value> {
    let mut docs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect();
    docs.sort_by_key(|d| d.to_string());
    docs
}

#[test]
fn helm_charts_render_as_the_real_helm_template_with_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), CHART);
    write(
        dir.path(),
        &[(
            "kustomization.yaml",
            "namespace: other\nhelmCharts:\n- name: web\n  releaseName: shop\n  namespace: apps\n  includeCRDs: true\n  skipTests: true\n  valuesInline:\n    replicas: 3\n  additionalValuesFiles: [extra.yaml]\n",
        )],
    );
    let out = driftless(
        &[
            "kustomize",
            "build",
            "--enable-helm",
            "--helm-kube-version",
            "1.33.0",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = String::from_utf8(out.stdout).unwrap();

    // What kustomize hands the real helm: the chart's values with the inline ones over
    // them (nulls dropped), then the additional file.
    let merged = dir.path().join("merged.yaml");
    std::fs::write(
        &merged,
        "replicas: 3\nmessage: default\nresources:\n  requests:\n    cpu: 1m\n",
    )
    .unwrap();
    let chart = dir.path().join("charts/web");
    let extra = dir.path().join("extra.yaml");
    let helm = driftless_testenv::charts::helm(&[
        "template",
        "shop",
        chart.to_str().unwrap(),
        "--namespace",
        "apps",
        "-f",
        merged.to_str().unwrap(),
        "-f",
        extra.to_str().unwrap(),
        "--kube-version",
        "1.33.0",
        "--include-crds",
        "--skip-tests",
    ])
    .unwrap();
    assert_eq!(documents(&ours), documents(&helm));
    // Helm-rendered objects keep their namespace, and the build annotation is stripped.
    assert!(ours.contains("namespace: apps") && !ours.contains("namespace: other"));
    assert!(!ours.contains("helm-generated") && !ours.contains("shop-test"));
    assert!(ours.contains("limits: null") && ours.contains("from the extra file"));

    // Off unless enabled, with kustomize's message.
    let out = driftless(&["kustomize", "build"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("trouble configuring builtin HelmChartInflationGenerator")
            && stderr.contains("must specify --enable-helm"),
        "{stderr}"
    );
}

#[test]
fn a_helm_chart_missing_from_the_chart_home_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "kustomization.yaml",
            "helmCharts:\n- name: podinfo\n  repo: https://stefanprodan.github.io/podinfo\n  version: 6.7.1\n",
        )],
    );
    let out = driftless(&["kustomize", "build", "--enable-helm"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("charts/podinfo-6.7.1/podinfo") && stderr.contains("not pulled"),
        "{stderr}"
    );
}
