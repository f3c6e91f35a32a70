//! OCI images of binaries, without Docker: what `cargo xtask images` makes of each
//! controller, and the test node's images. An image is layers on nothing: a base (CA
//! certificates, `/etc/passwd` and `/etc/group` naming the non-root user 65532, no shell),
//! any extra layers, and the binary. Tar entries, gzip headers and JSON are written
//! deterministically, so the same binaries give the same digests. Images go to an OCI layout
//! directory or are pushed to a registry as an image index per tag.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

mod read;
pub use read::{LayoutImage, read_layout_tar};

use flate2::Compression;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The user the controllers run as: not root, no login.
pub const USER_ID: u64 = 65532;
/// Where the CA bundle is, in the image as on Debian.
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// Why an image could not be made, written or pushed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("encoding JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}: {1}")]
    Push(String, #[source] oci_client::errors::OciDistributionError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |e| Error::Io(what, e)
}

/// A content-addressed blob: its bytes and `sha256:<hex>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub media_type: &'static str,
    pub data: Vec<u8>,
    pub digest: String,
}

impl Blob {
    fn new(media_type: &'static str, data: Vec<u8>) -> Blob {
        let digest = format!("sha256:{:x}", Sha256::digest(&data));
        Blob {
            media_type,
            data,
            digest,
        }
    }

    fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.data.len()})
    }
}

/// One image for one platform.
#[derive(Clone, Debug)]
pub struct Image {
    pub layers: Vec<Blob>,
    pub config: Blob,
    pub manifest: Blob,
}

impl Image {
    /// The layers' compressed size: what a pull downloads.
    pub fn compressed_size(&self) -> usize {
        self.layers.iter().map(|l| l.data.len()).sum()
    }
}

/// A file of a layer: path (relative, no leading `/`), mode and content.
pub struct Entry<'a> {
    pub path: &'a str,
    pub mode: u32,
    pub data: &'a [u8],
}

