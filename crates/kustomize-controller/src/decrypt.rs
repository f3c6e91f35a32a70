//! `spec.decryption` with SOPS, where Flux does it: files the kustomizations feed to secret
//! generators and patches are decrypted before the build, encrypted objects (and Secret values
//! that are whole encrypted files) after it. All of it happens on the in-memory artifact, so
//! plaintext is never written to disk.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use driftless_kustomize::fs::{FileSystem, MemFs, normalize};
use driftless_sops::{Format, Identities};
use driftless_yaml::{self as yaml, Node};
use serde_json::Value;

pub const DECRYPT_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/decrypt";
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
/// Flux's bound on a file it decrypts.
const MAX_FILE_BYTES: usize = 5 << 20;

/// Whether an object opted out of decryption with `kustomize.toolkit.fluxcd.io/decrypt:
/// disabled`.
fn disabled(annotations: Option<&Node>) -> bool {
    annotations
        .and_then(|a| a.get(DECRYPT_ANNOTATION))
        .and_then(Node::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
}

/// Decrypts, in place, the files the kustomization in `dir` (and the directories it includes
/// through `resources` and `components`) names in `secretGenerator` `files`/`envs` and in
/// `patches[].path`. Files that are not SOPS-encrypted are left as they are.
pub fn decrypt_sources(
    fs: &mut MemFs,
    root: &Path,
    dir: &Path,
    identities: &Identities,
) -> Result<(), String> {
    let mut visited_dirs = BTreeSet::new();
    let mut visited_files = BTreeSet::new();
    let mut pending = vec![normalize(dir)];
    while let Some(dir) = pending.pop() {
        if !visited_dirs.insert(dir.clone()) {
            continue;
        }
        let Some(file) = KUSTOMIZATION_FILES
            .iter()
            .map(|name| dir.join(name))
            .find(|p| fs.is_file(p))
        else {
            return Err(format!(
                "{}: no kustomization file found",
                relative(root, &dir)
            ));
        };
        let text = fs.read(&file).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&text);
        let kustomization =
            yaml::parse_one(&text).map_err(|e| format!("{}: {e}", relative(root, &file)))?;
        let strings = |key: &str| -> Vec<String> {
            kustomization
                .get(key)
                .and_then(Node::as_seq)
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        };
        let mut files: Vec<(PathBuf, Format)> = Vec::new();
        for generator in kustomization
            .get("secretGenerator")
            .and_then(Node::as_seq)
            .into_iter()
            .flatten()
        {
            for source in generator
                .get("files")
                .and_then(Node::as_seq)
                .into_iter()
                .flatten()
                .filter_map(Node::as_str)
            {
                // `key=path`: the key's name decides the format.
                let (key, path) = source.split_once('=').unwrap_or((source, source));
                files.push((dir.join(path), Format::for_path(key)));
            }
            for env in generator
                .get("envs")
                .and_then(Node::as_seq)
                .into_iter()
                .flatten()
                .filter_map(Node::as_str)
            {
                let format = match Format::for_path(env) {
                    Format::Binary => Format::Dotenv,
                    other => other,
                };
                files.push((dir.join(env), format));
            }
        }
        for patch in kustomization
            .get("patches")
            .and_then(Node::as_seq)
            .into_iter()
            .flatten()
        {
            if let Some(path) = patch.get("path").and_then(Node::as_str)
                && !path.is_empty()
                && !path.contains("://")
            {
                files.push((dir.join(path), Format::for_path(path)));
            }
        }
        for (path, format) in files {
            let path = normalize(&path);
            if !path.starts_with(root) || !visited_files.insert(path.clone()) {
                continue;
            }
            decrypt_file_in_place(fs, root, &path, format, identities)?;
        }
        for included in strings("resources")
            .into_iter()
            .chain(strings("components"))
        {
            let path = normalize(&dir.join(&included));
            if path.starts_with(root) && fs.is_dir(&path) {
                pending.push(path);
            }
        }
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn decrypt_file_in_place(
    fs: &mut MemFs,
    root: &Path,
    path: &Path,
    format: Format,
    identities: &Identities,
) -> Result<(), String> {
    let name = relative(root, path);
    // A missing file is kustomize's to report, with its own message.
    let Ok(data) = fs.read(path) else {
        return Ok(());
    };
    if data.len() > MAX_FILE_BYTES {
        return Err(format!(
            "cannot decrypt file with size ({} bytes) exceeding limit ({MAX_FILE_BYTES})",
            data.len()
        ));
    }
    if !format.is_encrypted(&data) {
        return Ok(());
    }
    let plain = driftless_sops::decrypt_file(&data, format, format, identities)
        .map_err(|e| format!("{name}: {e}"))?;
    fs.add_file(path, plain);
    Ok(())
}

/// Decrypts one built object: an encrypted document of any kind, or the `data` values of a
/// Secret that are whole encrypted files (rendered in the format their key's name says).
pub fn decrypt_resource(node: &mut Node, identities: &Identities) -> Result<(), String> {
    if disabled(node.get_path(&["metadata", "annotations"])) {
        return Ok(());
    }
    let name = node
        .str_at(&["metadata", "name"])
        .unwrap_or_default()
        .to_owned();
    let namespace = node
        .str_at(&["metadata", "namespace"])
        .unwrap_or_default()
        .to_owned();
    let kind = node.str_at(&["kind"]).unwrap_or_default().to_owned();
    let context = |message: String| format!("decryption failed for '{name}': {message}");
    if driftless_sops::is_encrypted_document(node) {
        let mut decrypted = node.clone();
        driftless_sops::decrypt_document(&mut decrypted, identities).map_err(|e| {
            context(format!(
                "failed to decrypt and format '{namespace}/{name}' {kind} data: {e}"
            ))
        })?;
        *node = decrypted;
        return Ok(());
    }
    if kind != "Secret" {
        return Ok(());
    }
    let mut replaced = Vec::new();
    if let Some(data) = node.get("data").and_then(Node::as_map) {
        for (key, value) in data.iter() {
            let Some(Ok(bytes)) = value.as_str().map(|v| STANDARD.decode(v)) else {
                continue;
            };
            let Some(input) = Format::detect(&bytes) else {
                continue;
            };
            let plain = driftless_sops::decrypt_file(
                &bytes,
                input,
                Format::for_path(key),
                identities,
            )
            .map_err(|e| {
                context(format!(
                    "failed to decrypt and format '{namespace}/{name}' Secret field '{key}': {e}"
                ))
            })?;
            replaced.push((key.to_owned(), STANDARD.encode(plain)));
        }
    }
    if let Some(data) = node.get_mut("data").and_then(Node::as_map_mut) {
        for (key, value) in replaced {
            data.insert(key, Node::string(value));
        }
    }
    Ok(())
}

/// Flux refuses to apply a Secret that is still SOPS-encrypted (decryption not configured):
/// its ciphertext would replace the real values in the cluster.
pub fn refuse_encrypted_secrets(objects: &[Value]) -> Result<(), String> {
    for object in objects {
        let is_secret = object.get("kind").and_then(Value::as_str) == Some("Secret")
            && object.get("apiVersion").and_then(Value::as_str) == Some("v1");
        let opted_out = object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(DECRYPT_ANNOTATION))
            .and_then(Value::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case("disabled"));
        if is_secret && object.get("sops").is_some() && !opted_out {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let id = match object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
            {
                Some(namespace) if !namespace.is_empty() => format!("Secret/{namespace}/{name}"),
                _ => format!("Secret/{name}"),
            };
            return Err(format!(
                "{id} is SOPS encrypted, configuring decryption is required for this secret to be reconciled"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_encrypted_v1_secrets_without_the_opt_out_are_refused() {
        let secret = |extra: Value| {
            let mut object = serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": { "name": "db", "namespace": "apps" },
            });
            if let (Some(object), Some(extra)) = (object.as_object_mut(), extra.as_object()) {
                object.extend(extra.clone());
            }
            object
        };
        let error =
            refuse_encrypted_secrets(&[secret(serde_json::json!({"sops": {}}))]).unwrap_err();
        assert_eq!(
            error,
            "Secret/apps/db is SOPS encrypted, configuring decryption is required for this secret to be reconciled"
        );
        assert!(refuse_encrypted_secrets(&[secret(serde_json::json!({}))]).is_ok());
        let opted_out = secret(serde_json::json!({
            "sops": {},
            "metadata": { "name": "db", "annotations": { DECRYPT_ANNOTATION: "Disabled" } },
        }));
        assert!(refuse_encrypted_secrets(&[opted_out]).is_ok());
        let config_map = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c" }, "sops": {},
        });
        assert!(refuse_encrypted_secrets(&[config_map]).is_ok());
    }

    #[test]
    fn sources_walk_included_kustomizations_and_leave_plain_files_alone() {
        let mut fs = MemFs::new();
        let root = Path::new("/source");
        fs.add_file(
            root.join("app/kustomization.yaml"),
            "resources:\n- ../base\n- cm.yaml\nsecretGenerator:\n- name: s\n  envs: [app.env]\n",
        );
        fs.add_file(root.join("app/app.env"), "A=1\n");
        fs.add_file(root.join("app/cm.yaml"), "kind: ConfigMap\n");
        // A base without a kustomization file cannot be walked, as in Flux.
        fs.add_file(root.join("base/deploy.yaml"), "kind: Deployment\n");
        let error =
            decrypt_sources(&mut fs, root, &root.join("app"), &Identities::new()).unwrap_err();
        assert_eq!(error, "base: no kustomization file found");

        fs.add_file(
            root.join("base/kustomization.yaml"),
            "resources: [deploy.yaml]\npatches:\n- path: patch.yaml\n",
        );
        decrypt_sources(&mut fs, root, &root.join("app"), &Identities::new()).unwrap();
        assert_eq!(fs.read(&root.join("app/app.env")).unwrap(), b"A=1\n");

        // An encrypted file with no key configured fails and names the file.
        fs.add_file(
            root.join("app/app.env"),
            "A=ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops_age__list_0__map_enc=x\nsops_mac=ENC[m]\n",
        );
        let error =
            decrypt_sources(&mut fs, root, &root.join("app"), &Identities::new()).unwrap_err();
        assert!(
            error.starts_with("app/app.env: cannot get sops data key"),
            "{error}"
        );
    }
}
