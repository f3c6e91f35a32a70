//! kustomize-controller end to end: a real control plane, a real `git http-backend`, and the
//! source-controller and kustomize-controller binaries. Create, update, drift, bad commit,
//! prune and deletion, each checked on the cluster and on the Kustomization's status.

mod support;

use std::time::{Duration, Instant};

use driftless_api::kustomize::Kustomization;
use driftless_api::source::GitRepository;
use driftless_e2e::repo_root;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use support::*;

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: ${color}\n  size: ${size}\n  zone: ${zone:=a}\n";
const EXTRA: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n";
const SERVICE: &str =
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n";

#[tokio::test(flavor = "multi_thread")]
async fn applies_updates_reverts_drift_prunes_and_survives_a_bad_commit() {
    let (plane, namespace, client) = cluster("ks").await;

    let (git, repo) = app_repository(
        &[
            ("deploy/configmap.yaml", CONFIG_MAP),
            ("deploy/service.yaml", SERVICE),
            ("extra/extra.yaml", EXTRA),
        ],
        "first",
    );

    let controllers = Controllers::start(
        plane,
        &namespace,
        &["--log-level=debug"],
        &["--requeue-dependency=1s"],
    );
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;
    let sources: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);

    // Variables for post-build substitution.
    let vars: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "vars" }, "data": { "color": "blue", "size": "S" },
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &vars)
        .await
        .expect("vars");

    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    let app = kustomization(
        "app",
        &namespace,
        serde_json::json!({
            "path": "./deploy",
            "commonMetadata": { "labels": { "team": "shop" } },
            "postBuild": {
                "substituteFrom": [{ "kind": "ConfigMap", "name": "vars" }, { "kind": "Secret", "name": "absent", "optional": true }],
                "substitute": { "size": "L" },
            },
        }),
    );
    kustomizations
        .create(&PostParams::default(), &app)
        .await
        .expect("create Kustomization");

    // Created: both objects, owned and labelled; Ready with the revision; inventory.
    let first = wait_for(
        "first revision applied",
        async || {
            let k = kustomizations.get("app").await.ok()?;
            (ready(&k)?.0 == "True").then(|| k.status.and_then(|s| s.last_applied_revision))?
        },
        &logs,
    )
    .await;
    assert!(first.starts_with("main@sha1:"), "{first}");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let settings = config_maps
        .get("settings")
        .await
        .expect("ConfigMap applied");
    let labels = settings.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("kustomize.toolkit.fluxcd.io/name")
            .map(String::as_str),
        Some("app")
    );
    assert_eq!(labels.get("team").map(String::as_str), Some("shop"));
    services.get("web").await.expect("Service applied");
    let data = settings.data.clone().unwrap_or_default();
    let get = |key: &str| data.get(key).cloned().unwrap_or_default();
    assert_eq!(
        (get("color"), get("size"), get("zone")),
        ("blue".into(), "L".into(), "a".into()),
        "substituted: {settings:?}\n{}",
        logs()
    );
    let status = kustomizations.get("app").await.unwrap().status.unwrap();
    let ids: Vec<String> = status
        .inventory
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert!(
        ids.contains(&format!("{namespace}_settings__ConfigMap"))
            && ids.contains(&format!("{namespace}_web__Service")),
        "{ids:?}"
    );
    let (_, reason, message) = ready(&kustomizations.get("app").await.unwrap()).unwrap();
    assert_eq!(
        (reason.as_str(), message),
        (
            "ReconciliationSucceeded",
            format!("Applied revision: {first}")
        )
    );
    // status.history: one snapshot of what was applied.
    let history = |k: Kustomization| k.status.map(|s| s.history).unwrap_or_default();
    let first_history = history(kustomizations.get("app").await.unwrap());
    assert_eq!(first_history.len(), 1, "{first_history:?}");
    assert_eq!(
        first_history[0].last_reconciled_status,
        "ReconciliationSucceeded"
    );
    assert_eq!(first_history[0].metadata["revision"], first);
    assert!(first_history[0].digest.starts_with("sha256:"));

    // Drift: a manual edit is reverted on the next reconcile.
    let drift = serde_json::json!({ "data": { "color": "red" } });
    config_maps
        .patch("settings", &PatchParams::default(), &Patch::Merge(&drift))
        .await
        .expect("drift");
    request_reconcile(&kustomizations, "app").await;
    wait_for(
        "drift reverted",
        async || {
            (config_maps.get("settings").await.ok()?.data?.get("color")? == "blue").then_some(())
        },
        &logs,
    )
    .await;

    // The correction is reported with Flux's change-set line, nothing appended, so Alert
    // inclusion and exclusion rules written for Flux match it.
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(client.clone(), &namespace);
    let expected = format!("ConfigMap/{namespace}/settings configured");
    wait_for(
        "drift event",
        async || {
            let list = events.list(&Default::default()).await.ok()?;
            list.items
                .iter()
                .any(|e| {
                    e.message
                        .as_deref()
                        .is_some_and(|m| m.lines().any(|l| l == expected))
                })
                .then_some(())
        },
        &logs,
    )
    .await;

    // A substitution source with the watch label reconciles its Kustomization when it
    // changes, long before the ten-minute interval.
    let watched = serde_json::json!({
        "metadata": { "labels": { "reconcile.fluxcd.io/watch": "Enabled" } },
        "data": { "color": "purple" },
    });
    Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .patch("vars", &PatchParams::default(), &Patch::Merge(&watched))
        .await
        .expect("label and change vars");
    wait_for(
        "substitution source change applied",
        async || {
            (config_maps.get("settings").await.ok()?.data?.get("color")? == "purple").then_some(())
        },
        &logs,
    )
    .await;

    // Update and prune: a new commit changes the ConfigMap and drops the Service.
    repo.remove("deploy/service.yaml").expect("remove");
    repo.commit(
        &[(
            "deploy/configmap.yaml",
            &CONFIG_MAP.replace("${color}", "green"),
        )],
        "second",
    )
    .expect("commit");
    repo.push("main").expect("push");
    request_reconcile(&sources, "app").await;
    let second = wait_for(
        "second revision applied",
        async || {
            let revision = kustomizations
                .get("app")
                .await
                .ok()?
                .status?
                .last_applied_revision?;
            (revision != first).then_some(revision)
        },
        &logs,
    )
    .await;
    assert_eq!(
        config_maps.get("settings").await.unwrap().data.unwrap()["color"],
        "green"
    );
    wait_for(
        "Service pruned",
        async || services.get_opt("web").await.ok()?.is_none().then_some(()),
        &logs,
    )
    .await;
    // Other objects, another snapshot in front.
    let second_history = history(kustomizations.get("app").await.unwrap());
    assert_eq!(second_history[0].metadata["revision"], second);
    assert_ne!(second_history[0].digest, first_history[0].digest);
    // In between, the substitution change built other objects too.
    let digests: Vec<&str> = second_history.iter().map(|s| s.digest.as_str()).collect();
    assert_eq!(digests.len(), 3, "{second_history:?}");
    assert_eq!(digests[2], first_history[0].digest);

    // A broken commit: Ready=False with the build error; nothing applied is deleted.
    repo.commit(&[("deploy/broken.yaml", "kind: [")], "broken")
        .expect("commit");
    repo.push("main").expect("push");
    request_reconcile(&sources, "app").await;
    let (status, reason, message) = wait_for(
        "build failure reported",
        async || {
            let k = kustomizations.get("app").await.ok()?;
            let ready = ready(&k)?;
            (ready.0 == "False").then_some(ready)
        },
        &logs,
    )
    .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "BuildFailed"),
        "{message}"
    );
    assert!(message.contains("broken.yaml"), "{message}");
    assert_eq!(
        kustomizations
            .get("app")
            .await
            .unwrap()
            .status
            .unwrap()
            .last_applied_revision
            .as_deref(),
        Some(second.as_str())
    );
    config_maps
        .get("settings")
        .await
        .expect("still applied after a failed build");

    // The next good commit recovers.
    repo.remove("deploy/broken.yaml").expect("remove");
    repo.commit(&[], "fixed").expect("commit");
    repo.push("main").expect("push");
    request_reconcile(&sources, "app").await;
    wait_for(
        "recovery",
        async || (ready(&kustomizations.get("app").await.ok()?)?.0 == "True").then_some(()),
        &logs,
    )
    .await;
    // A failed build records nothing; the fixed commit builds the second revision's objects
    // again, so that snapshot counts one more reconciliation under the new revision.
    let fixed_history = history(kustomizations.get("app").await.unwrap());
    assert_eq!(fixed_history.len(), 3, "{fixed_history:?}");
    assert_eq!(fixed_history[0].digest, second_history[0].digest);
    assert!(fixed_history[0].total_reconciliations > second_history[0].total_reconciliations);
    assert_ne!(fixed_history[0].metadata["revision"], second);

    // dependsOn: a Ready dependency lets a dependent apply; a missing one holds it back.
    for (name, depends_on, prefix) in [
        ("after", "app", "after-"),
        ("blocked", "missing", "blocked-"),
    ] {
        let dependent = kustomization(
            name,
            &namespace,
            serde_json::json!({
                "path": "./extra", "namePrefix": prefix, "dependsOn": [{ "name": depends_on }],
            }),
        );
        kustomizations
            .create(&PostParams::default(), &dependent)
            .await
            .expect("create dependent");
    }
    wait_for(
        "dependent applied",
        async || (ready(&kustomizations.get("after").await.ok()?)?.0 == "True").then_some(()),
        &logs,
    )
    .await;
    config_maps
        .get("after-extra")
        .await
        .expect("dependent's object applied");
    let (status, reason, message) = wait_for(
        "dependent held back",
        async || ready(&kustomizations.get("blocked").await.ok()?).filter(|r| r.0 == "False"),
        &logs,
    )
    .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "DependencyNotReady")
    );
    assert!(
        message.contains(&format!("dependency '{namespace}/missing' not found")),
        "{message}"
    );
    assert!(
        config_maps
            .get_opt("blocked-extra")
            .await
            .unwrap()
            .is_none()
    );

    // Impersonation: a service account without RBAC is refused by the API server; granted
    // access, the next reconcile applies.
    let account: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(serde_json::json!({ "metadata": { "name": "limited" } })).unwrap();
    Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &account)
        .await
        .expect("service account");
    let denied = kustomization(
        "denied",
        &namespace,
        serde_json::json!({ "path": "./extra", "namePrefix": "denied-", "serviceAccountName": "limited" }),
    );
    kustomizations
        .create(&PostParams::default(), &denied)
        .await
        .expect("create denied");
    let (_, reason, message) = wait_for(
        "impersonated apply refused",
        async || ready(&kustomizations.get("denied").await.ok()?).filter(|r| r.0 == "False"),
        &logs,
    )
    .await;
    assert_eq!(reason, "ReconciliationFailed", "{message}");
    assert!(
        message.contains("forbidden")
            && message.contains(&format!("system:serviceaccount:{namespace}:limited")),
        "{message}"
    );
    assert!(config_maps.get_opt("denied-extra").await.unwrap().is_none());
    let rbac: Vec<serde_json::Value> = vec![
        serde_json::json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": { "name": "limited", "namespace": namespace },
            "rules": [{ "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"] }] }),
        serde_json::json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": { "name": "limited", "namespace": namespace },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "limited" },
            "subjects": [{ "kind": "ServiceAccount", "name": "limited", "namespace": namespace }] }),
    ];
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(client.clone(), &namespace);
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(rbac[0].clone()).unwrap(),
        )
        .await
        .expect("role");
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(client.clone(), &namespace);
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(rbac[1].clone()).unwrap(),
        )
        .await
        .expect("binding");
    request_reconcile(&kustomizations, "denied").await;
    wait_for(
        "impersonated apply allowed",
        async || (ready(&kustomizations.get("denied").await.ok()?)?.0 == "True").then_some(()),
        &logs,
    )
    .await;
    config_maps
        .get("denied-extra")
        .await
        .expect("applied as the service account");

    // Deleting the Kustomization prunes what it applied (prune: true, MirrorPrune).
    kustomizations
        .delete("app", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for(
        "objects pruned on deletion",
        async || {
            config_maps
                .get_opt("settings")
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
        &logs,
    )
    .await;
    wait_for(
        "Kustomization gone",
        async || {
            kustomizations
                .get_opt("app")
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
        &logs,
    )
    .await;
}

const ROLLED_OUT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: idle\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {app: idle}\n  template:\n    metadata:\n      labels: {app: idle}\n    spec:\n      containers:\n      - name: idle\n        image: example.com/idle:1\n";

/// One worker (`--concurrent=1`): a Kustomization waiting on a rollout that never finishes
/// (no kubelet here) must not delay another; it fails with HealthCheckFailed at its timeout.
#[tokio::test(flavor = "multi_thread")]
async fn health_checks_report_without_blocking_other_kustomizations() {
    let (plane, namespace, client) = cluster("health").await;
    let stuck = ROLLED_OUT
        .replace("idle", "stuck")
        .replace("replicas: 0", "replicas: 1");
    let (git, _repo) = app_repository(
        &[
            ("idle/deployment.yaml", ROLLED_OUT),
            ("stuck/deployment.yaml", &stuck),
        ],
        "apps",
    );

    let controllers = Controllers::start(plane, &namespace, &[], &["--concurrent=1"]);
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;

    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    // The stuck one first, so that with one worker it is the one being reconciled.
    kustomizations
        .create(
            &PostParams::default(),
            &kustomization(
                "stuck",
                &namespace,
                serde_json::json!({ "path": "./stuck", "wait": true, "timeout": "8s" }),
            ),
        )
        .await
        .expect("stuck");
    let started = Instant::now();
    kustomizations
        .create(
            &PostParams::default(),
            &kustomization(
                "idle",
                &namespace,
                serde_json::json!({ "path": "./idle", "wait": true }),
            ),
        )
        .await
        .expect("idle");

    let healthy = wait_for(
        "idle healthy",
        async || {
            let k = kustomizations.get("idle").await.ok()?;
            let (ready, _, _) = ready(&k)?;
            let healthy = k
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Healthy" && c.status == "True")?;
            (ready == "True").then_some(healthy.message)
        },
        &logs,
    )
    .await;
    assert!(healthy.starts_with("Health check passed in"), "{healthy}");
    let stuck_state = ready(&kustomizations.get("stuck").await.unwrap());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the healthy Kustomization waited for the stuck one's timeout: {:?} ({stuck_state:?})",
        started.elapsed()
    );

    let (status, reason, message) = wait_for(
        "stuck fails its health check",
        async || ready(&kustomizations.get("stuck").await.ok()?).filter(|r| r.0 == "False"),
        &logs,
    )
    .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "HealthCheckFailed"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "Deployment/{namespace}/stuck status: 'InProgress'"
        )),
        "{message}"
    );
    let healthy_condition = kustomizations
        .get("stuck")
        .await
        .unwrap()
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Healthy")
        .unwrap();
    assert_eq!(
        (
            healthy_condition.status.as_str(),
            healthy_condition.reason.as_str()
        ),
        ("False", "HealthCheckFailed")
    );
}

