//! `driftless uninstall`: as `flux uninstall`, the controllers go first, then the Toolkit
//! objects' finalizers, then the CRDs (and with them the objects) and the namespace. What
//! the controllers applied stays: without controllers and finalizers nothing prunes it.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use clap::Args;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use serde_json::json;

use crate::components::{self, Selection};

#[derive(Args)]
pub struct UninstallArgs {
    /// The namespace the controllers run in.
    #[arg(short = 'n', long, default_value = "flux-system")]
    pub namespace: String,
    /// Leave the namespace in place.
    #[arg(long)]
    pub keep_namespace: bool,
    /// Do not ask for confirmation.
    #[arg(short = 's', long)]
    pub silent: bool,
}

pub async fn uninstall(args: &UninstallArgs) -> anyhow::Result<()> {
    if !args.silent && std::io::stdin().is_terminal() && !confirmed()? {
        bail!("uninstall cancelled");
    }
    let client = crate::cluster::client().await?;

    println!("► deleting components in {} namespace", args.namespace);
    // Every component the chart can install, whichever were: absent ones are skipped.
    let rendered = components::render(&Selection {
        namespace: &args.namespace,
        components: &components::ALL,
        registry: None,
        image_tag: None,
        values_files: &[],
        set: &[],
        kube_version: None,
    })?;
    for object in rendered.objects.iter().rev() {
        if crate::cluster::delete(&client, object).await? {
            println!("✔ {} deleted", components::describe(object));
        }
    }

    println!("► deleting toolkit.fluxcd.io finalizers in all namespaces");
    let crds = driftless_api::crds();
    for crd in &crds {
        let Some(version) = crd.spec.versions.iter().find(|v| v.storage) else {
            continue;
        };
        let gvk = GroupVersionKind::gvk(&crd.spec.group, &version.name, &crd.spec.names.kind);
        let resource = ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural);
        let api = Api::<DynamicObject>::all_with(client.clone(), &resource);
        let objects = match api.list(&ListParams::default()).await {
            Ok(list) => list.items,
            // Not installed (or already gone): nothing holds a finalizer of this kind.
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            Err(error) => {
                return Err(error).with_context(|| format!("listing {}", crd.spec.names.plural));
            }
        };
        for object in objects {
            if object
                .metadata
                .finalizers
                .as_ref()
                .is_none_or(Vec::is_empty)
            {
                continue;
            }
            let name = object.metadata.name.clone().unwrap_or_default();
            let namespace = object.metadata.namespace.clone().unwrap_or_default();
            let namespaced =
                Api::<DynamicObject>::namespaced_with(client.clone(), &namespace, &resource);
            let patch = json!({"metadata": {"finalizers": null}});
            namespaced
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .with_context(|| format!("removing the finalizers of {name}"))?;
            println!(
                "✔ {}/{namespace}/{name} finalizers deleted",
                crd.spec.names.kind
            );
        }
    }

    println!("► deleting toolkit.fluxcd.io custom resource definitions");
    for crd in &rendered.crds {
        if crate::cluster::delete(&client, crd).await? {
            println!("✔ {} deleted", components::describe(crd));
        }
    }
    if !args.keep_namespace {
        let namespace = crate::cluster::namespace(&args.namespace);
        if crate::cluster::delete(&client, &namespace).await? {
            println!("✔ Namespace/{} deleted", args.namespace);
        }
    }
    println!("✔ uninstall finished");
    Ok(())
}

fn confirmed() -> anyhow::Result<bool> {
    print!("Are you sure you want to delete Driftless and its custom resource definitions? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
