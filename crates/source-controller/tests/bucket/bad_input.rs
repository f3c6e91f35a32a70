//! Bad input with a specific reason: wrong credentials, a missing bucket, a server that does
//! not answer, an unsafe key; the last good artifact keeps being served.

use driftless_api::source::Bucket;
use driftless_testenv::s3::S3Server;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::*;
use crate::support::*;

fn stalled(bucket: &Bucket) -> bool {
    driftless_testenv::conditions::has_condition(
        &bucket.status.as_ref().unwrap().conditions,
        "Stalled",
        "True",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_reported_and_the_last_artifact_kept() {
    let (plane, namespace, client) = setup("bucket-bad").await;
    let server = S3Server::start().expect("S3 server");
    server.create_bucket("data").unwrap();
    server
        .put("data", &[("app.yaml", b"a: 1\n")])
        .await
        .unwrap();
    create_credentials(&client, &namespace, &server).await;
    support::create_secret(
        &client,
        &namespace,
        "wrong",
        &[("accesskey", "nobody"), ("secretkey", "nothing")],
    )
    .await;
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<Bucket> = Api::namespaced(client.clone(), &namespace);

    // A Secret that does not exist.
    create_bucket(
        &api,
        "no-secret",
        &server,
        json!({ "bucketName": "data", "secretRef": { "name": "nowhere" } }),
    )
    .await;
    let missing = wait_not_ready(&api, "no-secret", &controller, "AuthenticationFailed").await;
    assert!(
        ready_message(&missing).starts_with(&format!("failed to get secret '{namespace}/nowhere'")),
        "{}",
        ready_message(&missing)
    );

    // Credentials the server refuses.
    create_bucket(
        &api,
        "refused",
        &server,
        json!({ "bucketName": "data", "secretRef": { "name": "wrong" } }),
    )
    .await;
    let refused = wait_not_ready(&api, "refused", &controller, "BucketOperationFailed").await;
    assert!(
        ready_message(&refused).contains("listing objects from bucket 'data' failed"),
        "{}",
        ready_message(&refused)
    );
    assert!(!stalled(&refused));

    // A bucket that does not exist.
    create_bucket(
        &api,
        "no-bucket",
        &server,
        json!({ "bucketName": "absent", "secretRef": { "name": "s3-credentials" } }),
    )
    .await;
    let absent = wait_not_ready(&api, "no-bucket", &controller, "BucketOperationFailed").await;
    assert_eq!(ready_message(&absent), "bucket 'absent' not found");

    // An endpoint with a path: only a new spec helps.
    create_bucket(
        &api,
        "bad-endpoint",
        &server,
        json!({ "bucketName": "data", "endpoint": format!("{}/path", server.endpoint) }),
    )
    .await;
    let invalid = wait_not_ready(&api, "bad-endpoint", &controller, "BucketOperationFailed").await;
    assert!(
        ready_message(&invalid).contains("fully qualified paths"),
        "{}",
        ready_message(&invalid)
    );
    assert!(stalled(&invalid));

    // Built once; then the server goes away: Ready=False, the artifact still served.
    create_bucket(
        &api,
        "good",
        &server,
        json!({ "bucketName": "data", "secretRef": { "name": "s3-credentials" } }),
    )
    .await;
    let good = wait_ready(&api, "good", &controller).await;
    let served = good.status.clone().unwrap().artifact.unwrap();
    let closed = driftless_testenv::free_ports::<1>().unwrap()[0];
    api.patch(
        "good",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "endpoint": format!("127.0.0.1:{closed}") } })),
    )
    .await
    .unwrap();
    let failing = wait_not_ready(&api, "good", &controller, "BucketOperationFailed").await;
    assert_eq!(
        failing.status.clone().unwrap().artifact.as_ref(),
        Some(&served)
    );
    let still = reqwest::get(&served.url).await.unwrap();
    assert_eq!(still.status(), 200);
}