/// A gzipped tar of `entries` (their parent directories first), every header fixed: owner
/// root, time zero. Returns the layer and its diff id (digest of the uncompressed tar).
pub fn layer(entries: &[Entry<'_>]) -> Result<(Blob, String)> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut directories: Vec<String> = entries
        .iter()
        .flat_map(|entry| {
            let parts: Vec<&str> = entry.path.split('/').collect();
            (1..parts.len())
                .map(|n| format!("{}/", parts[..n].join("/")))
                .collect::<Vec<_>>()
        })
        .collect();
    directories.sort();
    directories.dedup();
    for directory in &directories {
        let mut header = header(tar::EntryType::Directory, 0o755, 0);
        tar.append_data(&mut header, directory, std::io::empty())
            .map_err(io("writing a layer"))?;
    }
    let mut files: Vec<&Entry<'_>> = entries.iter().collect();
    files.sort_by_key(|e| e.path);
    for entry in files {
        let mut header = header(tar::EntryType::Regular, entry.mode, entry.data.len() as u64);
        tar.append_data(&mut header, entry.path, entry.data)
            .map_err(io("writing a layer"))?;
    }
    let tar = tar.into_inner().map_err(io("writing a layer"))?;
    let diff_id = format!("sha256:{:x}", Sha256::digest(&tar));
    // No file name or time in the gzip header: the same tar always compresses the same.
    let mut gzip = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    gzip.write_all(&tar).map_err(io("compressing a layer"))?;
    let compressed = gzip.finish().map_err(io("compressing a layer"))?;
    Ok((Blob::new(LAYER_MEDIA_TYPE, compressed), diff_id))
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

/// The base layer: the CA bundle and the non-root user.
pub fn base_layer(ca_bundle: &[u8]) -> Result<(Blob, String)> {
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{USER_ID}:{USER_ID}:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nnonroot:x:{USER_ID}:\n");
    layer(&[
        Entry {
            path: "etc/passwd",
            mode: 0o644,
            data: passwd.as_bytes(),
        },
        Entry {
            path: "etc/group",
            mode: 0o644,
            data: group.as_bytes(),
        },
        Entry {
            path: CA_BUNDLE,
            mode: 0o644,
            data: ca_bundle,
        },
    ])
}

/// The image of binary `name` for `architecture`: the base layer and its binary at
/// `/usr/local/bin/<name>`, run as the non-root user.
pub fn image(
    name: &str,
    architecture: &str,
    binary: &[u8],
    base: &(Blob, String),
    labels: &BTreeMap<String, String>,
) -> Result<Image> {
    image_with(
        name,
        architecture,
        binary,
        std::slice::from_ref(base),
        labels,
    )
}

/// As [`image`], with `layers` (the base first) under the binary's: a dynamically linked
/// binary's libraries, say.
pub fn image_with(
    name: &str,
    architecture: &str,
    binary: &[u8],
    layers: &[(Blob, String)],
    labels: &BTreeMap<String, String>,
) -> Result<Image> {
    let path = format!("usr/local/bin/{name}");
    let (binary_layer, binary_diff) = layer(&[Entry {
        path: &path,
        mode: 0o755,
        data: binary,
    }])?;
    let config = json!({
        "architecture": architecture,
        "os": "linux",
        "config": {
            "User": format!("{USER_ID}:{USER_ID}"),
            "Entrypoint": [format!("/{path}")],
            "Env": [
                "PATH=/usr/local/bin",
                format!("SSL_CERT_FILE=/{CA_BUNDLE}"),
            ],
            "WorkingDir": "/",
            "Labels": labels,
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": layers
                .iter()
                .map(|layer| layer.1.clone())
                .chain([binary_diff])
                .collect::<Vec<_>>(),
        },
    });
    let config = Blob::new(CONFIG_MEDIA_TYPE, serde_json::to_vec(&config)?);
    let layers: Vec<Blob> = layers
        .iter()
        .map(|layer| layer.0.clone())
        .chain([binary_layer])
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config.descriptor(),
        "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
    });
    let manifest = Blob::new(MANIFEST_MEDIA_TYPE, serde_json::to_vec(&manifest)?);
    Ok(Image {
        layers,
        config,
        manifest,
    })
}

/// An image index over the platforms of one image (amd64 only where no cross toolchain is
/// available).
pub fn index(platforms: &[(&str, &Image)]) -> Result<Blob> {
    let manifests: Vec<Value> = platforms
        .iter()
        .map(|(architecture, image)| {
            let mut descriptor = image.manifest.descriptor();
            descriptor["platform"] = json!({"architecture": architecture, "os": "linux"});
            descriptor
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests});
    Ok(Blob::new(INDEX_MEDIA_TYPE, serde_json::to_vec(&index)?))
}

