//! Tag, semver (with a filter) and digest references, each with Flux's revision format.

use driftless_api::source::OCIRepository;
use driftless_testenv::registry::{Registry, RegistryOptions};
use kube::api::Api;
use serde_json::json;

use super::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn tags_semver_ranges_and_digests_pick_the_artifact() {
    let (plane, namespace, client) = setup("oci-refs").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    let mut digests = BTreeMap::new();
    for tag in ["1.0.0", "1.1.0", "v1.2.0-rc.1", "2.0.0-rc.1", "latest"] {
        let digest = push(
            &registry,
            "app",
            tag,
            flux_artifact(&[("version.txt", tag)], &format!("{tag}@sha1:0")),
        )
        .await;
        digests.insert(tag, digest);
    }
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<OCIRepository> = Api::namespaced(client.clone(), &namespace);
    let app = url(&registry, "app");
    let cases = [
        ("tag", json!({ "tag": "1.0.0" }), "1.0.0", true),
        ("semver", json!({ "semver": "1.x" }), "1.1.0", true),
        (
            "semver-rc",
            json!({ "semver": ">=1.0.0-0", "semverFilter": ".*-rc.*" }),
            "2.0.0-rc.1",
            true,
        ),
        (
            "semver-v",
            json!({ "semver": ">=1.2.0-0 <2.0.0", "semverFilter": "^v" }),
            "v1.2.0-rc.1",
            true,
        ),
        (
            "digest",
            json!({ "digest": digests["1.1.0"], "tag": "1.0.0" }),
            "1.1.0",
            false,
        ),
    ];
    for (name, reference, _, _) in &cases {
        create_oci(
            &api,
            name,
            json!({ "url": app, "insecure": true, "ref": reference }),
        )
        .await;
    }
    for (name, _, tag, tagged) in cases {
        let ready = wait_ready(&api, name, &controller).await;
        let expected = if tagged {
            format!("{tag}@{}", digests[tag])
        } else {
            digests[tag].clone()
        };
        assert_eq!(artifact(&ready).revision, expected, "{name}");
        let (_, tree) = download(&ready).await;
        assert_eq!(tree["version.txt"].data, tag.as_bytes(), "{name}");
    }
    // No ref at all follows `latest`.
    create_oci(&api, "default", json!({ "url": app, "insecure": true })).await;
    let ready = wait_ready(&api, "default", &controller).await;
    assert_eq!(
        artifact(&ready).revision,
        format!("latest@{}", digests["latest"])
    );
}
