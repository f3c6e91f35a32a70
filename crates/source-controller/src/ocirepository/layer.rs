//! The layer an OCIRepository takes from the artifact, and the files it holds: the first
//! layer, or the first of `layerSelector.mediaType`; extracted (tar+gzip, every path and
//! entry checked, `.sourceignore` and `spec.ignore` applied) or copied as it is.

use driftless_api::source::OCILayerSelector;
use driftless_artifact::ignore::IgnoreRules;
use driftless_artifact::{Digest, FileEntry, Limits, unpack_to_memory};
use oci_client::manifest::OciDescriptor;

/// The ignore file an artifact may carry at its root, as in Git sources.
const SOURCE_IGNORE: &str = ".sourceignore";

/// The layer `selector` picks, or Flux's message for why there is none.
pub fn select<'a>(
    layers: &'a [OciDescriptor],
    selector: Option<&OCILayerSelector>,
) -> Result<&'a OciDescriptor, String> {
    if layers.is_empty() {
        return Err("no layers found in artifact".to_owned());
    }
    match selector
        .and_then(|s| s.media_type.as_deref())
        .filter(|m| !m.is_empty())
    {
        None => Ok(&layers[0]),
        Some(media_type) => layers
            .iter()
            .find(|layer| layer.media_type == media_type)
            .ok_or_else(|| {
                format!("failed to find layer with media type '{media_type}' in artifact")
            }),
    }
}

/// The files of the tar+gzip `blob` (whose sha256 is `digest`), minus what the artifact's
/// root `.sourceignore` and `spec_ignore` exclude. Path traversal, links and devices, a
/// digest mismatch and anything beyond `limits` are errors.
pub fn extract(
    blob: impl std::io::Read,
    digest: &Digest,
    spec_ignore: Option<&str>,
    limits: Limits,
) -> Result<Vec<FileEntry>, String> {
    let tree = unpack_to_memory(blob, digest, limits)
        .map_err(|e| format!("failed to extract layer contents from artifact: {e}"))?;
    let ignore_file = tree
        .get(SOURCE_IGNORE)
        .map(|f| String::from_utf8_lossy(&f.data).into_owned());
    let rules = IgnoreRules::for_source(ignore_file.as_deref().map(|text| ("", text)), spec_ignore);
    Ok(tree
        .into_iter()
        .filter(|(path, _)| !excluded(&rules, path))
        .map(|(path, file)| FileEntry {
            path,
            executable: file.executable,
            data: file.data,
        })
        .collect())
}

/// Whether `path` or one of its parent directories is excluded.
fn excluded(rules: &IgnoreRules, path: &str) -> bool {
    let mut prefix = String::new();
    let parts: Vec<&str> = path.split('/').collect();
    for (index, part) in parts.iter().enumerate() {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        let is_dir = index + 1 < parts.len();
        if rules.is_excluded(&prefix, is_dir) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(media_type: &str, digest: &str) -> OciDescriptor {
        OciDescriptor {
            media_type: media_type.to_owned(),
            digest: digest.to_owned(),
            size: 1,
            ..Default::default()
        }
    }

    fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
        let entries = files.iter().map(|(path, data)| FileEntry {
            path: (*path).to_owned(),
            executable: false,
            data: data.as_bytes().to_vec(),
        });
        driftless_artifact::pack(entries, Vec::new()).unwrap()
    }

    #[test]
    fn the_first_layer_unless_a_media_type_is_selected() {
        let layers = [layer("a/one", "sha256:1"), layer("b/two", "sha256:2")];
        assert_eq!(select(&layers, None).unwrap().digest, "sha256:1");
        let selector = OCILayerSelector {
            media_type: Some("b/two".into()),
            operation: None,
        };
        assert_eq!(select(&layers, Some(&selector)).unwrap().digest, "sha256:2");
        let missing = OCILayerSelector {
            media_type: Some("c/three".into()),
            operation: None,
        };
        assert_eq!(
            select(&layers, Some(&missing)).unwrap_err(),
            "failed to find layer with media type 'c/three' in artifact"
        );
        assert_eq!(
            select(&[], None).unwrap_err(),
            "no layers found in artifact"
        );
    }

    #[test]
    fn extraction_applies_sourceignore_and_spec_ignore() {
        let blob = tar_gz(&[
            (".sourceignore", "drafts/\n"),
            ("deploy/app.yaml", "kind: ConfigMap\n"),
            ("drafts/wip.yaml", "kind: Secret\n"),
            ("notes.md", "hello\n"),
        ]);
        let digest = Digest::of(&blob);
        let files = extract(&blob[..], &digest, Some("*.md\n"), Limits::default()).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, [".sourceignore", "deploy/app.yaml"]);
    }

    #[test]
    fn a_blob_that_is_not_its_digest_or_not_a_tarball_fails() {
        let blob = tar_gz(&[("a.yaml", "a: 1\n")]);
        let wrong = Digest::of(b"other");
        assert!(
            extract(&blob[..], &wrong, None, Limits::default())
                .unwrap_err()
                .starts_with("failed to extract layer contents from artifact")
        );
        let text = b"plain text, not gzip";
        assert!(extract(&text[..], &Digest::of(text), None, Limits::default()).is_err());
    }
}
