//! `spec.recurseSubmodules`: submodules at their pinned commits, only when asked.

use driftless_api::source::GitRepository;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::Api;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submodules_are_fetched_when_asked() {
    let (plane, namespace, client) = setup("gitsubmodules").await;
    let server = GitServer::start(GitAuth {
        basic: Some(("git".into(), "s3cret".into())),
        bearer: None,
    })
    .unwrap();
    let lib = server.create_repo("lib").unwrap();
    let lib_commit = lib.commit(&[("base/lib.yaml", "lib: 1\n")], "lib").unwrap();
    lib.push("main").unwrap();
    // Moves on after being pinned: the artifact must hold the pinned commit.
    lib.commit(&[("base/lib.yaml", "lib: 2\n")], "lib two")
        .unwrap();
    lib.push("main").unwrap();

    let app = server.create_repo("app").unwrap();
    app.commit(&[("deploy/app.yaml", "app: 1\n")], "app")
        .unwrap();
    app.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "--quiet",
        "add",
        "../lib.git",
        "vendor/lib",
    ])
    .unwrap();
    app.git(&["-C", "vendor/lib", "checkout", "--quiet", &lib_commit])
        .unwrap();
    app.commit(&[], "add lib").unwrap();
    app.push("main").unwrap();
    assert!(
        app.git(&["show", "HEAD:.gitmodules"])
            .unwrap()
            .contains("url = ../lib.git")
    );

    let bad = server.create_repo("bad").unwrap();
    bad.commit(&[("x.yaml", "x: 1\n")], "bad").unwrap();
    bad.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "--quiet",
        "add",
        &format!("file://{}", lib.bare.display()),
        "local",
    ])
    .unwrap();
    bad.commit(&[], "local submodule").unwrap();
    bad.push("main").unwrap();

    create_secret(
        &client,
        &namespace,
        "creds",
        &[("username", "git"), ("password", "s3cret")],
    )
    .await;
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let spec = |recurse: bool| serde_json::json!({"ref": {"branch": "main"}, "secretRef": {"name": "creds"}, "recurseSubmodules": recurse});
    create_git_repository(&api, "recursive", &server.url("app"), spec(true)).await;
    create_git_repository(&api, "flat", &server.url("app"), spec(false)).await;
    create_git_repository(&api, "local-url", &server.url("bad"), spec(true)).await;

    let recursive = wait_ready(&api, "recursive", &controller).await;
    assert!(
        recursive
            .status
            .as_ref()
            .unwrap()
            .observed_recurse_submodules
    );
    let (_, tree) = download(&recursive).await;
    // .gitmodules is one of the VCS files Flux always leaves out.
    assert_eq!(
        files(&tree),
        ["deploy/app.yaml", "vendor/lib/base/lib.yaml"]
    );
    assert_eq!(tree["vendor/lib/base/lib.yaml"].data, b"lib: 1\n");

    let flat = wait_ready(&api, "flat", &controller).await;
    let (_, tree) = download(&flat).await;
    assert_eq!(files(&tree), ["deploy/app.yaml"]);

    let failed = wait_not_ready(&api, "local-url", &controller, "GitOperationFailed").await;
    let message = ready_message(&failed);
    assert!(
        message.contains("unsupported submodule URL 'file://"),
        "{message}"
    );
}
