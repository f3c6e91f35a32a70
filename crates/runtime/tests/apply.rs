//! The applier against the real API server: validated (planned) applies write nothing when
//! one object is invalid; direct writes (a Helm install) skip the look and the dry run.

use driftless_runtime::apply::{Action, Applier, ApplyOptions};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use serde_json::{Value, json};

fn config_map(namespace: &str, name: &str, data: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    })
}

fn actions(changes: &[driftless_runtime::apply::Change]) -> Vec<(String, Action)> {
    let mut actions: Vec<_> = changes
        .iter()
        .map(|c| (c.id.name.clone(), c.action))
        .collect();
    actions.sort_by(|a, b| a.0.cmp(&b.0));
    actions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_writes_skip_validation_and_planned_applies_validate_first() {
    let plane = driftless_testenv::shared().await.unwrap();
    let namespace = plane.namespace("apply").await.unwrap();
    let client = plane.client().await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let applier = Applier::new(client, "apply-test");
    let planned = ApplyOptions::new("apply-test", false, &[]);
    let mut direct = planned.clone();
    direct.write_directly = true;
    let objects = || {
        vec![
            config_map(&namespace, "a", json!({"k": "1"})),
            config_map(&namespace, "b", json!({"k": "2"})),
        ]
    };

    let written = applier.apply_all(objects(), &direct).await.unwrap();
    assert_eq!(
        actions(&written),
        [("a".into(), Action::Created), ("b".into(), Action::Created)]
    );
    // Looked at, the same objects are unchanged.
    let again = applier.apply_all(objects(), &planned).await.unwrap();
    assert_eq!(
        actions(&again),
        [
            ("a".into(), Action::Unchanged),
            ("b".into(), Action::Unchanged)
        ]
    );

    // One invalid object (a ConfigMap value must be a string): a planned apply writes none
    // of them; direct writes write the valid one and fail the invalid one.
    let with_invalid = || {
        vec![
            config_map(&namespace, "c", json!({"k": "3"})),
            config_map(&namespace, "d", json!({"k": {"not": "a string"}})),
        ]
    };
    let failure = applier
        .apply_all(with_invalid(), &planned)
        .await
        .unwrap_err();
    assert!(failure.to_string().contains("ConfigMap/"), "{failure}");
    assert!(config_maps.get_opt("c").await.unwrap().is_none());
    let failure = applier
        .apply_all(with_invalid(), &direct)
        .await
        .unwrap_err();
    assert!(failure.to_string().contains("/d"), "{failure}");
    assert!(config_maps.get_opt("c").await.unwrap().is_some());
    assert!(config_maps.get_opt("d").await.unwrap().is_none());
}
