//! `driftless`: the command-line tool. Commands arrive with the features they serve
//! (`kustomize build` with the kustomize library, install/bootstrap with the controllers).

use std::io::Write;

use clap::{Parser, Subcommand};

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crds => {
            let mut out = std::io::stdout().lock();
            match out
                .write_all(crds_yaml()?.as_bytes())
                .and_then(|()| out.flush())
            {
                // The reader went away (`| head`): nothing left to do, as with other CLIs.
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
                result => result?,
            }
        }
    }
    Ok(())
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
    fn crds_output_is_a_stream_of_all_twelve_definitions() {
        let yaml = super::crds_yaml().unwrap();
        let names: Vec<String> = serde_yaml::Deserializer::from_str(&yaml)
            .map(|doc| CustomResourceDefinition::deserialize(doc).unwrap())
            .map(|crd| crd.metadata.name.unwrap_or_default())
            .collect();
        assert_eq!(names.len(), 12);
        assert!(names.contains(&"gitrepositories.source.toolkit.fluxcd.io".to_owned()));
        assert!(names.contains(&"kustomizations.kustomize.toolkit.fluxcd.io".to_owned()));
        assert!(names.iter().all(|n| n.contains(".toolkit.fluxcd.io")));
    }
}
