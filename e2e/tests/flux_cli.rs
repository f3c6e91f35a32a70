//! The real `flux` CLI (v2.9.5) as a Flux user drives it, against source-controller,
//! kustomize-controller and notification-controller: create a Git source and a
//! Kustomization, then get, reconcile, suspend and resume, tree, trace, events, stats,
//! export, build and diff; create a Receiver, a Provider and an Alert. Each command's output
//! is checked for what it must show.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use support::{Controllers, app_repository, wait_for};

const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: live\n";

/// `flux <args> --namespace <namespace>`: whether it succeeded, and what it printed.
fn flux(kubeconfig: &Path, namespace: &str, args: &[&str]) -> (bool, String) {
    let mut all = args.to_vec();
    all.extend(["--namespace", namespace, "--timeout=60s"]);
    support::flux_cli(kubeconfig, &all)
}

/// The table row of `name` in a `flux get` listing.
fn row<'a>(listing: &'a str, name: &str) -> Option<&'a str> {
    listing
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flux_cli_drives_sources_kustomizations_and_notifications() {
    let (plane, namespace, client) = support::cluster("flux-cli").await;
    let notification = support::spawn_notification_controller(plane, &namespace);
    let controllers = Controllers::start(plane, &namespace, &[&notification.events_flag], &[]);
    let logs = || {
        format!(
            "{}\nnotification-controller:\n{}",
            controllers.logs(),
            notification.process.log_tail(30)
        )
    };
    let (git, _repo) = app_repository(&[("deploy/settings.yaml", CONFIG_MAP)], "settings");
    let kubeconfig = plane.kubeconfig_path();
    let run = |args: &[&str]| {
        let (ok, output) = flux(&kubeconfig, &namespace, args);
        assert!(ok, "flux {}: {output}\n{}", args.join(" "), logs());
        output
    };

    let url = git.url("app");
    let created = run(&[
        "create",
        "source",
        "git",
        "app",
        &format!("--url={url}"),
        "--branch=main",
        "--interval=10m",
    ]);
    assert!(
        created.contains("fetched revision: main@sha1:"),
        "{created}"
    );
    let target = format!("--target-namespace={namespace}");
    let created = run(&[
        "create",
        "kustomization",
        "app",
        "--source=GitRepository/app",
        "--path=./deploy",
        "--prune=true",
        "--interval=10m",
        &target,
    ]);
    assert!(created.contains("applied revision main@sha1:"), "{created}");

    let sources = run(&["get", "sources", "git"]);
    let source = row(&sources, "app").unwrap_or_else(|| panic!("{sources}"));
    assert!(
        source.contains("main@sha1:") && source.contains("True"),
        "{sources}"
    );
    let listed = run(&["get", "kustomizations"]);
    let ks = row(&listed, "app").unwrap_or_else(|| panic!("{listed}"));
    assert!(
        ks.contains("main@sha1:") && ks.contains("False") && ks.contains("True"),
        "{listed}"
    );
    let all = run(&["get", "all"]);
    assert!(
        all.contains("gitrepository/app") && all.contains("kustomization/app"),
        "{all}"
    );

    let reconciled = run(&["reconcile", "kustomization", "app", "--with-source"]);
    assert!(
        reconciled.contains("applied revision main@sha1:"),
        "{reconciled}"
    );

    run(&["suspend", "kustomization", "app"]);
    let listed = run(&["get", "kustomizations"]);
    let suspended = row(&listed, "app").unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(
        suspended.split_whitespace().nth(2),
        Some("True"),
        "{listed}"
    );
    let resumed = run(&["resume", "kustomization", "app"]);
    assert!(resumed.contains("applied revision main@sha1:"), "{resumed}");
    let listed = run(&["get", "kustomizations"]);
    let running = row(&listed, "app").unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(running.split_whitespace().nth(2), Some("False"), "{listed}");

    let tree = run(&["tree", "kustomization", "app"]);
    assert!(
        tree.contains("Kustomization/")
            && tree.contains(&format!("ConfigMap/{namespace}/settings")),
        "{tree}"
    );
    let trace = run(&["trace", "settings", "--kind=ConfigMap", "--api-version=v1"]);
    assert!(
        trace.contains("Kustomization:")
            && trace.contains("GitRepository:")
            && trace.contains("app"),
        "{trace}"
    );
    let stats = run(&["stats"]);
    // One running Kustomization and one GitRepository, none failing or suspended.
    for kind in ["Kustomization", "GitRepository"] {
        let counts = row(&stats, kind).unwrap_or_else(|| panic!("{stats}"));
        let columns: Vec<&str> = counts.split_whitespace().skip(1).take(3).collect();
        assert_eq!(columns, ["1", "0", "0"], "{stats}");
    }
    let exported = run(&["export", "kustomization", "app"]);
    assert!(
        exported.contains("kind: Kustomization") && exported.contains("path: ./deploy"),
        "{exported}"
    );
    wait_for(
        "flux events to show the Kustomization's",
        async || {
            let (ok, events) = flux(
                &kubeconfig,
                &namespace,
                &["events", "--for=Kustomization/app"],
            );
            (ok && events.contains("ReconciliationSucceeded")).then_some(())
        },
        &logs,
    )
    .await;

    // A local checkout: build renders it; diff finds nothing, then the local edit.
    let checkout = tempfile::tempdir().expect("checkout");
    std::fs::write(checkout.path().join("settings.yaml"), CONFIG_MAP).unwrap();
    let path = format!("--path={}", checkout.path().display());
    let built = run(&["build", "kustomization", "app", &path]);
    assert!(
        built.contains("name: settings") && built.contains("mode: live"),
        "{built}"
    );
    let (same, diff) = flux(
        &kubeconfig,
        &namespace,
        &["diff", "kustomization", "app", &path],
    );
    assert!(same, "{diff}");
    std::fs::write(
        checkout.path().join("settings.yaml"),
        CONFIG_MAP.replace("live", "edited"),
    )
    .unwrap();
    let (same, diff) = flux(
        &kubeconfig,
        &namespace,
        &["diff", "kustomization", "app", &path],
    );
    assert!(
        !same && diff.contains("ConfigMap/") && diff.contains("drifted"),
        "{diff}"
    );

    // Notifications: a Receiver for the source, a Provider and an Alert.
    let token: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "webhook-token"}, "stringData": {"token": "s3cret"},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &token)
        .await
        .unwrap();
    let receiver = run(&[
        "create",
        "receiver",
        "app",
        "--type=generic",
        "--secret-ref=webhook-token",
        "--resource=GitRepository/app",
        "--event=ping",
    ]);
    assert!(
        receiver.contains("generated webhook URL /hook/"),
        "{receiver}"
    );
    run(&[
        "create",
        "alert-provider",
        "sink",
        "--type=generic",
        "--address=http://127.0.0.1:9/",
    ]);
    run(&[
        "create",
        "alert",
        "app",
        "--provider-ref=sink",
        "--event-source=Kustomization/*",
    ]);
    let receivers = run(&["get", "receivers"]);
    let listed = row(&receivers, "app").unwrap_or_else(|| panic!("{receivers}"));
    assert!(listed.contains("True"), "{receivers}");
    let providers = run(&["get", "alert-providers"]);
    assert!(row(&providers, "sink").is_some(), "{providers}");
    let alerts = run(&["get", "alerts"]);
    assert!(row(&alerts, "app").is_some(), "{alerts}");

    let deleted = run(&["delete", "kustomization", "app", "--silent"]);
    assert!(deleted.contains("deleted"), "{deleted}");
}

