//! SOPS: encrypted Secrets are decrypted before they are applied, and encrypted data never
//! reaches the cluster.

use driftless_api::kustomize::Kustomization;
use kube::api::{Api, PostParams};

use crate::support::*;

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
        create_kustomization(&kustomizations, name, target, spec).await;
    }

    // Decrypted in memory and applied as plaintext.
    let decrypted: Api<Secret> = Api::namespaced(client.clone(), &targets[0]);
    wait_kustomization_ready(
        &kustomizations,
        "decrypted",
        "decrypted Kustomization Ready",
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
    wait_kustomization_ready(
        &kustomizations,
        "global-key",
        "global-key Kustomization Ready",
        &logs,
    )
    .await;
    let global: Api<Secret> = Api::namespaced(client.clone(), &targets[3]);
    let db = secret_data(&global, "db").await.expect("Secret db");
    assert_eq!(db.get("password").map(String::as_str), Some("s3cr3t"));
}