const SOPS_SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: s3cr3t
  port: \"5432\"
";
const SOPS_ENV: &str = "USER=admin\nTOKEN=t0k3n\n";
const WRAPPED_CONFIG: &str = "endpoint: https://db.local\nretries: 3\n";

async fn secret_data(
    secrets: &Api<k8s_openapi::api::core::v1::Secret>,
    name: &str,
) -> Option<std::collections::BTreeMap<String, String>> {
    let secret = secrets.get_opt(name).await.ok()??;
    Some(
        secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sops_secrets_are_decrypted_and_encrypted_ones_never_applied() {
    use base64::Engine;
    use k8s_openapi::api::core::v1::Secret;

    let (plane, namespace, client) = cluster("kssops").await;
    let key = driftless_testenv::sops::AgeKey::generate().expect("age key");
    let encrypt = |name: &str, plain: &str, flags: &[&str]| {
        String::from_utf8(key.encrypt(name, plain.as_bytes(), flags).expect("sops")).unwrap()
    };
    // A Secret manifest, a dotenv file and a YAML file as sops encrypts them, and a Secret
    // whose value is that whole encrypted YAML file.
    let secret = encrypt(
        "secret.yaml",
        SOPS_SECRET,
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    let env = encrypt("app.env", SOPS_ENV, &[]);
    let config = encrypt("config.yaml", WRAPPED_CONFIG, &[]);
    assert!(!secret.contains("s3cr3t") && !env.contains("t0k3n") && !config.contains("db.local"));
    let wrapped = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: wrapped\ndata:\n  config.yaml: {}\n",
        base64::engine::general_purpose::STANDARD.encode(&config)
    );
    let kustomization_file = "resources:\n- secret.yaml\n- wrapped.yaml\nsecretGenerator:\n- name: generated\n  envs:\n  - app.env\n";

    let (git, _repo) = app_repository(
        &[
            ("sops/kustomization.yaml", kustomization_file),
            ("sops/secret.yaml", &secret),
            ("sops/wrapped.yaml", &wrapped),
            ("sops/app.env", &env),
        ],
        "encrypted secrets",
    );

    // The controller's own key Secret serves Kustomizations that name none.
    let controllers = Controllers::start(
        plane,
        &namespace,
        &[],
        &["--requeue-dependency=1s", "--sops-age-secret=sops-age"],
    );
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;

    let keys: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "sops-age" },
        "stringData": { "identity.agekey": key.private, "ignored.txt": "not a key" },
    }))
    .unwrap();
    let secrets_here: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    secrets_here
        .create(&PostParams::default(), &keys)
        .await
        .expect("age key Secret");
    let other = driftless_testenv::sops::AgeKey::generate().expect("second age key");
    let wrong: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "wrong-age" },
        "stringData": { "identity.agekey": other.private },
    }))
    .unwrap();
    secrets_here
        .create(&PostParams::default(), &wrong)
        .await
        .expect("wrong age key Secret");

    // Each Kustomization applies into a namespace of its own.
    let mut targets = Vec::new();
    for prefix in ["sops-ok", "sops-none", "sops-wrong", "sops-global"] {
        targets.push(plane.namespace(prefix).await.expect("namespace"));
    }
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    for (name, target, decryption) in [
        (
            "decrypted",
            &targets[0],
            Some(serde_json::json!({ "provider": "sops", "secretRef": { "name": "sops-age" } })),
        ),
        ("not-configured", &targets[1], None),
        (
            "wrong-key",
            &targets[2],
            Some(serde_json::json!({ "provider": "sops", "secretRef": { "name": "wrong-age" } })),
        ),
        (
            "global-key",
            &targets[3],
            Some(serde_json::json!({ "provider": "sops" })),
        ),
    ] {
        let mut spec = serde_json::json!({ "path": "./sops" });
        if let Some(decryption) = decryption {
            spec["decryption"] = decryption;
        }
        kustomizations
            .create(&PostParams::default(), &kustomization(name, target, spec))
            .await
            .expect("create Kustomization");
    }

    // Decrypted in memory and applied as plaintext.
    let decrypted: Api<Secret> = Api::namespaced(client.clone(), &targets[0]);
    wait_for(
        "decrypted Kustomization Ready",
        async || {
            let k = kustomizations.get("decrypted").await.ok()?;
            (ready(&k)?.0 == "True").then_some(())
        },
        &logs,
    )
    .await;
    let db = secret_data(&decrypted, "db").await.expect("Secret db");
    assert_eq!(db.get("password").map(String::as_str), Some("s3cr3t"));
    assert_eq!(db.get("port").map(String::as_str), Some("5432"));
    let generated = decrypted
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .find(|s| {
            s.metadata
                .name
                .as_deref()
                .unwrap_or("")
                .starts_with("generated-")
        })
        .expect("generated Secret");
    let generated = secret_data(&decrypted, generated.metadata.name.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(generated.get("USER").map(String::as_str), Some("admin"));
    assert_eq!(generated.get("TOKEN").map(String::as_str), Some("t0k3n"));
    assert!(
        !generated.keys().any(|k| k.starts_with("sops_")),
        "{generated:?}"
    );
    let wrapped = secret_data(&decrypted, "wrapped").await.expect("wrapped");
    let config = wrapped.get("config.yaml").expect("config.yaml");
    assert!(config.contains("endpoint: https://db.local"), "{config}");
    assert!(!config.contains("ENC["), "{config}");

    // Without decryption the encrypted Secret is refused, and nothing reaches the cluster.
    let (status, reason, message, _) = wait_settled(&kustomizations, "not-configured", &logs).await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "ReconciliationFailed")
    );
    assert!(
        message.contains(&format!(
            "Secret/{}/db is SOPS encrypted, configuring decryption is required",
            targets[1]
        )),
        "{message}"
    );
    let untouched: Api<Secret> = Api::namespaced(client.clone(), &targets[1]);
    assert!(untouched.get_opt("db").await.unwrap().is_none());

    // A key that opens nothing fails the build with the reason and the recipient.
    let (status, reason, message, _) = wait_settled(&kustomizations, "wrong-key", &logs).await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "BuildFailed"));
    assert!(
        message.contains("cannot get sops data key") && message.contains(&key.public),
        "{message}"
    );
    let untouched: Api<Secret> = Api::namespaced(client.clone(), &targets[2]);
    assert!(untouched.get_opt("db").await.unwrap().is_none());

    // `--sops-age-secret` decrypts for a Kustomization without a secretRef.
    wait_for(
        "global-key Kustomization Ready",
        async || {
            let k = kustomizations.get("global-key").await.ok()?;
            (ready(&k)?.0 == "True").then_some(())
        },
        &logs,
    )
    .await;
    let global: Api<Secret> = Api::namespaced(client.clone(), &targets[3]);
    let db = secret_data(&global, "db").await.expect("Secret db");
    assert_eq!(db.get("password").map(String::as_str), Some("s3cr3t"));
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_config_applies_to_the_remote_cluster_as_its_identity() {
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};

    let (plane, namespace, client) = cluster("ksremote").await;
    let (git, _repo) = app_repository(&[("extra/extra.yaml", EXTRA)], "extra");
    let controllers = Controllers::start(plane, &namespace, &[], &["--requeue-dependency=1s"]);
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;

    // The "remote" cluster is the test cluster reached with another identity, which may only
    // manage ConfigMaps in one namespace.
    let allowed = plane.namespace("remote-ok").await.expect("namespace");
    let forbidden = plane.namespace("remote-no").await.expect("namespace");
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "configmaps" },
        "rules": [{ "apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"] }],
    }))
    .unwrap();
    Api::<Role>::namespaced(client.clone(), &allowed)
        .create(&PostParams::default(), &role)
        .await
        .expect("Role");
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "remote-deployer" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "remote-deployer" }],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), &allowed)
        .create(&PostParams::default(), &binding)
        .await
        .expect("RoleBinding");
    let kubeconfig = plane
        .kubeconfig_for("remote-deployer", &[])
        .expect("kubeconfig");
    let exec_kubeconfig = kubeconfig.replace(
        "    client-certificate-data:",
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/true\n    client-certificate-data:",
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    for (name, key, value) in [
        ("remote", "value", &kubeconfig),
        ("remote-custom-key", "cluster.yaml", &kubeconfig),
        ("remote-exec", "value", &exec_kubeconfig),
    ] {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name }, "stringData": { key: value },
        }))
        .unwrap();
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("kubeconfig Secret");
    }

    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    for (name, target, kube_config) in [
        (
            "applied",
            &allowed,
            serde_json::json!({ "secretRef": { "name": "remote" } }),
        ),
        (
            "custom-key",
            &allowed,
            serde_json::json!({ "secretRef": { "name": "remote-custom-key", "key": "cluster.yaml" } }),
        ),
        (
            "denied",
            &forbidden,
            serde_json::json!({ "secretRef": { "name": "remote" } }),
        ),
        (
            "missing",
            &allowed,
            serde_json::json!({ "secretRef": { "name": "absent" } }),
        ),
        (
            "exec",
            &allowed,
            serde_json::json!({ "secretRef": { "name": "remote-exec" } }),
        ),
    ] {
        let prefix = format!("{name}-");
        let spec = serde_json::json!({ "path": "./extra", "namePrefix": prefix, "kubeConfig": kube_config });
        kustomizations
            .create(&PostParams::default(), &kustomization(name, target, spec))
            .await
            .expect("create Kustomization");
    }

    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &allowed);
    for name in ["applied", "custom-key"] {
        let (status, _, message, _) = wait_settled(&kustomizations, name, &logs).await;
        assert_eq!(status, "True", "{name}: {message}");
        assert!(
            config_maps
                .get_opt(&format!("{name}-extra"))
                .await
                .unwrap()
                .is_some()
        );
    }
    // The remote identity's RBAC applies, not the controller's (it is a cluster admin here).
    let (status, reason, message, _) = wait_settled(&kustomizations, "denied", &logs).await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "ReconciliationFailed")
    );
    assert!(message.contains("\"remote-deployer\""), "{message}");
    let (status, _, message, _) = wait_settled(&kustomizations, "missing", &logs).await;
    assert_eq!(status, "False");
    assert!(
        message.contains(&format!("Secret '{namespace}/absent' not found")),
        "{message}"
    );
    let (status, _, message, _) = wait_settled(&kustomizations, "exec", &logs).await;
    assert_eq!(status, "False");
    assert!(message.contains("--insecure-kubeconfig-exec"), "{message}");
}

