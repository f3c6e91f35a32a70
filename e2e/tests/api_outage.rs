//! An API server restart while Kustomizations reconcile every second: the controllers say
//! once that the API server is away and once that it is back, instead of one error line per
//! failed request, and every Kustomization is Ready again afterwards. The API server is
//! restarted, so this file has its own control plane.

mod support;

use std::time::Duration;

use driftless_api::kustomize::Kustomization;
use kube::api::{Api, Patch, PatchParams, PostParams};
use support::*;

const KUSTOMIZATIONS: usize = 10;

#[tokio::test(flavor = "multi_thread")]
async fn an_api_server_outage_is_logged_once_and_recovered_from() {
    let (plane, namespace, client) = cluster("outage").await;
    let (git, _repo) = app_repository(
        &[(
            "deploy/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n",
        )],
        "first",
    );
    let controllers = Controllers::start(plane, &namespace, &[], &["--requeue-dependency=1s"]);
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    for i in 0..KUSTOMIZATIONS {
        let object = kustomization(
            &format!("app-{i}"),
            &namespace,
            serde_json::json!({ "path": "./deploy", "interval": "1s", "namePrefix": format!("app-{i}-") }),
        );
        kustomizations
            .create(&PostParams::default(), &object)
            .await
            .expect("create Kustomization");
    }
    let all_ready = async || {
        for i in 0..KUSTOMIZATIONS {
            let k = kustomizations.get(&format!("app-{i}")).await.ok()?;
            if ready(&k)?.0 != "True" {
                return None;
            }
        }
        Some(())
    };
    wait_for("all Ready", all_ready, &logs).await;

    plane
        .restart_apiserver(Duration::from_secs(5))
        .await
        .expect("restart kube-apiserver");
    // Each Kustomization must handle a request made after the restart, and be Ready.
    let token = "after-the-outage";
    for i in 0..KUSTOMIZATIONS {
        let patch = serde_json::json!({ "metadata": { "annotations": { "reconcile.fluxcd.io/requestedAt": token } } });
        kustomizations
            .patch(
                &format!("app-{i}"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .expect("request reconcile");
    }
    wait_for(
        "every Kustomization reconciled and Ready after the outage",
        async || {
            for i in 0..KUSTOMIZATIONS {
                let k = kustomizations.get(&format!("app-{i}")).await.ok()?;
                let handled =
                    k.status.as_ref()?.last_handled_reconcile_at.as_deref() == Some(token);
                if !handled || ready(&k)?.0 != "True" {
                    return None;
                }
            }
            Some(())
        },
        &logs,
    )
    .await;
    // Both controllers have made a request since (their watches are back).
    wait_for(
        "both controllers reporting the API server back",
        async || {
            [&controllers.kustomize, &controllers.source]
                .iter()
                .all(|c| {
                    c.log_tail(20_000)
                        .contains("Kubernetes API server reachable again")
                })
                .then_some(())
        },
        &logs,
    )
    .await;

    for (name, log) in [
        (
            "kustomize-controller",
            controllers.kustomize.log_tail(20_000),
        ),
        ("source-controller", controllers.source.log_tail(20_000)),
    ] {
        let count = |text: &str| log.lines().filter(|l| l.contains(text)).count();
        let away = count("Kubernetes API server unreachable");
        let back = count("Kubernetes API server reachable again");
        assert!(
            (1..=3).contains(&away),
            "{name}: {away} outage lines\n{log}"
        );
        assert_eq!(away, back, "{name}: every outage ends with a line\n{log}");
        // The client's per-request failure lines are gone.
        assert_eq!(count("failed with error"), 0, "{name}\n{log}");
        assert_eq!(count("failed with status"), 0, "{name}\n{log}");
        // Nor one line per watch the restart cut.
        assert_eq!(count("eof in poll"), 0, "{name}\n{log}");
        // What is left of the outage is a handful of lines, not one per request.
        let noisy = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .count();
        assert!(
            noisy <= 2 * KUSTOMIZATIONS,
            "{name}: {noisy} warning and error lines\n{log}"
        );
    }
}
