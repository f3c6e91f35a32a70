//! `source.toolkit.fluxcd.io/v1`: GitRepository, OCIRepository, Bucket, HelmRepository,
//! HelmChart, ExternalArtifact. One module per kind, as Flux's `api/v1/<kind>_types.go`;
//! everything is re-exported here, so callers name `source::GitRepository` and never the
//! file.

mod bucket;
mod externalartifact;
mod gitrepository;
mod helmchart;
mod helmrepository;
mod ocirepository;

pub use bucket::*;
pub use externalartifact::*;
pub use gitrepository::*;
pub use helmchart::*;
pub use helmrepository::*;
pub use ocirepository::*;

pub const GROUP: &str = "source.toolkit.fluxcd.io";
pub const VERSION: &str = "v1";

/// Default `spec.timeout` of the kinds that fetch from a remote (Git, OCI, Bucket).
fn default_source_timeout() -> Option<String> {
    Some("60s".into())
}
