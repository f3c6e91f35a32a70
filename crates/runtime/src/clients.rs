//! Which cluster, and as whom, a Kustomization or HelmRelease applies: the controller itself,
//! a service account it impersonates (`spec.serviceAccountName` or
//! `--default-service-account`), or a remote cluster from the kubeconfig in
//! `spec.kubeConfig.secretRef` (impersonating the service account there when one is named), or
//! one reached with a service account token (`spec.kubeConfig.configMapRef`).
//! Clients are kept and reused until the kubeconfig Secret changes.

use std::sync::Arc;
use std::time::Instant;

use driftless_api::meta::KubeConfigReference;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::Resource;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::apply::Applier;
use crate::workload_identity;

/// Where, and as whom, one object applies: its namespace, `spec.serviceAccountName` and
/// `spec.kubeConfig`.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub namespace: &'a str,
    pub service_account_name: Option<&'a str>,
    pub kube_config: Option<&'a KubeConfigReference>,
}

/// Clients kept for impersonated users and remote clusters.
const CACHED_CLIENTS: usize = 1024;

/// The flags of the controllers that apply (Flux's names): whom to impersonate by default,
/// and what kubeconfigs of remote clusters may use.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ClientArgs {
    /// Service account impersonated for objects without `spec.serviceAccountName` (none: the
    /// controller's own).
    #[arg(long, default_value = "")]
    pub default_service_account: String,
    /// Let kubeconfigs of remote clusters (`spec.kubeConfig`) run exec credential plugins.
    #[arg(long)]
    pub insecure_kubeconfig_exec: bool,
    /// Let kubeconfigs of remote clusters skip TLS verification.
    #[arg(long)]
    pub insecure_kubeconfig_tls: bool,
}

impl ClientArgs {
    pub fn default_service_account(&self) -> Option<String> {
        Some(self.default_service_account.clone()).filter(|s| !s.is_empty())
    }

    pub fn policy(&self) -> KubeconfigPolicy {
        KubeconfigPolicy {
            allow_exec: self.insecure_kubeconfig_exec,
            allow_insecure_tls: self.insecure_kubeconfig_tls,
        }
    }
}

/// What a remote kubeconfig may use: Flux's `--insecure-kubeconfig-exec` and
/// `--insecure-kubeconfig-tls`.
#[derive(Clone, Copy, Debug, Default)]
pub struct KubeconfigPolicy {
    pub allow_exec: bool,
    pub allow_insecure_tls: bool,
}

pub struct Clients {
    local: Arc<Applier>,
    /// Who objects are applied as.
    field_manager: &'static str,
    /// The controller's own client configuration, for impersonation.
    config: kube::Config,
    /// Reads kubeconfig Secrets, as the controller.
    client: kube::Client,
    default_service_account: Option<String>,
    policy: KubeconfigPolicy,
    /// By cluster and user; remote entries remember the Secret's (or ConfigMap's)
    /// resourceVersion. Bounded: entries of deleted Kustomizations or old Secrets age out.
    cache: quick_cache::sync::Cache<String, CachedApplier>,
}

#[derive(Clone)]
struct CachedApplier {
    version: String,
    /// When a client with a requested token must be rebuilt.
    refresh_at: Option<Instant>,
    applier: Arc<Applier>,
}

impl Clients {
    pub fn new(
        client: kube::Client,
        config: kube::Config,
        field_manager: &'static str,
        default_service_account: Option<String>,
        policy: KubeconfigPolicy,
    ) -> Self {
        Self {
            local: Arc::new(Applier::new(client.clone(), field_manager)),
            field_manager,
            config,
            client,
            default_service_account,
            policy,
            cache: quick_cache::sync::Cache::new(CACHED_CLIENTS),
        }
    }

    /// The service account `target` acts as: its own, or `--default-service-account`.
    fn service_account(&self, target: &Target<'_>) -> Option<String> {
        target
            .service_account_name
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .or_else(|| self.default_service_account.clone())
    }