/// `flux create image repository|policy|update` against image-automation-controller, a local
/// `docker-registry` served over plain HTTP on loopback (which Flux reaches without
/// `insecure`, as go-containerregistry does) and a Git server taking the automation's push;
/// then `flux get images all` shows all three Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flux_cli_creates_image_repositories_policies_and_automations() {
    use driftless_testenv::git::{GitAuth, GitServer, git};
    use driftless_testenv::registry::{Registry, RegistryOptions};

    let (plane, namespace, _client) = support::cluster("flux-cli-images").await;
    let controllers = Controllers::start(plane, &namespace, &[], &[]);
    let storage = tempfile::tempdir().expect("storage");
    let image_args = support::confined_args(
        &namespace,
        &[&format!("--storage-path={}", storage.path().display())],
    );
    let images = support::spawn(plane, "image-automation-controller", image_args);
    let logs = || {
        format!(
            "{}\nimage-automation-controller:\n{}",
            controllers.logs(),
            images.log_tail(40)
        )
    };
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    for tag in ["1.0.0", "1.1.0", "2.0.0"] {
        registry.push("app", tag).await.expect("push image");
    }
    let image = registry.image("app");
    let git_server =
        GitServer::start_accepting_pushes(GitAuth::default(), "bot", "pushpass").expect("git");
    let repo = git_server.create_repo("fleet").expect("repo");
    let manifest = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  image: {image}:1.0.0 # {{\"$imagepolicy\": \"{namespace}:app\"}}\n"
    );
    repo.commit(&[("deploy/app.yaml", &manifest)], "initial")
        .expect("commit");
    repo.push("main").expect("push");
    let kubeconfig = plane.kubeconfig_path();
    let run = |args: &[&str]| {
        let (ok, output) = flux(&kubeconfig, &namespace, args);
        assert!(ok, "flux {}: {output}\n{}", args.join(" "), logs());
        output
    };

    run(&[
        "create",
        "source",
        "git",
        "fleet",
        &format!("--url={}", git_server.url("fleet")),
        "--branch=main",
        "--username=bot",
        "--password=pushpass",
        "--interval=1h",
    ]);
    run(&[
        "create",
        "image",
        "repository",
        "app",
        &format!("--image={image}"),
        "--interval=1h",
    ]);
    run(&[
        "create",
        "image",
        "policy",
        "app",
        "--image-ref=app",
        "--select-semver=1.x",
    ]);
    let listed = run(&["get", "image", "policy", "app"]);
    let policy = row(&listed, "app").unwrap_or_else(|| panic!("{listed}"));
    assert!(
        policy.contains("True") && policy.contains("1.1.0"),
        "{listed}"
    );
    run(&[
        "create",
        "image",
        "update",
        "fleet",
        "--git-repo-ref=fleet",
        "--git-repo-path=./deploy",
        "--checkout-branch=main",
        "--push-branch=main",
        "--author-name=Image Bot",
        "--author-email=bot@example.com",
        "--interval=1h",
    ]);
    let all = run(&["get", "images", "all"]);
    for name in [
        "imagerepository/app",
        "imagepolicy/app",
        "imageupdateautomation/fleet",
    ] {
        let listed = row(&all, name).unwrap_or_else(|| panic!("{name} missing: {all}"));
        assert!(listed.contains("True"), "{all}");
    }
    // The automation's commit is on the branch, with the policy's tag.
    let checkout = tempfile::tempdir().expect("checkout");
    let work = checkout.path().join("fleet");
    git(
        checkout.path(),
        &["clone", "-q", &git_server.url("fleet"), "fleet"],
    )
    .expect("clone");
    let updated = std::fs::read_to_string(work.join("deploy/app.yaml")).expect("read");
    assert!(
        updated.contains(&format!("{image}:1.1.0 # {{\"$imagepolicy\"")),
        "{updated}"
    );
    let author = git(&work, &["log", "-1", "--format=%an"]).expect("log");
    assert_eq!(author.trim(), "Image Bot");
}
