//! `driftless`: the command-line tool. Commands arrive with the features they serve
//! (`kustomize build` with the kustomize library, install/bootstrap with the controllers).

use std::io::Write;

use clap::{Parser, Subcommand};

mod bootstrap;
mod cluster;
mod components;
mod helm;
mod install;
mod remote;
mod uninstall;

// A one-shot, allocation-heavy process (parsing and rendering): mimalloc renders the
// heaviest Helm charts about a tenth faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "driftless", version, about = "Driftless GitOps toolkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the Toolkit CustomResourceDefinitions as YAML (`driftless crds | kubectl apply -f -`).
    Crds,
    /// Install the CRDs and controllers on the current cluster and wait until they are
    /// Ready (`flux install`).
    Install(install::InstallArgs),
    /// Remove the controllers and CRDs, leaving what they applied (`flux uninstall`).
    Uninstall(uninstall::UninstallArgs),
    /// Commit the install and sync manifests to a repository, install, and sync the
    /// cluster from it (`flux bootstrap`).
    Bootstrap {
        #[command(subcommand)]
        command: bootstrap::BootstrapCommand,
    },
    /// Helm, built in (no `helm` binary needed).
    Helm {
        #[command(subcommand)]
        command: HelmCommand,
    },
    /// Kustomize, built in (no `kustomize` binary needed).
    Kustomize {
        #[command(subcommand)]
        command: KustomizeCommand,
    },
}

#[derive(Subcommand)]
enum HelmCommand {
    /// Render a chart's manifests as `helm template` does.
    Template(helm::TemplateArgs),
}

#[derive(Subcommand)]
enum KustomizeCommand {
    /// Print the resources a kustomization builds, as `kustomize build DIR` does.
    Build {
        /// The directory holding kustomization.yaml.
        #[arg(default_value = ".")]
        dir: std::path::PathBuf,
        /// Allow files outside the kustomization's directory (kustomize's
        /// `--load-restrictor LoadRestrictionsNone`).
        #[arg(long)]
        no_load_restrictions: bool,
        /// Fetch remote resources: `http(s)://` files and Git bases
        /// (`github.com/org/repo//path?ref=v1`). Off by default.
        #[arg(long)]
        enable_remote: bool,
        /// Render `helmCharts` (kustomize's `--enable-helm`), in process: no `helm` binary is
        /// run, and charts must already be in the chart home.
        #[arg(long)]
        enable_helm: bool,
        /// Accepted for kustomize compatibility and ignored: charts render in process.
        #[arg(long, value_name = "COMMAND", hide = true)]
        helm_command: Option<String>,
        /// `.Capabilities.KubeVersion` for every chart.
        #[arg(long, value_name = "VERSION")]
        helm_kube_version: Option<String>,
        /// Extra `.Capabilities.APIVersions` for every chart.
        #[arg(long, value_name = "API_VERSION", value_delimiter = ',')]
        helm_api_versions: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crds => print(&crds_yaml()?)?,
        Command::Install(args) if args.export => {
            fail_on_error(install::export(&args).and_then(|yaml| Ok(print(&yaml)?)))
        }
        Command::Install(args) => fail_on_error(runtime()?.block_on(install::install(&args))),
        Command::Uninstall(args) => fail_on_error(runtime()?.block_on(uninstall::uninstall(&args))),
        Command::Bootstrap { command } => {
            fail_on_error(runtime()?.block_on(bootstrap::bootstrap(&command)))
        }
        Command::Helm {
            command: HelmCommand::Template(args),
        } => match helm::template(args) {
            Ok(manifests) => print(&manifests)?,
            Err(error) => {
                eprintln!("Error: {error:#}");
                std::process::exit(1);
            }
        },
        Command::Kustomize {
            command:
                KustomizeCommand::Build {
                    dir,
                    no_load_restrictions,
                    enable_remote,
                    enable_helm,
                    helm_command: _,
                    helm_kube_version,
                    helm_api_versions,
                },
        } => {
            let dir = std::path::absolute(&dir)?;
            let remote: Option<std::rc::Rc<dyn driftless_kustomize::remote::Remote>> =
                if enable_remote {
                    Some(std::rc::Rc::new(remote::NetworkRemote::new()?))
                } else {
                    None
                };
            let options = driftless_kustomize::BuildOptions {
                restrict_to_root: !no_load_restrictions,
                remote,
                helm: driftless_kustomize::HelmOptions {
                    enabled: enable_helm,
                    kube_version: helm_kube_version,
                    api_versions: helm_api_versions,
                },
            };
            match driftless_kustomize::build_yaml(&driftless_kustomize::fs::DiskFs, &dir, &options)
            {
                Ok(yaml) => print(&yaml)?,
                Err(error) => {
                    eprintln!("Error: {error}");
                    std::process::exit(1);
                }
            }
        }
    }
    Ok(())
}

/// A small runtime: `bootstrap`'s Git client blocks a thread while its requests run here.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Prints the error (with its causes) as `✗ …`, as the flux CLI does, and exits 1.
fn fail_on_error(result: anyhow::Result<()>) {
    if let Err(error) = result {
        eprintln!("✗ {error:#}");
        std::process::exit(1);
    }
}

fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // The reader went away (`| head`): nothing left to do, as with other CLIs.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result,
    }
}

/// Every CRD as one multi-document YAML stream.
fn crds_yaml() -> anyhow::Result<String> {
    let mut yaml = String::new();
    for crd in driftless_api::crds() {
        yaml.push_str("---\n");
        yaml.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(yaml)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use serde::Deserialize;

    #[test]
    fn crds_output_is_a_stream_of_all_fourteen_definitions() {
        let yaml = super::crds_yaml().unwrap();
        let names: Vec<String> = serde_yaml::Deserializer::from_str(&yaml)
            .map(|doc| CustomResourceDefinition::deserialize(doc).unwrap())
            .map(|crd| crd.metadata.name.unwrap_or_default())
            .collect();
        assert_eq!(names.len(), 14);
        assert!(names.contains(&"gitrepositories.source.toolkit.fluxcd.io".to_owned()));
        assert!(names.contains(&"kustomizations.kustomize.toolkit.fluxcd.io".to_owned()));
        assert!(names.contains(&"helmreleases.helm.toolkit.fluxcd.io".to_owned()));
        assert!(names.iter().all(|n| n.contains(".toolkit.fluxcd.io")));
    }
}