    /// The service account `target` acts as on this cluster, when it does not exist (deleted
    /// with its tenant's namespace, say). Remote clusters are not looked at.
    pub async fn missing_service_account(&self, target: &Target<'_>) -> Option<String> {
        if target.kube_config.is_some() {
            return None;
        }
        let account = self.service_account(target)?;
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), target.namespace);
        match accounts.get_metadata_opt(&account).await {
            Ok(None) => Some(account),
            _ => None,
        }
    }

    /// The applier for `target`. Errors are messages for a failure condition.
    pub async fn applier_for(&self, target: &Target<'_>) -> Result<Arc<Applier>, String> {
        let namespace = target.namespace.to_owned();
        let account = self.service_account(target);
        let user = account.map(|a| format!("system:serviceaccount:{namespace}:{a}"));
        let remote = target.kube_config.and_then(|k| k.secret_ref.as_ref());
        if remote.is_none()
            && let Some(config_map) = target.kube_config.and_then(|k| k.config_map_ref.as_ref())
        {
            return self
                .identity_applier(&namespace, &config_map.name, user)
                .await;
        }
        let Some(reference) = remote else {
            let Some(user) = user else {
                return Ok(self.local.clone());
            };
            let key = format!("local/{user}");
            if let Some(cached) = self.cached(&key) {
                return Ok(cached.applier);
            }
            let mut config = self.config.clone();
            config.auth_info.impersonate = Some(user);
            let applier = self.applier(config)?;
            self.remember(key, String::new(), None, applier.clone());
            return Ok(applier);
        };

        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        let secret = secrets.get(&reference.name).await.map_err(|e| match &e {
            kube::Error::Api(status) if status.code == 404 => format!(
                "failed to build kube client: Secret '{namespace}/{}' not found",
                reference.name
            ),
            _ => format!(
                "failed to build kube client: reading Secret '{namespace}/{}': {e}",
                reference.name
            ),
        })?;
        let version = secret.meta().resource_version.clone().unwrap_or_default();
        let data_key = reference.key.clone().filter(|k| !k.is_empty());
        let key = format!(
            "remote/{namespace}/{}/{}/{}",
            reference.name,
            data_key.as_deref().unwrap_or(""),
            user.as_deref().unwrap_or("")
        );
        if let Some(cached) = self.cached(&key)
            && cached.version == version
        {
            return Ok(cached.applier);
        }
        let data = secret.data.unwrap_or_default();
        let candidates = match &data_key {
            Some(k) => vec![k.clone()],
            None => vec!["value".to_owned(), "value.yaml".to_owned()],
        };
        let text = candidates
            .iter()
            .find_map(|k| data.get(k))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            .ok_or_else(|| {
                format!(
                    "failed to build kube client: Secret '{namespace}/{}' has no key {}",
                    reference.name,
                    candidates
                        .iter()
                        .map(|k| format!("'{k}'"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            })?;
        let kubeconfig = Kubeconfig::from_yaml(&text)
            .map_err(|e| format!("failed to build kube client: invalid kubeconfig: {e}"))?;
        check(&kubeconfig, self.policy).map_err(|e| {
            format!(
                "failed to build kube client: kubeconfig in Secret '{namespace}/{}' {e}",
                reference.name
            )
        })?;
        let applier = self.remote_applier(kubeconfig, user).await?;
        self.remember(key, version, None, applier.clone());
        Ok(applier)
    }

    /// The applier for a remote cluster reached by workload identity (`configMapRef`), with
    /// a token requested here; rebuilt when the ConfigMap changes or the token runs low.
    async fn identity_applier(
        &self,
        namespace: &str,
        name: &str,
        user: Option<String>,
    ) -> Result<Arc<Applier>, String> {
        let config_maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let config_map = config_maps.get(name).await.map_err(|e| match &e {
            kube::Error::Api(status) if status.code == 404 => {
                format!("failed to build kube client: ConfigMap '{namespace}/{name}' not found")
            }
            _ => {
                format!("failed to build kube client: reading ConfigMap '{namespace}/{name}': {e}")
            }
        })?;
        let version = config_map
            .meta()
            .resource_version
            .clone()
            .unwrap_or_default();
        let key = format!(
            "identity/{namespace}/{name}/{}",
            user.as_deref().unwrap_or("")
        );
        if let Some(cached) = self.cached(&key)
            && cached.version == version
            && cached.refresh_at.is_some_and(|at| Instant::now() < at)
        {
            return Ok(cached.applier);
        }
        let data = config_map.data.unwrap_or_default();
        let connection = workload_identity::connection(name, &data)
            .map_err(|e| format!("failed to build kube client: {e}"))?;
        let issued = workload_identity::token(&self.client, namespace, &connection)
            .await
            .map_err(|e| format!("failed to build kube client: {e}"))?;
        let refresh_at = Instant::now() + issued.valid_for / 2;
        let kubeconfig = workload_identity::kubeconfig(&connection, &issued.token)
            .map_err(|e| format!("failed to build kube client: {e}"))?;
        let applier = self.remote_applier(kubeconfig, user).await?;
        self.remember(key, version, Some(refresh_at), applier.clone());
        Ok(applier)
    }

    /// An applier for the cluster of `kubeconfig`, impersonating `user` there (as in Flux).
    async fn remote_applier(
        &self,
        kubeconfig: Kubeconfig,
        user: Option<String>,
    ) -> Result<Arc<Applier>, String> {
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| format!("failed to build kube client: {e}"))?;
        config.auth_info.impersonate = user;
        self.applier(config)
    }

    fn applier(&self, config: kube::Config) -> Result<Arc<Applier>, String> {
        let client = kube::Client::try_from(config)
            .map_err(|e| format!("failed to build kube client: {e}"))?;
        Ok(Arc::new(Applier::new(client, self.field_manager)))
    }

    fn cached(&self, key: &str) -> Option<CachedApplier> {
        self.cache.get(key)
    }

    fn remember(
        &self,
        key: String,
        version: String,
        refresh_at: Option<Instant>,
        applier: Arc<Applier>,
    ) {
        self.cache.insert(
            key,
            CachedApplier {
                version,
                refresh_at,
                applier,
            },
        );
    }
}

/// A kubeconfig from a Secret may not make the controller run programs, read its own files,
/// or skip TLS verification (unless the policy allows the first and last, as Flux's flags do).
fn check(kubeconfig: &Kubeconfig, policy: KubeconfigPolicy) -> Result<(), String> {
    for user in &kubeconfig.auth_infos {
        let Some(auth) = &user.auth_info else {
            continue;
        };
        if auth.exec.is_some() && !policy.allow_exec {
            return Err(format!(
                "uses exec for user '{}', which is not allowed (--insecure-kubeconfig-exec)",
                user.name
            ));
        }
        if auth.auth_provider.is_some() {
            return Err(format!(
                "uses an auth-provider for user '{}', which is not supported",
                user.name
            ));
        }
        for (field, set) in [
            ("tokenFile", auth.token_file.is_some()),
            ("client-certificate", auth.client_certificate.is_some()),
            ("client-key", auth.client_key.is_some()),
        ] {
            if set {
                return Err(format!(
                    "refers to a file ({field}) for user '{}': only inline data is allowed",
                    user.name
                ));
            }
        }
    }
    for cluster in &kubeconfig.clusters {
        let Some(info) = &cluster.cluster else {
            continue;
        };
        if info.certificate_authority.is_some() {
            return Err(format!(
                "refers to a file (certificate-authority) for cluster '{}': only inline data is allowed",
                cluster.name
            ));
        }
        if info.insecure_skip_tls_verify == Some(true) && !policy.allow_insecure_tls {
            return Err(format!(
                "skips TLS verification for cluster '{}', which is not allowed (--insecure-kubeconfig-tls)",
                cluster.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "apiVersion: v1
kind: Config
clusters:
- name: remote
  cluster:
    server: https://remote.example:6443
    certificate-authority-data: AAAA
contexts:
- name: remote
  context: {cluster: remote, user: deployer}
current-context: remote
users:
- name: deployer
  user:
";

    fn kubeconfig(user: &str, cluster_extra: &str) -> Kubeconfig {
        let text = BASE.replace(
            "    certificate-authority-data: AAAA\n",
            &format!("    certificate-authority-data: AAAA\n{cluster_extra}"),
        ) + user;
        Kubeconfig::from_yaml(&text).unwrap()
    }

    #[test]
    fn inline_credentials_pass() {
        let config = kubeconfig("    token: abc\n", "");
        assert!(check(&config, KubeconfigPolicy::default()).is_ok());
    }

    #[test]
    fn exec_files_and_insecure_tls_are_refused_unless_allowed() {
        let exec = kubeconfig(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n",
            "",
        );
        let error = check(&exec, KubeconfigPolicy::default()).unwrap_err();
        assert!(error.contains("--insecure-kubeconfig-exec"), "{error}");
        let allowed = KubeconfigPolicy {
            allow_exec: true,
            allow_insecure_tls: false,
        };
        assert!(check(&exec, allowed).is_ok());

        let file = kubeconfig("    tokenFile: /var/run/secrets/token\n", "");
        let error = check(&file, KubeconfigPolicy::default()).unwrap_err();
        assert!(error.contains("tokenFile"), "{error}");
        let cert = kubeconfig("    client-certificate: /etc/cert\n", "");
        assert!(check(&cert, KubeconfigPolicy::default()).is_err());

        let insecure = kubeconfig("    token: abc\n", "    insecure-skip-tls-verify: true\n");
        let error = check(&insecure, KubeconfigPolicy::default()).unwrap_err();
        assert!(error.contains("--insecure-kubeconfig-tls"), "{error}");
        let allowed = KubeconfigPolicy {
            allow_exec: false,
            allow_insecure_tls: true,
        };
        assert!(check(&insecure, allowed).is_ok());
    }
}