/// Writes an OCI image layout at `dir`: every blob, and `index.json` naming each
/// image's index `<name>:<tag>`.
pub fn write_layout(dir: &Path, tag: &str, images: &[(String, Vec<Blob>, Blob)]) -> Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(io(format!("creating {}", blobs.display())))?;
    let mut entries = Vec::new();
    for (name, image_blobs, index) in images {
        for blob in image_blobs.iter().chain([index]) {
            let hex = blob.digest.trim_start_matches("sha256:");
            std::fs::write(blobs.join(hex), &blob.data).map_err(io("writing a blob"))?;
        }
        let mut descriptor = index.descriptor();
        descriptor["annotations"] =
            json!({"org.opencontainers.image.ref.name": format!("{name}:{tag}")});
        entries.push(descriptor);
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .map_err(io("writing oci-layout"))?;
    let index = json!({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": entries});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)
        .map_err(io("writing index.json"))?;
    Ok(())
}

/// Pushes the platform images of one index (their blobs and manifests) and the index itself
/// to `registry/repository` as `tag` (plain HTTP when `insecure`). Returns the index digest.
pub async fn push(
    registry: &str,
    repository: &str,
    tag: &str,
    images: &[&Image],
    index: &Blob,
    insecure: bool,
) -> Result<String> {
    use oci_client::client::{ClientConfig, ClientProtocol};
    use oci_client::secrets::RegistryAuth;
    // As the controllers do: ring is rustls' process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = oci_client::Client::new(ClientConfig {
        protocol: if insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        ..ClientConfig::default()
    });
    let reference =
        oci_client::Reference::with_tag(registry.to_owned(), repository.to_owned(), tag.to_owned());
    client
        .store_auth_if_needed(registry, &RegistryAuth::Anonymous)
        .await;
    let content_type = http::HeaderValue::from_static;
    // Each platform's image by digest first: the index may only name what the registry has.
    // The platforms share their base layer: each blob goes up once.
    let mut pushed = std::collections::HashSet::new();
    for image in images {
        for blob in image.layers.iter().chain([&image.config]) {
            if !pushed.insert(blob.digest.as_str()) {
                continue;
            }
            client
                .push_blob(&reference, blob.data.clone(), &blob.digest)
                .await
                .map_err(|e| Error::Push(format!("pushing {} to {reference}", blob.digest), e))?;
        }
        let by_digest = oci_client::Reference::with_digest(
            registry.to_owned(),
            repository.to_owned(),
            image.manifest.digest.clone(),
        );
        client
            .push_manifest_raw(
                &by_digest,
                image.manifest.data.clone(),
                content_type(MANIFEST_MEDIA_TYPE),
            )
            .await
            .map_err(|e| Error::Push(format!("pushing the manifest of {reference}"), e))?;
    }
    client
        .push_manifest_raw(
            &reference,
            index.data.clone(),
            content_type(INDEX_MEDIA_TYPE),
        )
        .await
        .map_err(|e| Error::Push(format!("pushing the index of {reference}"), e))?;
    Ok(index.digest.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(layer: &Blob) -> Vec<(String, u32, u64, u64)> {
        let tar = flate2::read::GzDecoder::new(layer.data.as_slice());
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let header = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    header.mode().unwrap(),
                    header.uid().unwrap(),
                    header.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn the_same_binary_gives_the_same_digests() {
        let labels = BTreeMap::from([("org.opencontainers.image.version".into(), "1".into())]);
        let make = || {
            let base = base_layer(b"CERTS").unwrap();
            image(
                "source-controller",
                "amd64",
                b"\x7fELF binary",
                &base,
                &labels,
            )
            .unwrap()
        };
        let (first, second) = (make(), make());
        assert_eq!(first.manifest.digest, second.manifest.digest);
        let other = image(
            "source-controller",
            "amd64",
            b"\x7fELF other",
            &base_layer(b"CERTS").unwrap(),
            &labels,
        )
        .unwrap();
        assert_ne!(first.manifest.digest, other.manifest.digest);
        // The base layer is shared by every controller's image.
        assert_eq!(first.layers[0].digest, other.layers[0].digest);
    }

    #[test]
    fn images_run_their_binary_as_a_non_root_user_without_a_shell() {
        let base = base_layer(b"CERTS").unwrap();
        let made = image("helm-controller", "amd64", b"bin", &base, &BTreeMap::new()).unwrap();
        let config: Value = serde_json::from_slice(&made.config.data).unwrap();
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(
            config["config"]["Entrypoint"],
            json!(["/usr/local/bin/helm-controller"])
        );
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        let binary = entries(&made.layers[1]);
        assert_eq!(
            binary,
            [
                ("usr/".into(), 0o755, 0, 0),
                ("usr/local/".into(), 0o755, 0, 0),
                ("usr/local/bin/".into(), 0o755, 0, 0),
                ("usr/local/bin/helm-controller".into(), 0o755, 0, 0),
            ]
        );
        let paths: Vec<String> = entries(&made.layers[0]).into_iter().map(|e| e.0).collect();
        assert!(paths.contains(&CA_BUNDLE.to_owned()));
        assert!(!paths.iter().any(|p| p.starts_with("bin/")), "{paths:?}");
        let manifest: Value = serde_json::from_slice(&made.manifest.data).unwrap();
        assert_eq!(manifest["config"]["digest"], made.config.digest);
        let index: Value =
            serde_json::from_slice(&index(&[("amd64", &made)]).unwrap().data).unwrap();
        assert_eq!(index["manifests"][0]["digest"], made.manifest.digest);
        assert_eq!(index["manifests"][0]["platform"]["architecture"], "amd64");
    }

    #[test]
    fn extra_layers_sit_between_the_base_and_the_binary() {
        let base = base_layer(b"CERTS").unwrap();
        let libraries = layer(&[Entry {
            path: "lib/x86_64-linux-gnu/libc.so.6",
            mode: 0o755,
            data: b"libc",
        }])
        .unwrap();
        let made = image_with(
            "kubelet",
            "amd64",
            b"bin",
            &[base.clone(), libraries.clone()],
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(made.layers.len(), 3);
        assert_eq!(made.layers[0], base.0);
        assert_eq!(made.layers[1], libraries.0);
        let config: Value = serde_json::from_slice(&made.config.data).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][1], libraries.1);
        assert_eq!(
            entries(&made.layers[2]).last().unwrap().0,
            "usr/local/bin/kubelet"
        );
    }

    /// Pushed to the real registry, the tag serves the index, and each platform's manifest,
    /// config and layers come back with the digests made here.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pushed_image_is_served_by_the_registry_as_made() {
        use oci_client::client::{ClientConfig, ClientProtocol};
        use oci_client::secrets::RegistryAuth;

        let registry = driftless_testenv::registry::Registry::start(Default::default()).unwrap();
        let base = base_layer(b"CERTS").unwrap();
        let made = image(
            "notification-controller",
            "amd64",
            b"bin",
            &base,
            &BTreeMap::new(),
        )
        .unwrap();
        let arm64 = image(
            "notification-controller",
            "arm64",
            b"arm64 bin",
            &base,
            &BTreeMap::new(),
        )
        .unwrap();
        let index = index(&[("amd64", &made), ("arm64", &arm64)]).unwrap();
        let repository = "driftless/notification-controller";
        let pushed = push(
            &registry.host,
            repository,
            "v1",
            &[&made, &arm64],
            &index,
            true,
        )
        .await
        .unwrap();
        assert_eq!(pushed, index.digest);

        let client = oci_client::Client::new(ClientConfig {
            protocol: ClientProtocol::Http,
            ..ClientConfig::default()
        });
        let tag =
            oci_client::Reference::with_tag(registry.host.clone(), repository.into(), "v1".into());
        let auth = RegistryAuth::Anonymous;
        let served = client.fetch_manifest_digest(&tag, &auth).await.unwrap();
        assert_eq!(served, index.digest);
        // What a node pulls for amd64: the platform manifest, then its blobs.
        let (manifest, digest) = client.pull_image_manifest(&tag, &auth).await.unwrap();
        assert_eq!(digest, made.manifest.digest);
        assert_eq!(manifest.config.digest, made.config.digest);
        let mut layer = Vec::new();
        client
            .pull_blob(&tag, &manifest.layers[1], &mut layer)
            .await
            .unwrap();
        assert_eq!(layer, made.layers[1].data);
        // The arm64 image the index names is there too, with its own binary layer.
        let by_digest = oci_client::Reference::with_digest(
            registry.host.clone(),
            repository.into(),
            arm64.manifest.digest.clone(),
        );
        let (manifest, _) = client.pull_image_manifest(&by_digest, &auth).await.unwrap();
        let mut layer = Vec::new();
        client
            .pull_blob(&by_digest, &manifest.layers[1], &mut layer)
            .await
            .unwrap();
        assert_eq!(layer, arm64.layers[1].data);
        assert_ne!(arm64.layers[1], made.layers[1]);
    }
}