const HELD: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers:\n  - example.com/hold\n";

#[tokio::test(flavor = "multi_thread")]
async fn deletion_policies_orphan_or_wait_for_termination() {
    let (plane, namespace, client) = cluster("ksdelete").await;
    let (git, _repo) = app_repository(
        &[("extra/extra.yaml", EXTRA), ("held/held.yaml", HELD)],
        "objects",
    );
    let controllers = Controllers::start(plane, &namespace, &[], &["--requeue-dependency=1s"]);
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;

    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    for (name, path, policy) in [
        ("orphan", "./extra", "Orphan"),
        ("waiting", "./held", "WaitForTermination"),
    ] {
        let spec = serde_json::json!({ "path": path, "namePrefix": format!("{name}-"), "deletionPolicy": policy, "timeout": "1m" });
        kustomizations
            .create(
                &PostParams::default(),
                &kustomization(name, &namespace, spec),
            )
            .await
            .expect("create Kustomization");
    }
    for name in ["orphan", "waiting"] {
        wait_for(
            &format!("{name} Ready"),
            async || (ready(&kustomizations.get(name).await.ok()?)?.0 == "True").then_some(()),
            &logs,
        )
        .await;
    }
    let gone = async |name: &str| {
        kustomizations
            .get_opt(name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    };
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);

    // Orphan: the Kustomization goes, what it applied stays.
    kustomizations
        .delete("orphan", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for("orphan gone", async || gone("orphan").await, &logs).await;
    assert!(config_maps.get_opt("orphan-extra").await.unwrap().is_some());

    // WaitForTermination: the Kustomization stays while its objects are terminating.
    kustomizations
        .delete("waiting", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for(
        "held ConfigMap terminating",
        async || {
            let held = config_maps.get_opt("waiting-held").await.ok()??;
            held.metadata.deletion_timestamp.is_some().then_some(())
        },
        &logs,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        kustomizations.get_opt("waiting").await.unwrap().is_some(),
        "the Kustomization went before its objects"
    );
    let release = serde_json::json!({ "metadata": { "finalizers": null } });
    config_maps
        .patch(
            "waiting-held",
            &PatchParams::default(),
            &Patch::Merge(&release),
        )
        .await
        .expect("release the held ConfigMap");
    wait_for("waiting gone", async || gone("waiting").await, &logs).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_check_expressions_decide_custom_health() {
    let (plane, namespace, client) = cluster("ksexprs").await;
    let state = |name: &str, state: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  state: {state}\n"
        )
    };
    let (git, _repo) = app_repository(
        &[
            ("ready/cm.yaml", &state("ready", "ready")),
            ("broken/cm.yaml", &state("broken", "broken")),
        ],
        "states",
    );
    let controllers = Controllers::start(plane, &namespace, &[], &["--requeue-dependency=1s"]);
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;

    // The state of these ConfigMaps is read by expressions, not by kstatus (for which every
    // ConfigMap is Current).
    let exprs = |current: &str| {
        serde_json::json!([{
            "apiVersion": "v1", "kind": "ConfigMap",
            "current": current, "failed": "data.state == 'broken'",
        }])
    };
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    for (name, path, current) in [
        ("ready", "./ready", "data.state == 'ready'"),
        ("broken", "./broken", "data.state == 'ready'"),
        ("invalid", "./ready", "data.state =="),
    ] {
        let spec = serde_json::json!({
            "path": path, "wait": true, "timeout": "30s", "healthCheckExprs": exprs(current),
        });
        kustomizations
            .create(
                &PostParams::default(),
                &kustomization(name, &namespace, spec),
            )
            .await
            .expect("create Kustomization");
    }

    let (status, _, message, _) = wait_settled(&kustomizations, "ready", &logs).await;
    assert_eq!(status, "True", "{message}");
    // Failed by its expression, at once rather than at the timeout.
    let (status, reason, message, _) = wait_settled(&kustomizations, "broken", &logs).await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "HealthCheckFailed")
    );
    assert!(
        message.contains(&format!("ConfigMap/{namespace}/broken status: 'Failed'")),
        "{message}"
    );
    // An expression that does not parse stalls the Kustomization before anything is applied.
    let (status, reason, message, invalid) = wait_settled(&kustomizations, "invalid", &logs).await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "InvalidCELExpression")
    );
    assert!(
        message.starts_with("Reconciliation failed terminally due to configuration error: failed to create custom status evaluator for healthchecks[0]: failed to parse the expression Current"),
        "{message}"
    );
    let stalled = invalid
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Stalled");
    assert_eq!(stalled.map(|c| c.status), Some("True".to_owned()));
}

