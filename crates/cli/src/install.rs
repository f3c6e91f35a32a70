//! `driftless install`: the CRDs and controllers applied (server-side) as `flux install`
//! applies Flux's, then waited on until every controller is Ready.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use serde_json::Value;

use crate::components::{self, Selection};

/// Which components, from which images: shared by `install` and `bootstrap`.
#[derive(Args)]
pub struct ComponentArgs {
    /// The namespace the controllers run in.
    #[arg(short = 'n', long, default_value = "flux-system")]
    pub namespace: String,
    /// The controllers to install (Flux's names).
    #[arg(long, value_delimiter = ',', default_values_t = components::DEFAULT.map(String::from))]
    pub components: Vec<String>,
    /// More controllers: image-reflector-controller and image-automation-controller
    /// install the image automation controller.
    #[arg(long, value_delimiter = ',')]
    pub components_extra: Vec<String>,
    /// `host[:port]/prefix` the images are pulled from, e.g. `ghcr.io/driftless-dev`.
    #[arg(long)]
    pub registry: Option<String>,
    /// The images' tag (the chart's appVersion by default).
    #[arg(long)]
    pub image_tag: Option<String>,
    /// Values files for the chart, e.g. the digests `cargo xtask images --values` writes.
    #[arg(short = 'f', long = "values")]
    pub values: Vec<std::path::PathBuf>,
    /// Chart values, as `helm --set` reads them.
    #[arg(long)]
    pub set: Vec<String>,
}

#[derive(Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub components: ComponentArgs,
    /// Print the manifests instead of applying them.
    #[arg(long)]
    pub export: bool,
    /// How long to wait for the controllers to be Ready.
    #[arg(long, default_value = "5m", value_parser = driftless_api::meta::parse_duration)]
    pub timeout: Duration,
}

impl ComponentArgs {
    pub fn rendered(&self, kube_version: Option<&str>) -> anyhow::Result<components::Rendered> {
        let selected = components::resolve(&self.components, &self.components_extra)?;
        components::render(&Selection {
            namespace: &self.namespace,
            components: &selected,
            registry: self.registry.as_deref(),
            image_tag: self.image_tag.as_deref(),
            values_files: &self.values,
            set: &self.set,
            kube_version,
        })
    }
}

/// The manifests as one YAML stream (`--export`).
pub fn export(args: &InstallArgs) -> anyhow::Result<String> {
    yaml_stream(&args.components.rendered(None)?)
}

/// The CRDs, then the controllers' objects, as one multi-document YAML stream.
pub fn yaml_stream(rendered: &components::Rendered) -> anyhow::Result<String> {
    let mut yaml = String::new();
    for object in rendered.crds.iter().chain(&rendered.objects) {
        yaml.push_str("---\n");
        yaml.push_str(&serde_yaml::to_string(object)?);
    }
    Ok(yaml)
}

/// The components rendered for the cluster `client` talks to.
pub async fn rendered_for(
    client: &kube::Client,
    args: &ComponentArgs,
) -> anyhow::Result<components::Rendered> {
    let version = client
        .apiserver_version()
        .await
        .context("reading the cluster's version")?;
    args.rendered(Some(&version.git_version))
}

pub async fn install(args: &InstallArgs) -> anyhow::Result<()> {
    let client = crate::cluster::client().await?;
    let rendered = rendered_for(&client, &args.components).await?;
    apply_and_wait(&client, &rendered, &args.components.namespace, args.timeout).await?;
    println!("✔ install finished");
    Ok(())
}

/// Applies the namespace, the CRDs (waiting until Established) and the controllers' objects,
/// then waits until every controller's Deployment is rolled out.
pub async fn apply_and_wait(
    client: &kube::Client,
    rendered: &components::Rendered,
    namespace: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    println!("► installing components in {namespace} namespace");
    crate::cluster::apply(client, &[crate::cluster::namespace(namespace)]).await?;
    crate::cluster::apply(client, &rendered.crds).await?;
    wait_established(client, &rendered.crds, timeout).await?;
    println!(
        "✔ applied {} CustomResourceDefinitions",
        rendered.crds.len()
    );
    crate::cluster::apply(client, &rendered.objects).await?;
    for object in &rendered.objects {
        println!("✔ {} applied", components::describe(object));
    }
    println!("◎ verifying installation");
    let deployments = Api::<Deployment>::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + timeout;
    for object in rendered
        .objects
        .iter()
        .filter(|o| o["kind"] == "Deployment")
    {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        loop {
            let deployment = deployments.get_opt(name).await?;
            if deployment.as_ref().is_some_and(rolled_out) {
                println!("✔ {name}: deployment ready");
                break;
            }
            if Instant::now() > deadline {
                bail!("timeout waiting for: [Deployment/{namespace}/{name} status: 'InProgress']");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Ok(())
}

/// Every replica of the current generation updated and available, as `kubectl rollout
/// status` and kstatus see a Deployment done.
fn rolled_out(deployment: &Deployment) -> bool {
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.replicas)
        .unwrap_or(1);
    let generation = deployment.metadata.generation.unwrap_or_default();
    deployment.status.as_ref().is_some_and(|status| {
        status.observed_generation.unwrap_or_default() >= generation
            && status.updated_replicas.unwrap_or_default() == wanted
            && status.available_replicas.unwrap_or_default() == wanted
            && status.replicas.unwrap_or_default() == wanted
    })
}

async fn wait_established(
    client: &kube::Client,
    crds: &[Value],
    timeout: Duration,
) -> anyhow::Result<()> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let deadline = Instant::now() + timeout;
    for crd in crds {
        let name = crd["metadata"]["name"].as_str().unwrap_or_default();
        loop {
            let established = api
                .get_opt(name)
                .await
                .with_context(|| format!("reading CustomResourceDefinition {name}"))?
                .and_then(|crd| crd.status?.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if Instant::now() > deadline {
                bail!("timeout waiting for CustomResourceDefinition {name} to be established");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: i32, updated: i32, available: i32, observed: i64) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "d", "generation": 2},
            "spec": {"replicas": replicas, "selector": {}, "template": {}},
            "status": {
                "replicas": replicas, "updatedReplicas": updated,
                "availableReplicas": available, "observedGeneration": observed,
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_deployment_is_rolled_out_when_its_generation_is_updated_and_available() {
        assert!(rolled_out(&deployment(1, 1, 1, 2)));
        assert!(!rolled_out(&deployment(1, 1, 0, 2)), "not available");
        assert!(!rolled_out(&deployment(1, 0, 1, 2)), "old replica set");
        assert!(
            !rolled_out(&deployment(1, 1, 1, 1)),
            "generation not observed"
        );
    }
}
