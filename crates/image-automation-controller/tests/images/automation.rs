//! ImageUpdateAutomation against a real Git server (`git http-backend`, pushes with basic
//! auth) and a real registry: the marked field is rewritten byte for byte, one commit is
//! pushed, the GitRepository is asked to reconcile, nothing is pushed when nothing changed,
//! and a push that loses a race is re-applied at once.

use driftless_api::image::{ImagePolicy, ImageRepository, ImageUpdateAutomation};
use driftless_api::meta::RECONCILE_REQUEST_ANNOTATION;
use driftless_api::source::GitRepository;
use driftless_testenv::git::{GitAuth, GitRepo, GitServer, git};
use driftless_testenv::registry::{Registry, RegistryOptions};
use kube::api::Api;
use serde_json::json;

use crate::support::*;

/// A Deployment as people write them: comments, quoting and blank lines the rewrite keeps.
fn deployment(image: &str, namespace: &str) -> String {
    format!(
        "# The web front end.\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app   # keep this comment aligned\n  labels: {{app: web}}\n\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: \"{image}:1.0.0\" # {{\"$imagepolicy\": \"{namespace}:app\"}}\n          args: ['--port', \"8080\"]\n"
    )
}

pub struct Fixture {
    pub git: GitServer,
    pub repo: GitRepo,
    pub registry: Registry,
    pub controller: Controller,
    pub client: kube::Client,
    pub namespace: String,
    _storage: tempfile::TempDir,
}

pub async fn fixture(prefix: &str) -> Fixture {
    let (plane, namespace, client) = setup(prefix).await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    for tag in ["1.0.0", "1.1.0"] {
        registry.push("app", tag).await.expect("push image");
    }
    let git = GitServer::start_accepting_pushes(GitAuth::default(), "bot", "pushpass").unwrap();
    let repo = git.create_repo("fleet").unwrap();
    repo.commit(
        &[
            (
                "apps/web/deployment.yaml",
                &deployment(&registry.image("app"), &namespace),
            ),
            ("README.md", "fleet\n"),
        ],
        "initial",
    )
    .unwrap();
    repo.push("main").unwrap();
    create_secret(
        &client,
        &namespace,
        "git-push",
        None,
        &[("username", "bot"), ("password", "pushpass")],
    )
    .await;
    let sources: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let source: GitRepository = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "fleet"},
        "spec": {"url": git.url("fleet"), "interval": "1h", "ref": {"branch": "main"}, "secretRef": {"name": "git-push"}}
    }))
    .unwrap();
    create(&sources, &source).await;
    let storage = tempfile::tempdir().unwrap();
    let controller = Controller::start(plane, &namespace, storage.path(), &[]);
    let repos: Api<ImageRepository> = Api::namespaced(client.clone(), &namespace);
    create(
        &repos,
        &image_repository(
            "app",
            json!({"image": registry.image("app"), "interval": "1h", "insecure": true}),
        ),
    )
    .await;
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), &namespace);
    create(
        &policies,
        &image_policy(
            "app",
            json!({"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "^1.x"}}}),
        ),
    )
    .await;
    wait_ready_is(&policies, "app", &controller, "True", "Succeeded").await;
    Fixture {
        git,
        repo,
        registry,
        controller,
        client,
        namespace,
        _storage: storage,
    }
}

pub fn automation(name: &str, push: serde_json::Value) -> ImageUpdateAutomation {
    serde_json::from_value(json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": name},
        "spec": {
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            "interval": "1h",
            "git": {"commit": {"author": {"name": "Flux Bot", "email": "bot@example.com"}}, "push": push},
            "update": {"strategy": "Setters", "path": "./apps"}
        }
    }))
    .unwrap()
}

