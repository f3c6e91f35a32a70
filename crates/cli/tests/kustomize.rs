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
