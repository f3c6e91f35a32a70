//! What a run reads from the API before the Git work: the GitRepository (from the watch
//! cache), its credentials (the same Secret keys and rules as source-controller), and the
//! commit signing key. Failures are [`Failure`]s worded as Flux words them.

use driftless_api::image::{ImageUpdateAutomation, SigningKeyType};
use driftless_api::source::GitRepository;
use driftless_git::{CommitSigner, Credentials, Transport};
use driftless_runtime::secrets::secret_data;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use super::outcome::Failure;

/// The GitRepository `automation` works on.
pub fn source(
    automation: &ImageUpdateAutomation,
    sources: Option<&Store<GitRepository>>,
    no_cross_namespace_refs: bool,
) -> Result<GitRepository, Failure> {
    let own = automation.namespace().unwrap_or_default();
    let reference = &automation.spec.source_ref;
    let namespace = reference.namespace.clone().unwrap_or_else(|| own.clone());
    if namespace != own && no_cross_namespace_refs {
        return Err(Failure::AccessDenied(format!(
            "can't access 'GitRepository/{namespace}/{}', cross-namespace references have been blocked",
            reference.name
        )));
    }
    sources
        .and_then(|s| s.get(&ObjectRef::new(&reference.name).within(&namespace)))
        .map(|r| (*r).clone())
        .ok_or_else(|| {
            Failure::SourceManager(format!(
                "referenced git repository does not exist: GitRepository '{namespace}/{}' not found",
                reference.name
            ))
        })
}

/// The credentials of `repository`'s `secretRef`, read as source-controller reads them.
pub async fn credentials(
    client: &kube::Client,
    repository: &GitRepository,
) -> Result<Credentials, Failure> {
    let namespace = repository.namespace().unwrap_or_default();
    let transport = Transport::of(&repository.spec.url).ok_or_else(|| {
        Failure::InvalidSource(format!(
            "invalid URL '{}': the scheme must be http, https or ssh",
            repository.spec.url
        ))
    })?;
    let Some(reference) = &repository.spec.secret_ref else {
        return Ok(Credentials::default());
    };
    let data = secret_data(client, &namespace, &reference.name)
        .await
        .map_err(|e| {
            Failure::SourceManager(format!(
                "failed to get auth secret '{namespace}/{}': {}",
                reference.name,
                driftless_runtime::kube_errors::message(&e)
            ))
        })?;
    Credentials::from_secret(transport, &data).map_err(|e| {
        Failure::SourceManager(format!("failed to configure authentication options: {e}"))
    })
}

/// The signer of `spec.git.commit.signingKey`, if any: `git.asc` (+`passphrase`) for gpg,
/// `identity` (+`password`) for ssh.
pub async fn signer(
    client: &kube::Client,
    automation: &ImageUpdateAutomation,
) -> Result<Option<CommitSigner>, Failure> {
    let Some(key) = automation
        .spec
        .git_spec
        .as_ref()
        .and_then(|g| g.commit.signing_key.as_ref())
    else {
        return Ok(None);
    };
    let namespace = automation.namespace().unwrap_or_default();
    let name = &key.secret_ref.name;
    let data = secret_data(client, &namespace, name).await.map_err(|e| {
        Failure::SourceManager(format!(
            "could not find signing key secret '{namespace}/{name}': {}",
            driftless_runtime::kube_errors::message(&e)
        ))
    })?;
    let text = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .filter(|v| !v.is_empty())
    };
    let signer = match key.key_type.unwrap_or_default() {
        SigningKeyType::Gpg => {
            let armored = data.get("git.asc").ok_or_else(|| {
                Failure::SourceManager(format!(
                    "signing key secret '{namespace}/{name}' does not contain a 'git.asc' key"
                ))
            })?;
            CommitSigner::openpgp(armored, text("passphrase").as_deref())
        }
        SigningKeyType::Ssh => {
            let identity = data.get("identity").ok_or_else(|| {
                Failure::SourceManager(format!(
                    "signing key secret '{namespace}/{name}' does not contain an 'identity' key"
                ))
            })?;
            CommitSigner::ssh(identity, text("password").as_deref())
        }
    };
    signer.map(Some).map_err(|e| {
        Failure::SourceManager(format!(
            "could not read signing key from secret '{namespace}/{name}': {e}"
        ))
    })
}