fn server_git(repo: &GitRepo, args: &[&str]) -> String {
    git(&repo.bare, args).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_marked_image_is_committed_and_pushed_once() {
    let f = fixture("iua-push").await;
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(f.client.clone(), &f.namespace);
    let before = server_git(&f.repo, &["rev-parse", "main"]);
    create(&automations, &automation("fleet", json!({}))).await;
    let done = wait_for(&automations, "fleet", &f.controller, "a push", |a| {
        a.status
            .as_ref()
            .is_some_and(|s| s.last_push_commit.is_some())
    })
    .await;
    let status = done.status.clone().unwrap();
    let pushed = status.last_push_commit.clone().unwrap();
    assert_eq!(server_git(&f.repo, &["rev-parse", "main"]), pushed);
    assert_eq!(server_git(&f.repo, &["rev-parse", "main^"]), before);
    assert_eq!(
        server_git(&f.repo, &["log", "-1", "--format=%an <%ae>%n%s", "main"]),
        "Flux Bot <bot@example.com>\nUpdate from image update automation"
    );
    // Only the tag changed; every other byte of the file is as it was.
    let expected =
        deployment(&f.registry.image("app"), &f.namespace).replace(":1.0.0\"", ":1.1.0\"");
    assert_eq!(
        server_git(&f.repo, &["show", "main:apps/web/deployment.yaml"]) + "\n",
        expected
    );
    assert_eq!(
        server_git(&f.repo, &["diff", "--stat", "main^", "main"])
            .lines()
            .count(),
        2,
        "one file changed"
    );
    assert_eq!(
        status.observed_source_revision.as_deref(),
        Some(format!("main@sha1:{pushed}").as_str())
    );
    assert_eq!(status.observed_policies["app"].tag, "1.1.0");
    let settled = wait_ready_is(&automations, "fleet", &f.controller, "True", "Succeeded").await;
    assert_eq!(ready(&settled).unwrap().2, "repository up-to-date");
    let announced = events(&f.client, &f.namespace, "ImageUpdateAutomation", "fleet").await;
    let short = &pushed[..7];
    assert!(
        announced.iter().any(|(t, _, m)| t == "Normal"
            && m == &format!(
                "pushed commit '{short}' to branch 'main'\nUpdate from image update automation"
            )),
        "{announced:?}"
    );
    // The GitRepository following main is asked to fetch the new commit now.
    let source = Api::<GitRepository>::namespaced(f.client.clone(), &f.namespace)
        .get("fleet")
        .await
        .unwrap();
    assert!(
        source
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key(RECONCILE_REQUEST_ANNOTATION)
    );

    // A second run with nothing new pushes nothing.
    request_reconcile(&automations, "fleet").await;
    wait_for(
        &automations,
        "fleet",
        &f.controller,
        "the request handled",
        |a| {
            a.status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_ref())
                == a.metadata
                    .annotations
                    .as_ref()
                    .and_then(|m| m.get(RECONCILE_REQUEST_ANNOTATION))
        },
    )
    .await;
    assert_eq!(server_git(&f.repo, &["rev-parse", "main"]), pushed);
    let _ = &f.git;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_that_loses_a_race_is_reapplied_at_once() {
    let f = fixture("iua-race").await;
    // Created suspended, so that its first fetch is the one that goes on to push: the
    // controller's cache has the policy's selection by the time it is resumed.
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(f.client.clone(), &f.namespace);
    let mut suspended = automation("fleet", json!({}));
    suspended.spec.suspend = true;
    create(&automations, &suspended).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    // Another writer pushes right after the automation fetched.
    let other = f.git.create_repo("scratch").unwrap();
    let bare = f.repo.bare.clone();
    let work = other.work_dir().to_owned();
    f.git.after_next_fetch(move || {
        let bare = bare.to_string_lossy().into_owned();
        let _ = git(&work, &["fetch", "--quiet", &bare, "main"]);
        let _ = git(&work, &["checkout", "--quiet", "-B", "main", "FETCH_HEAD"]);
        let _ = std::fs::write(work.join("NOTES.md"), "pushed by someone else\n");
        let _ = git(&work, &["add", "NOTES.md"]);
        let _ = git(&work, &["commit", "--quiet", "-m", "someone else"]);
        let _ = git(&work, &["push", "--quiet", &bare, "HEAD:refs/heads/main"]);
    });
    automations
        .patch(
            "fleet",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"suspend": false}})),
        )
        .await
        .expect("resume");
    let done = wait_for(&automations, "fleet", &f.controller, "a push", |a| {
        a.status
            .as_ref()
            .is_some_and(|s| s.last_push_commit.is_some())
    })
    .await;
    let pushed = done.status.unwrap().last_push_commit.unwrap();
    assert_eq!(server_git(&f.repo, &["rev-parse", "main"]), pushed);
    assert_eq!(
        server_git(&f.repo, &["log", "-1", "--format=%s", "main^"]),
        "someone else",
        "the automation's commit sits on the other writer's"
    );
    assert!(server_git(&f.repo, &["show", "main:apps/web/deployment.yaml"]).contains(":1.1.0\""));
    assert!(
        f.controller.logs().contains("re-applying"),
        "{}",
        f.controller.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_separate_branch_is_force_pushed_and_main_is_left_alone() {
    let f = fixture("iua-branch").await;
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(f.client.clone(), &f.namespace);
    let main = server_git(&f.repo, &["rev-parse", "main"]);
    create(
        &automations,
        &automation("fleet", json!({"branch": "image-updates"})),
    )
    .await;
    let done = wait_for(&automations, "fleet", &f.controller, "a push", |a| {
        a.status
            .as_ref()
            .is_some_and(|s| s.last_push_commit.is_some())
    })
    .await;
    let status = done.status.unwrap();
    let pushed = status.last_push_commit.unwrap();
    assert_eq!(server_git(&f.repo, &["rev-parse", "image-updates"]), pushed);
    assert_eq!(server_git(&f.repo, &["rev-parse", "image-updates^"]), main);
    assert_eq!(
        server_git(&f.repo, &["rev-parse", "main"]),
        main,
        "main untouched"
    );
    assert_eq!(
        status.observed_source_revision,
        Some(format!("main@sha1:{main}"))
    );
    // The GitRepository follows main, not the push branch: no request.
    let source = Api::<GitRepository>::namespaced(f.client.clone(), &f.namespace)
        .get("fleet")
        .await
        .unwrap();
    assert!(
        !source
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key(RECONCILE_REQUEST_ANNOTATION)
    );
    // main moves on: the push branch is rebuilt on it and force-pushed.
    f.repo
        .commit(&[("README.md", "fleet, updated\n")], "docs")
        .unwrap();
    f.repo.push("main").unwrap();
    let new_main = server_git(&f.repo, &["rev-parse", "main"]);
    request_reconcile(&automations, "fleet").await;
    wait_for(
        &automations,
        "fleet",
        &f.controller,
        "a push on the new main",
        |a| a.status.as_ref().and_then(|s| s.last_push_commit.as_ref()) != Some(&pushed),
    )
    .await;
    assert_eq!(
        server_git(&f.repo, &["rev-parse", "image-updates^"]),
        new_main
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn commits_are_signed_and_their_message_templated() {
    let f = fixture("iua-sign").await;
    let keys = tempfile::tempdir().unwrap();
    let key = driftless_testenv::ssh::generate_key(keys.path(), "signer", Some("s3cret")).unwrap();
    create_secret(
        &f.client,
        &f.namespace,
        "signing",
        None,
        &[("identity", &key.private), ("password", "s3cret")],
    )
    .await;
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(f.client.clone(), &f.namespace);
    let mut signed = automation("fleet", json!({}));
    if let Some(git) = signed.spec.git_spec.as_mut() {
        git.commit.signing_key = Some(
            serde_json::from_value(json!({"type": "ssh", "secretRef": {"name": "signing"}}))
                .unwrap(),
        );
        git.commit.message_template = Some(
            "{{ len .Changed.FileChanges }} file(s) for {{ .AutomationObject.Name }}\n\n{{ range $id, $changes := .Changed.Objects }}{{ $id.Kind }}/{{ $id.Name }}: {{ range $changes }}{{ .NewValue }}{{ end }}{{ end }}".into(),
        );
    }
    create(&automations, &signed).await;
    let done = wait_for(&automations, "fleet", &f.controller, "a push", |a| {
        a.status
            .as_ref()
            .is_some_and(|s| s.last_push_commit.is_some())
    })
    .await;
    let pushed = done.status.unwrap().last_push_commit.unwrap();
    assert_eq!(
        server_git(&f.repo, &["log", "-1", "--format=%B", "main"]),
        format!(
            "1 file(s) for fleet\n\nDeployment/app: {}:1.1.0",
            f.registry.image("app")
        )
    );
    let allowed = keys.path().join("allowed_signers");
    std::fs::write(&allowed, format!("bot@example.com {}", key.public)).unwrap();
    let verified = std::process::Command::new("git")
        .current_dir(&f.repo.bare)
        .args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()))
        .args(["verify-commit", &pushed])
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(String::from_utf8_lossy(&verified.stderr).contains("Good \"git\" signature"));

    // A template still using Flux's removed `.Updated` stalls before any Git work.
    let mut outdated = automation("outdated", json!({"branch": "never"}));
    if let Some(git) = outdated.spec.git_spec.as_mut() {
        git.commit.message_template = Some("{{ range .Updated.Images }}{{ . }}{{ end }}".into());
    }
    create(&automations, &outdated).await;
    let stalled = wait_ready_is(
        &automations,
        "outdated",
        &f.controller,
        "False",
        "RemovedTemplateField",
    )
    .await;
    assert!(
        ready(&stalled)
            .unwrap()
            .2
            .contains("Please use '.Changed' instead")
    );
    assert!(
        git(
            &f.repo.bare,
            &["rev-parse", "--verify", "--quiet", "refs/heads/never"]
        )
        .is_err()
    );
}
