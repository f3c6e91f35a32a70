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

/// A platform the images are built for, and how cargo cross-compiles to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    /// The OCI platform's architecture.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The Rust target of the static binaries.
    pub fn target(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64-unknown-linux-musl",
            Arch::Arm64 => "aarch64-unknown-linux-musl",
        }
    }

    /// Environment for cargo: the C compiler for aws-lc and ring (Debian's musl-gcc
    /// wrappers, which compile against musl's own headers), and for arm64 the archiver and
    /// the linker of the cross toolchain.
    pub fn cargo_env(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Arch::Amd64 => vec![("CC_x86_64_unknown_linux_musl", "musl-gcc")],
            Arch::Arm64 => vec![
                ("CC_aarch64_unknown_linux_musl", "aarch64-linux-musl-gcc"),
                ("AR_aarch64_unknown_linux_musl", "aarch64-linux-gnu-ar"),
                (
                    "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER",
                    "aarch64-linux-gnu-gcc",
                ),
            ],
        }
    }
}

/// One controller's static binaries, one per platform.
pub struct ControllerBinaries {
    pub name: String,
    pub binaries: Vec<(Arch, std::path::PathBuf)>,
}

/// Assembles the images of `controllers` (one per platform, under one index per
/// controller), writes the layout, pushes when asked, and reports each image's size and
/// digests to `report`.
pub async fn run(
    controllers: &[ControllerBinaries],
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
        "{:<40} {:>10}  {:<73}",
        "image", "compressed", "manifest / index"
    )?;
    for controller in controllers {
        let name = &controller.name;
        let mut images = Vec::new();
        for (arch, path) in &controller.binaries {
            let binary =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let made = image(name, arch.name(), &binary, &base, &labels)?;
            writeln!(
                report,
                "{:<40} {:>7.1} MiB  {}",
                format!("{name}:{} ({})", options.tag, arch.name()),
                made.compressed_size() as f64 / (1024.0 * 1024.0),
                made.manifest.digest,
            )?;
            images.push((arch.name(), made));
        }
        let platforms: Vec<(&str, &driftless_oci_image::Image)> =
            images.iter().map(|(arch, made)| (*arch, made)).collect();
        let index = index(&platforms)?;
        writeln!(
            report,
            "{:<40} {:>10}  {}",
            format!("{name}:{}", options.tag),
            "index",
            index.digest
        )?;
        if let Some(registry) = &options.registry {
            let (host, prefix) = registry.split_once('/').unwrap_or((registry, ""));
            let repository = format!("{prefix}{name}");
            let made: Vec<&driftless_oci_image::Image> =
                images.iter().map(|(_, made)| made).collect();
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
                "{:<40} pushed to {host}/{repository}:{}",
                "", options.tag
            )?;
        }
        let mut blobs = Vec::new();
        for (_, made) in &images {
            blobs.extend(made.layers.iter().cloned());
            blobs.extend([made.config.clone(), made.manifest.clone()]);
        }
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