/// A local stand-in for Slack's incoming webhook: records each request body.
async fn slack_sink() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let bodies: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Default::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/slack", listener.local_addr().unwrap());
    let recorded = bodies.clone();
    let router = axum::Router::new().route(
        "/slack",
        axum::routing::post(move |body: axum::body::Bytes| {
            let recorded = recorded.clone();
            async move {
                if let Ok(value) = serde_json::from_slice(&body) {
                    recorded.lock().unwrap().push(value);
                }
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (address, bodies)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_webhook_applies_at_once_and_alerts_slack() {
    use hmac::{Hmac, Mac};
    use k8s_openapi::api::core::v1::Secret;

    let (plane, namespace, client) = cluster("kspush").await;
    let (git, repo) = app_repository(&[("deploy/configmap.yaml", EXTRA)], "first");
    let (slack_address, slack) = slack_sink().await;
    let [events_port, receiver_port] = driftless_testenv::free_ports().unwrap();
    let _notification = spawn(
        plane,
        "notification-controller",
        vec![
            "--watch-all-namespaces=false".to_owned(),
            format!("--runtime-namespace={namespace}"),
            format!("--events-addr=127.0.0.1:{events_port}"),
            format!("--receiver-addr=127.0.0.1:{receiver_port}"),
        ],
    );
    let events_addr = format!("--events-addr=http://127.0.0.1:{events_port}/");
    let controllers = Controllers::start(plane, &namespace, &[&events_addr], &[]);
    let logs = || controllers.logs();
    // Intervals of an hour: only the webhook can make anything happen within the test.
    let source: GitRepository = serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": { "name": "app" },
        "spec": { "url": git.url("app"), "interval": "1h", "ref": { "branch": "main" } },
    }))
    .unwrap();
    Api::<GitRepository>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &source)
        .await
        .unwrap();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "webhooks" },
        "stringData": { "token": "push-token", "address": slack_address },
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    for object in [
        serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
            "metadata": { "name": "github" },
            "spec": { "type": "github", "events": ["push"], "secretRef": { "name": "webhooks" },
                      "resources": [{ "kind": "GitRepository", "name": "app" }] },
        }),
        serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": { "name": "slack" },
            "spec": { "type": "slack", "secretRef": { "name": "webhooks" } },
        }),
        serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": { "name": "deploys" },
            "spec": { "providerRef": { "name": "slack" },
                      "eventSources": [{ "kind": "Kustomization", "name": "*" }],
                      "inclusionList": [" configured"] },
        }),
    ] {
        let object: kube::api::DynamicObject = serde_json::from_value(object).unwrap();
        let types = object.types.clone().unwrap();
        let (group, version) = types.api_version.rsplit_once('/').unwrap();
        let resource = kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk(group, version, &types.kind),
            &format!("{}s", types.kind.to_lowercase()),
        );
        Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), &namespace, &resource)
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    let mut app = kustomization("app", &namespace, serde_json::json!({ "path": "./deploy" }));
    app.spec.interval = "1h".to_owned();
    kustomizations
        .create(&PostParams::default(), &app)
        .await
        .unwrap();
    let (status, _, message, _) = wait_settled(&kustomizations, "app", &logs).await;
    assert_eq!(status, "True", "{message}");
    let receivers: Api<driftless_api::notification::Receiver> =
        Api::namespaced(client.clone(), &namespace);
    let hook = wait_for(
        "webhook path",
        async || receivers.get("github").await.ok()?.status?.webhook_path,
        &logs,
    )
    .await;

    // A new commit, and GitHub's push webhook for it.
    let pushed = repo
        .commit(
            &[(
                "deploy/configmap.yaml",
                &EXTRA.replace(
                    "name: extra\n",
                    "name: extra\n  labels:\n    pushed: \"yes\"\n",
                ),
            )],
            "second",
        )
        .unwrap();
    repo.push("main").unwrap();
    let body = std::fs::read(repo_root().join("../shared/webhooks/incoming/github-push.json"))
        .expect("../shared/webhooks/incoming/github-push.json");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"push-token").unwrap();
    mac.update(&body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{receiver_port}{hook}"))
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );

    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    wait_for(
        "pushed commit applied",
        async || {
            let labels = config_maps.get("extra").await.ok()?.metadata.labels?;
            (labels.get("pushed").map(String::as_str) == Some("yes")).then_some(())
        },
        &logs,
    )
    .await;
    let latency = started.elapsed();
    println!("push to applied: {} ms", latency.as_millis());

    // And the alert for that revision arrives, Slack-shaped.
    let revision = format!("main@sha1:{pushed}");
    let alert = wait_for(
        "Slack alert for the pushed revision",
        async || {
            slack.lock().unwrap().iter().find_map(|body| {
                let attachment = &body["attachments"][0];
                let fields = attachment["fields"].as_array()?;
                fields
                    .iter()
                    .any(|f| f["title"] == "revision" && f["value"] == revision.as_str())
                    .then(|| attachment.clone())
            })
        },
        &logs,
    )
    .await;
    assert_eq!(
        alert["author_name"],
        format!("kustomization/app.{namespace}")
    );
    // The change set, as in Flux: the marked final result goes to commit statuses only.
    let text = alert["text"].as_str().unwrap();
    assert!(text.contains(" configured"), "{alert}");
    assert!(
        !slack
            .lock()
            .unwrap()
            .iter()
            .any(|body| body["attachments"][0]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Reconciliation finished"))),
        "a result marked for commit statuses reached Slack"
    );
}
