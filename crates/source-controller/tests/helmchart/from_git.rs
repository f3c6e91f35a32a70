//! A chart committed to Git: packaged as `helm package` would (its `.helmignore` applied,
//! the subchart included, a `file://` dependency added), rendered by the real helm exactly as
//! the committed directory; `ChartVersion` keeps the chart until its version changes,
//! `Revision` follows every commit.

use driftless_api::source::{GitRepository, HelmChart};
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::*;
use crate::support::*;

fn in_dir(prefix: &str, files: Vec<(String, String)>) -> Vec<(String, String)> {
    files
        .into_iter()
        .map(|(p, c)| (format!("{prefix}/{p}"), c))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn packaged_like_helm_and_rebuilt_per_strategy() {
    let (plane, namespace, client) = setup("helmchart-git").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("charts").unwrap();
    let mut files = in_dir("charts/app", chart_files("0.1.0"));
    files.push(("env/prod.yaml".into(), "replicas: 5\n".into()));
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let first = repo.commit(&borrowed, "chart").unwrap();
    repo.push("main").unwrap();

    let controller = SourceController::start(plane, &namespace, &[]);
    let git: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    create_following(&git, "charts", &server.url("charts"), "main").await;
    let api: Api<HelmChart> = Api::namespaced(client.clone(), &namespace);
    create_helm_chart(
        &api,
        "app",
        json!({
            "chart": "./charts/app",
            "sourceRef": { "kind": "GitRepository", "name": "charts" },
            "valuesFiles": ["charts/app/values.yaml", "env/prod.yaml", "env/missing.yaml"],
            "ignoreMissingValuesFiles": true,
        }),
    )
    .await;
    let ready = wait_ready(&api, "app", &controller).await;
    let generation = ready.metadata.generation.unwrap();
    assert_eq!(
        ready_message(&ready),
        format!(
            "packaged 'app' chart with version '0.1.0+{generation}' and merged values files [charts/app/values.yaml env/prod.yaml]"
        )
    );
    let first_status = status(&ready);
    assert_eq!(
        first_status.observed_values_files,
        ["charts/app/values.yaml", "env/prod.yaml"]
    );
    assert_eq!(
        first_status.observed_source_artifact_revision.as_deref(),
        Some(format!("main@sha1:{first}").as_str())
    );

    let work = tempfile::tempdir().unwrap();
    let packaged = download_chart(&ready, work.path()).await;
    let committed = repo.work_dir().join("charts/app");
    let prod = repo.work_dir().join("env/prod.yaml");
    let expected = template(&committed, &["-f", &prod.to_string_lossy()]);
    assert_eq!(
        template(&packaged, &[]),
        expected.replace("app-0.1.0\n", &format!("app-0.1.0_{generation}\n"))
    );
    // The committed `appVersion: 1.10` is a float to Helm's YAML reader, so its string field
    // holds "1.1", and that is what `helm package` writes too.
    let listing =
        driftless_testenv::charts::helm(&["show", "chart", &packaged.to_string_lossy()]).unwrap();
    assert!(listing.contains("appVersion: \"1.1\"\n"), "{listing}");

    // Without values files: the plain version; a commit that keeps it keeps the chart.
    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "valuesFiles": null, "ignoreMissingValuesFiles": null } })),
    )
    .await
    .unwrap();
    let plain = wait_for(&api, "app", &controller, "version 0.1.0", |c| {
        c.status
            .as_ref()
            .and_then(|s| s.artifact.as_ref())
            .is_some_and(|a| a.revision == "0.1.0")
    })
    .await;
    let plain_digest = status(&plain).artifact.clone().unwrap().digest;
    let packaged = download_chart(&plain, work.path()).await;
    assert_eq!(template(&packaged, &[]), template(&committed, &[]));

    let second = repo
        .commit(&[("charts/app/files/banner.txt", "changed\n")], "banner")
        .unwrap();
    repo.push("main").unwrap();
    request_reconcile(&git, "charts", &controller).await;
    let kept = wait_for(&api, "app", &controller, "the new commit seen", |c| {
        c.status
            .as_ref()
            .and_then(|s| s.observed_source_artifact_revision.clone())
            == Some(format!("main@sha1:{second}"))
    })
    .await;
    assert_eq!(
        status(&kept).artifact.clone().unwrap().digest,
        plain_digest,
        "ChartVersion: same version, same chart"
    );

    // Revision: the commit becomes the version's metadata.
    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "reconcileStrategy": "Revision" } })),
    )
    .await
    .unwrap();
    let short = &second[..12];
    let revisioned = wait_for(&api, "app", &controller, "the revision version", |c| {
        c.status
            .as_ref()
            .and_then(|s| s.artifact.as_ref())
            .is_some_and(|a| a.revision == format!("0.1.0+{short}"))
    })
    .await;
    let packaged = download_chart(&revisioned, work.path()).await;
    assert!(template(&packaged, &[]).contains("banner: \"changed\\n\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn file_dependencies_come_from_the_same_source() {
    let (plane, namespace, client) = setup("helmchart-deps").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("mono").unwrap();
    repo.commit(
        &[
            (
                "apps/web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 2.0.0\ndependencies:\n- name: common\n  version: \">=1.0.0\"\n  repository: file://../../lib/common\n",
            ),
            (
                "apps/web/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"common.name\" . }}\n",
            ),
            ("lib/common/Chart.yaml", "apiVersion: v2\nname: common\nversion: 1.2.0\ntype: library\n"),
            ("lib/common/templates/_name.tpl", "{{- define \"common.name\" -}}web-{{ .Release.Name }}{{- end -}}\n"),
        ],
        "mono",
    )
    .unwrap();
    repo.push("main").unwrap();
    let controller = SourceController::start(plane, &namespace, &[]);
    let git: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    create_following(&git, "mono", &server.url("mono"), "main").await;
    let api: Api<HelmChart> = Api::namespaced(client.clone(), &namespace);
    create_helm_chart(
        &api,
        "web",
        json!({ "chart": "apps/web", "sourceRef": { "kind": "GitRepository", "name": "mono" } }),
    )
    .await;
    let ready = wait_ready(&api, "web", &controller).await;
    let work = tempfile::tempdir().unwrap();
    let packaged = download_chart(&ready, work.path()).await;
    // The real helm renders the library's template from the packaged dependency.
    assert!(template(&packaged, &[]).contains("name: web-rel"));
}

#[tokio::test(flavor = "multi_thread")]
async fn repository_dependencies_are_downloaded() {
    let (plane, namespace, client) = setup("helmchart-remote-deps").await;
    let charts = driftless_testenv::charts::ChartRepository::start(None).expect("chart repository");
    let db = charts
        .write_chart(
            "db",
            &[
                ("Chart.yaml", "apiVersion: v2\nname: db\nversion: 0.3.2\n"),
                ("values.yaml", "port: 5432\n"),
                (
                    "templates/svc.yaml",
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-db\nspec:\n  ports:\n  - port: {{ .Values.port }}\n",
                ),
            ],
        )
        .unwrap();
    charts.publish(&db).unwrap();
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("app").unwrap();
    let chart_yaml = format!(
        "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: db\n  version: 0.3.x\n  repository: {}\n",
        charts.url()
    );
    repo.commit(
        &[
            ("web/Chart.yaml", chart_yaml.as_str()),
            ("web/values.yaml", "db:\n  port: 6432\n"),
            (
                "web/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
            ),
        ],
        "web",
    )
    .unwrap();
    repo.push("main").unwrap();
    let controller = SourceController::start(plane, &namespace, &[]);
    let git: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    create_following(&git, "app", &server.url("app"), "main").await;
    let api: Api<HelmChart> = Api::namespaced(client.clone(), &namespace);
    create_helm_chart(
        &api,
        "web",
        json!({ "chart": "web", "sourceRef": { "kind": "GitRepository", "name": "app" } }),
    )
    .await;
    let ready = wait_ready(&api, "web", &controller).await;
    assert!(
        charts.requests().iter().any(|p| p == "/db-0.3.2.tgz"),
        "{:?}",
        charts.requests()
    );
    let work = tempfile::tempdir().unwrap();
    let packaged = download_chart(&ready, work.path()).await;
    // The downloaded dependency renders with the parent's values for it.
    let rendered = template(&packaged, &[]);
    assert!(rendered.contains("name: rel-db"), "{rendered}");
    assert!(rendered.contains("port: 6432"), "{rendered}");

    // A dependency no repository has: DependencyBuildError. (`Revision`, so the commit that
    // keeps the version rebuilds.)
    create_helm_chart(
        &api,
        "missing",
        json!({ "chart": "web", "sourceRef": { "kind": "GitRepository", "name": "app" }, "reconcileStrategy": "Revision" }),
    )
    .await;
    wait_ready(&api, "missing", &controller).await;
    repo.commit(
        &[(
            "web/Chart.yaml",
            chart_yaml.replace("0.3.x", "9.x").as_str(),
        )],
        "unresolvable",
    )
    .unwrap();
    repo.push("main").unwrap();
    request_reconcile(&git, "app", &controller).await;
    let failed = wait_not_ready(&api, "missing", &controller, "DependencyBuildError").await;
    assert!(
        ready_message(&failed)
            .starts_with("dependency build error: failed to get chart 'db' version '9.x' from "),
        "{}",
        ready_message(&failed)
    );
}
