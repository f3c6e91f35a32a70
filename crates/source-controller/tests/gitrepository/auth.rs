//! Credentials from `spec.secretRef`: HTTP basic and bearer auth, SSH keys with known hosts,
//! and HTTPS with a custom CA; each failure names what went wrong.

use driftless_api::source::GitRepository;
use driftless_testenv::conditions::condition;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::{Api, Patch, PatchParams};

use crate::revision;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_and_bearer_auth_and_their_failures() {
    let (plane, namespace, client) = setup("gitauth").await;
    let server = GitServer::start(GitAuth {
        basic: Some(("git".into(), "s3cret".into())),
        bearer: Some("t0ken".into()),
    })
    .unwrap();
    let repo = server.create_repo("private").unwrap();
    let commit = repo.commit(&[("app.yaml", "a: 1\n")], "private").unwrap();
    repo.push("main").unwrap();
    let url = server.url("private");

    let secrets: &[(&str, &[(&str, &str)])] = &[
        ("basic", &[("username", "git"), ("password", "s3cret")]),
        ("bearer", &[("bearerToken", "t0ken")]),
        ("wrong", &[("username", "git"), ("password", "nope")]),
        ("both", &[("username", "git"), ("bearerToken", "t0ken")]),
    ];
    create_secrets(&client, &namespace, secrets).await;

    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    create_with_secret(&api, "basic", &url, "basic").await;
    create_with_secret(&api, "bearer", &url, "bearer").await;
    create_following(&api, "anonymous", &url, "main").await;
    create_with_secret(&api, "wrong", &url, "wrong").await;
    create_with_secret(&api, "missing", &url, "does-not-exist").await;
    create_with_secret(&api, "both", &url, "both").await;

    for name in ["basic", "bearer"] {
        let object = wait_ready(&api, name, &controller).await;
        assert_eq!(revision(&object), format!("main@sha1:{commit}"));
        download(&object).await;
    }
    for (name, fragment) in [
        ("anonymous", "authentication"),
        ("wrong", "authentication"),
        ("missing", "failed to get secret"),
        ("both", "username and bearerToken cannot both be set"),
    ] {
        let object = wait_not_ready(&api, name, &controller, "AuthenticationFailed").await;
        let status = object.status.as_ref().unwrap();
        let message = ready_message(&object);
        assert!(
            message.to_lowercase().contains(&fragment.to_lowercase()),
            "{name}: {message}"
        );
        let fetch_failed = condition(&status.conditions, "FetchFailed");
        assert_eq!(fetch_failed.status, "True");
        assert_eq!(fetch_failed.reason, "AuthenticationFailed");
        // Retried, not stalled.
        assert!(
            status
                .conditions
                .iter()
                .any(|c| c.type_ == "Reconciling" && c.reason == "ProgressingWithRetry"),
            "{name}"
        );
        assert!(status.artifact.is_none());
        assert_final_status(name, &object);
    }
    // Credentials never leave through the URL or status.
    let text = serde_json::to_string(&api.get("basic").await.unwrap()).unwrap();
    assert!(!text.contains("s3cret"));

    // Fixing the Secret recovers on the next retry.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), &namespace);
    secrets
        .patch(
            "wrong",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"stringData": {"password": "s3cret"}})),
        )
        .await
        .unwrap();
    request_reconcile(&api, "wrong", &controller).await;
    wait_ready(&api, "wrong", &controller).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_with_key_auth_known_hosts_and_passphrases() {
    use driftless_testenv::ssh::{SshGitServer, generate_key};
    let (plane, namespace, client) = setup("gitssh").await;
    let keys = tempfile::tempdir().unwrap();
    let plain = generate_key(keys.path(), "plain", None).unwrap();
    let protected = generate_key(keys.path(), "protected", Some("open sesame")).unwrap();
    let stranger = generate_key(keys.path(), "stranger", None).unwrap();
    let server = SshGitServer::start(&[&plain.public, &protected.public]).unwrap();
    let repo = server.create_repo("over-ssh").unwrap();
    let commit = repo.commit(&[("app.yaml", "via: ssh\n")], "ssh").unwrap();
    repo.push("main").unwrap();
    let url = server.url(&repo);
    let known_hosts = server.known_hosts();
    // Another host's key: what a man-in-the-middle would present.
    let other_host = generate_key(keys.path(), "other_host", None).unwrap();
    let wrong_hosts = format!(
        "[127.0.0.1]:{} {}",
        server.addr.port(),
        other_host.public.trim()
    );

    let secrets: &[(&str, &[(&str, &str)])] = &[
        (
            "plain",
            &[("identity", &plain.private), ("known_hosts", &known_hosts)],
        ),
        (
            "protected",
            &[
                ("identity", &protected.private),
                ("known_hosts", &known_hosts),
                ("password", "open sesame"),
            ],
        ),
        (
            "stranger",
            &[
                ("identity", &stranger.private),
                ("known_hosts", &known_hosts),
            ],
        ),
        (
            "wrong-host",
            &[("identity", &plain.private), ("known_hosts", &wrong_hosts)],
        ),
        ("no-known-hosts", &[("identity", &plain.private)]),
    ];
    create_secrets(&client, &namespace, secrets).await;

    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    for secret in [
        "plain",
        "protected",
        "stranger",
        "wrong-host",
        "no-known-hosts",
    ] {
        create_with_secret(&api, secret, &url, secret).await;
    }
    create_following(&api, "no-secret", &url, "main").await;

    for name in ["plain", "protected"] {
        let object = wait_ready(&api, name, &controller).await;
        assert_eq!(revision(&object), format!("main@sha1:{commit}"));
        let (_, tree) = download(&object).await;
        assert_eq!(tree["app.yaml"].data, b"via: ssh\n");
    }
    for (name, fragment) in [
        ("stranger", "permission denied"),
        ("wrong-host", "host key verification failed"),
        ("no-known-hosts", "known_hosts"),
        ("no-secret", "secretref"),
    ] {
        let object = wait_not_ready(&api, name, &controller, "AuthenticationFailed").await;
        let message = ready_message(&object).to_lowercase();
        assert!(
            message.contains(fragment),
            "{name}: {message}\n{}",
            server.log()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_custom_ca() {
    let (plane, namespace, client) = setup("gittls").await;
    let server = GitServer::start_tls(GitAuth {
        basic: Some(("git".into(), "s3cret".into())),
        bearer: None,
    })
    .unwrap();
    let ca = server.ca_pem.clone().unwrap();
    let repo = server.create_repo("tls").unwrap();
    let commit = repo.commit(&[("app.yaml", "tls: true\n")], "tls").unwrap();
    repo.push("main").unwrap();
    let url = server.url("tls");
    assert!(url.starts_with("https://"));

    let secrets: &[(&str, &[(&str, &str)])] = &[
        (
            "trusted",
            &[("username", "git"), ("password", "s3cret"), ("ca.crt", &ca)],
        ),
        ("untrusted", &[("username", "git"), ("password", "s3cret")]),
    ];
    create_secrets(&client, &namespace, secrets).await;
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    for secret in ["trusted", "untrusted"] {
        create_with_secret(&api, secret, &url, secret).await;
    }
    let object = wait_ready(&api, "trusted", &controller).await;
    assert_eq!(revision(&object), format!("main@sha1:{commit}"));
    // Without the CA the server's certificate is not trusted.
    let object = wait_not_ready(&api, "untrusted", &controller, "GitOperationFailed").await;
    let message = ready_message(&object).to_lowercase();
    assert!(
        message.contains("certificate") || message.contains("tls"),
        "{message}"
    );
}
