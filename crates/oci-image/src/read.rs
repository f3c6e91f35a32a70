//! Reading back a layout [`crate::write_layout`] wrote, packed as a tar (as the test node's
//! images are cached): each named index with its platform images, ready to push again.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::{
    Blob, CONFIG_MEDIA_TYPE, Error, INDEX_MEDIA_TYPE, Image, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
    Result,
};

/// One image of a layout: its `org.opencontainers.image.ref.name`, its platform images and
/// the index naming them.
pub struct LayoutImage {
    pub reference: String,
    pub images: Vec<Image>,
    pub index: Blob,
}

/// Reads every image of the layout tar `archive`. Blobs are checked against their digests;
/// media types other than this crate's are refused, since it wrote the layout.
pub fn read_layout_tar(archive: &Path) -> Result<Vec<LayoutImage>> {
    let files = tar_files(archive)?;
    let invalid =
        |what: String| Error::Io(what, std::io::Error::from(std::io::ErrorKind::InvalidData));
    let blob = |descriptor: &Value| -> Result<Blob> {
        let digest = descriptor["digest"].as_str().unwrap_or_default();
        let path = format!("blobs/{}", digest.replacen(':', "/", 1));
        let data = files
            .get(&path)
            .ok_or_else(|| invalid(format!("{} lacks {path}", archive.display())))?;
        let media_type = known_media_type(descriptor["mediaType"].as_str().unwrap_or_default())
            .ok_or_else(|| invalid(format!("{path}: media type {}", descriptor["mediaType"])))?;
        let read = Blob::new(media_type, data.clone());
        if read.digest != digest {
            return Err(invalid(format!("{path} does not match its digest")));
        }
        Ok(read)
    };
    let json = |blob: &Blob| -> Result<Value> { Ok(serde_json::from_slice(&blob.data)?) };
    let top: Value = serde_json::from_slice(
        files
            .get("index.json")
            .ok_or_else(|| invalid(format!("{} has no index.json", archive.display())))?,
    )?;
    let mut read = Vec::new();
    for entry in top["manifests"].as_array().into_iter().flatten() {
        let index = blob(entry)?;
        let mut images = Vec::new();
        for platform in json(&index)?["manifests"].as_array().into_iter().flatten() {
            let manifest = blob(platform)?;
            let parsed = json(&manifest)?;
            let layers = parsed["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(blob)
                .collect::<Result<Vec<_>>>()?;
            images.push(Image {
                layers,
                config: blob(&parsed["config"])?,
                manifest,
            });
        }
        let reference = entry["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        read.push(LayoutImage {
            reference,
            images,
            index,
        });
    }
    Ok(read)
}

fn known_media_type(media_type: &str) -> Option<&'static str> {
    [
        MANIFEST_MEDIA_TYPE,
        INDEX_MEDIA_TYPE,
        CONFIG_MEDIA_TYPE,
        LAYER_MEDIA_TYPE,
    ]
    .into_iter()
    .find(|known| *known == media_type)
}

/// The regular files of a tar by path, without a leading `./`.
fn tar_files(archive: &Path) -> Result<HashMap<String, Vec<u8>>> {
    let reading = || format!("reading {}", archive.display());
    let file = std::fs::File::open(archive).map_err(|e| Error::Io(reading(), e))?;
    let mut files = HashMap::new();
    let mut tar = tar::Archive::new(file);
    for entry in tar.entries().map_err(|e| Error::Io(reading(), e))? {
        let mut entry = entry.map_err(|e| Error::Io(reading(), e))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| Error::Io(reading(), e))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| Error::Io(reading(), e))?;
        files.insert(path, data);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{base_layer, image, index, write_layout};

    fn packed(dir: &Path) -> tempfile::NamedTempFile {
        let archive = tempfile::NamedTempFile::new().unwrap();
        let mut tar = tar::Builder::new(archive.reopen().unwrap());
        tar.append_dir_all(".", dir).unwrap();
        tar.finish().unwrap();
        archive
    }

    #[test]
    fn a_written_layout_reads_back_as_written() {
        let base = base_layer(b"CERTS").unwrap();
        let amd64 = image("agnhost", "amd64", b"x86", &base, &BTreeMap::new()).unwrap();
        let arm64 = image("agnhost", "arm64", b"arm", &base, &BTreeMap::new()).unwrap();
        let made = index(&[("amd64", &amd64), ("arm64", &arm64)]).unwrap();
        let mut blobs = Vec::new();
        for platform in [&amd64, &arm64] {
            blobs.extend(platform.layers.iter().cloned());
            blobs.extend([platform.config.clone(), platform.manifest.clone()]);
        }
        let dir = tempfile::tempdir().unwrap();
        write_layout(
            dir.path(),
            "test",
            &[("e2e/agnhost".into(), blobs, made.clone())],
        )
        .unwrap();
        let archive = packed(dir.path());

        let read = read_layout_tar(archive.path()).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].reference, "e2e/agnhost:test");
        assert_eq!(read[0].index, made);
        assert_eq!(read[0].images.len(), 2);
        assert_eq!(read[0].images[1].manifest, arm64.manifest);
        assert_eq!(read[0].images[1].config, arm64.config);
        assert_eq!(read[0].images[1].layers, arm64.layers);
    }

    #[test]
    fn a_blob_that_does_not_match_its_digest_is_refused() {
        let base = base_layer(b"CERTS").unwrap();
        let amd64 = image("agnhost", "amd64", b"x86", &base, &BTreeMap::new()).unwrap();
        let made = index(&[("amd64", &amd64)]).unwrap();
        let mut blobs = amd64.layers.clone();
        blobs.extend([amd64.config.clone(), amd64.manifest.clone()]);
        let dir = tempfile::tempdir().unwrap();
        write_layout(dir.path(), "test", &[("app".into(), blobs, made)]).unwrap();
        let config = dir
            .path()
            .join("blobs/sha256")
            .join(amd64.config.digest.trim_start_matches("sha256:"));
        std::fs::write(&config, b"{}").unwrap();
        let archive = packed(dir.path());

        let error = read_layout_tar(archive.path()).err().unwrap().to_string();
        assert!(error.contains("does not match its digest"), "{error}");
    }
}
