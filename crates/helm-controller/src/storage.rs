//! Release records in the cluster: Secrets of the storage namespace, read and written exactly
//! as Helm's Secrets driver does, so `helm` and this controller share them.

use std::collections::BTreeMap;

use driftless_helm::release::{self, Release};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("release records: {0}")]
    Kube(#[from] kube::Error),
    #[error("encoding release {name}.v{version}: {error}")]
    Encode {
        name: String,
        version: i64,
        error: release::CodecError,
    },
}

pub struct Storage {
    secrets: Api<Secret>,
}

impl Storage {
    pub fn new(client: kube::Client, namespace: &str) -> Storage {
        Storage {
            secrets: Api::namespaced(client, namespace),
        }
    }

    /// Every revision of release `name`, oldest first; records that do not decode are left
    /// out, as Helm leaves them out.
    pub async fn history(&self, name: &str) -> Result<Vec<Release>, StorageError> {
        let params = ListParams::default().labels(&release::history_selector(name));
        let list = self.secrets.list(&params).await?;
        let mut releases: Vec<Release> = list
            .items
            .iter()
            .filter_map(|secret| {
                let data = secret.data.as_ref()?.get(release::DATA_KEY)?;
                match release::decode(&data.0) {
                    Ok(release) => Some(release),
                    Err(error) => {
                        let secret = secret.metadata.name.as_deref().unwrap_or_default();
                        tracing::warn!(%secret, %error, "skipping unreadable release record");
                        None
                    }
                }
            })
            .collect();
        releases.sort_by_key(|release| release.version);
        Ok(releases)
    }

    fn secret(release: &Release, time_label: &str) -> Result<Secret, StorageError> {
        let encoded = release::encode(release).map_err(|error| StorageError::Encode {
            name: release.name.clone(),
            version: release.version,
            error,
        })?;
        let mut labels = release::labels(release);
        let now = jiff::Timestamp::now().as_second().to_string();
        labels.insert(time_label.to_owned(), now);
        Ok(Secret {
            metadata: ObjectMeta {
                name: Some(release::secret_name(&release.name, release.version)),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            type_: Some(release::SECRET_TYPE.to_owned()),
            data: Some(BTreeMap::from([(
                release::DATA_KEY.to_owned(),
                ByteString(encoded.into_bytes()),
            )])),
            ..Secret::default()
        })
    }

    pub async fn create(&self, release: &Release) -> Result<(), StorageError> {
        let secret = Self::secret(release, "createdAt")?;
        self.secrets.create(&PostParams::default(), &secret).await?;
        Ok(())
    }

    /// Replaces the record of `release`'s revision whole, as Helm's `Update` does.
    pub async fn update(&self, release: &Release) -> Result<(), StorageError> {
        let secret = Self::secret(release, "modifiedAt")?;
        let name = release::secret_name(&release.name, release.version);
        self.secrets
            .replace(&name, &PostParams::default(), &secret)
            .await?;
        Ok(())
    }

    pub async fn delete(&self, name: &str, version: i64) -> Result<(), StorageError> {
        let secret = release::secret_name(name, version);
        match self.secrets.delete(&secret, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}
