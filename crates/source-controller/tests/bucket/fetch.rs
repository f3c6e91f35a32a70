//! A bucket's objects become an artifact whose revision is Flux's digest of the listing:
//! prefix and ignore rules applied, announced, followed when an object changes or goes, and
//! nothing downloaded while the listing is unchanged.

use driftless_api::source::Bucket;
use driftless_artifact::Digest;
use driftless_testenv::s3::S3Server;
use kube::api::Api;
use serde_json::json;

use super::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn objects_are_stored_announced_and_followed() {
    let (plane, namespace, client) = setup("bucket-fetch").await;
    let server = S3Server::start().expect("S3 server");
    server.create_bucket("manifests").unwrap();
    server
        .put(
            "manifests",
            &[
                ("apps/app.yaml", b"kind: ConfigMap\n"),
                ("apps/nested/svc.yaml", b"kind: Service\n"),
                ("apps/notes.txt", b"ignored by spec.ignore\n"),
                ("apps/skip/x.yaml", b"ignored by .sourceignore\n"),
                ("apps/logo.png", b"ignored by default\n"),
                ("other/outside.yaml", b"outside the prefix\n"),
                (".sourceignore", b"skip/\n"),
            ],
        )
        .await
        .unwrap();
    create_credentials(&client, &namespace, &server).await;
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<Bucket> = Api::namespaced(client.clone(), &namespace);
    create_bucket(
        &api,
        "manifests",
        &server,
        json!({
            "bucketName": "manifests",
            "prefix": "apps/",
            "ignore": "*.txt\n",
            "secretRef": { "name": "s3-credentials" },
        }),
    )
    .await;

    let ready = wait_ready(&api, "manifests", &controller).await;
    let first = revision(&ready);
    assert!(first.starts_with("sha256:"), "{first}");
    assert_eq!(
        ready_message(&ready),
        format!("stored artifact: revision '{first}'")
    );
    let (_, tree) = download(&ready).await;
    assert_eq!(files(&tree), ["apps/app.yaml", "apps/nested/svc.yaml"]);
    assert_eq!(tree["apps/app.yaml"].data, b"kind: ConfigMap\n");
    let status = ready.status.clone().unwrap();
    assert_eq!(status.observed_ignore.as_deref(), Some("*.txt\n"));
    assert!(
        status
            .url
            .as_deref()
            .unwrap()
            .ends_with(&format!("bucket/{namespace}/manifests/latest.tar.gz"))
    );
    let announced = wait_for_event(&client, &namespace, "NewArtifact").await;
    assert_eq!(
        announced.message.as_deref(),
        Some("stored artifact with 2 fetched files from 'manifests' bucket")
    );

    // The revision is Flux's: the digest of "<key> <etag>" lines of what was kept.
    let listed = {
        use futures::TryStreamExt;
        use object_store::ObjectStore;
        let store = server.client("manifests").unwrap();
        let all: Vec<object_store::ObjectMeta> = store.list(None).try_collect().await.unwrap();
        let mut lines: Vec<String> = all
            .into_iter()
            .filter(|m| ["apps/app.yaml", "apps/nested/svc.yaml"].contains(&m.location.as_ref()))
            .map(|m| format!("{} {}\n", m.location, m.e_tag.unwrap().trim_matches('"')))
            .collect();
        lines.sort();
        lines.concat()
    };
    assert_eq!(first, Digest::of(listed.as_bytes()).to_string());

    // Nothing changed: the same artifact, not rewritten.
    let stored = ready.status.unwrap().artifact.unwrap();
    let again = request_reconcile(&api, "manifests", &controller).await;
    let kept = again.status.unwrap().artifact.unwrap();
    assert_eq!(kept.last_update_time, stored.last_update_time);

    // A changed object: a new revision with the new contents.
    server
        .put("manifests", &[("apps/app.yaml", b"kind: ConfigMap # v2\n")])
        .await
        .unwrap();
    request_reconcile(&api, "manifests", &controller).await;
    let changed = wait_for(&api, "manifests", &controller, "a new revision", |b| {
        !revision(b).is_empty() && revision(b) != first
    })
    .await;
    let (_, tree) = download(&changed).await;
    assert_eq!(files(&tree), ["apps/app.yaml", "apps/nested/svc.yaml"]);
    assert_eq!(tree["apps/app.yaml"].data, b"kind: ConfigMap # v2\n");

    // A deleted object: gone from the next artifact.
    let second = revision(&changed);
    server
        .delete("manifests", "apps/nested/svc.yaml")
        .await
        .unwrap();
    request_reconcile(&api, "manifests", &controller).await;
    let pruned = wait_for(&api, "manifests", &controller, "a third revision", |b| {
        !revision(b).is_empty() && revision(b) != second
    })
    .await;
    let (_, tree) = download(&pruned).await;
    assert_eq!(files(&tree), ["apps/app.yaml"]);
}
