//! `cargo xtask images`: one OCI image per controller from its static (musl) binary,
//! without Docker (see `driftless-oci-image`), written as an OCI layout and, given a
//! registry, pushed as an image index per tag.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use driftless_oci_image::{CA_BUNDLE, base_layer, image, index, push, write_layout};

/// Where `cargo xtask images` writes and pushes to.
pub struct ImagesOptions {
    pub out: std::path::PathBuf,
    pub tag: String,
    /// `host[:port]/prefix`: images are pushed as `<prefix><controller>:<tag>`, as the
    /// chart's `image.registry` and `image.repositoryPrefix` name them.
    pub registry: Option<String>,
    pub insecure: bool,
    /// A values file for the chart pinning each controller's image by digest.
    pub values: Option<std::path::PathBuf>,
}

/// Assembles the images of `binaries` (controller name, static binary), writes the layout,
/// pushes when asked, and reports each image's size and digests to `report`.
pub async fn run(
    binaries: &[(String, std::path::PathBuf)],
    options: &ImagesOptions,
    report: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let ca_bundle = std::fs::read(Path::new("/").join(CA_BUNDLE))
        .with_context(|| format!("reading /{CA_BUNDLE} (Debian's ca-certificates)"))?;
    let base = base_layer(&ca_bundle)?;
    let labels = BTreeMap::from([(
        "org.opencontainers.image.version".to_owned(),
        options.tag.clone(),
    )]);
    let mut layout = Vec::new();
    writeln!(
        report,
        "{:<30} {:>10}  {:<73} index",
        "image", "compressed", "manifest (amd64)"
    )?;
    for (name, path) in binaries {
        let binary = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let made = image(name, "amd64", &binary, &base, &labels)?;
        let index = index(&[("amd64", &made)])?;
        writeln!(
            report,
            "{:<30} {:>7.1} MiB  {:<73} {}",
            format!("{name}:{}", options.tag),
            made.compressed_size() as f64 / (1024.0 * 1024.0),
            made.manifest.digest,
            index.digest
        )?;
        if let Some(registry) = &options.registry {
            let (host, prefix) = registry.split_once('/').unwrap_or((registry, ""));
            let repository = format!("{prefix}{name}");
            push(
                host,
                &repository,
                &options.tag,
                &made,
                &index,
                options.insecure,
            )
            .await?;
            writeln!(
                report,
                "{:<30} pushed to {host}/{repository}:{}",
                "", options.tag
            )?;
        }
        let mut blobs = made.layers.clone();
        blobs.extend([made.config.clone(), made.manifest.clone()]);
        layout.push((name.clone(), blobs, index));
    }
    write_layout(&options.out, &options.tag, &layout)?;
    writeln!(report, "OCI layout: {}", options.out.display())?;
    if let Some(path) = &options.values {
        let digests: Vec<(String, String)> = layout
            .iter()
            .map(|(name, _, index)| (name.clone(), index.digest.clone()))
            .collect();
        std::fs::write(path, chart_values(options, &digests))
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(report, "chart values: {}", path.display())?;
    }
    Ok(())
}

/// Values for `charts/driftless` pinning each controller's image by its index digest.
pub fn chart_values(options: &ImagesOptions, digests: &[(String, String)]) -> String {
    let mut values = format!(
        "# Written by `cargo xtask images`: the images of {}, pinned by digest.\nimage:\n",
        options.tag
    );
    if let Some(registry) = &options.registry {
        let (host, prefix) = registry.split_once('/').unwrap_or((registry, ""));
        values.push_str(&format!(
            "  registry: {host:?}\n  repositoryPrefix: {prefix:?}\n"
        ));
    }
    values.push_str(&format!("  tag: {:?}\ncontrollers:\n", options.tag));
    for (name, digest) in digests {
        values.push_str(&format!("  {name}:\n    digest: {digest:?}\n"));
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_values_pin_each_controller_by_digest() {
        let options = ImagesOptions {
            out: "target/images".into(),
            tag: "v1".into(),
            registry: Some("127.0.0.1:5000/driftless/".into()),
            insecure: true,
            values: None,
        };
        let values = chart_values(
            &options,
            &[("source-controller".into(), "sha256:abc".into())],
        );
        let parsed: serde_yaml::Value = serde_yaml::from_str(&values).unwrap();
        assert_eq!(parsed["image"]["registry"], "127.0.0.1:5000");
        assert_eq!(parsed["image"]["repositoryPrefix"], "driftless/");
        assert_eq!(parsed["image"]["tag"], "v1");
        assert_eq!(
            parsed["controllers"]["source-controller"]["digest"],
            "sha256:abc"
        );
    }
}
