//! source-controller: turns sources (Git, OCI artifacts, buckets, Helm repositories and charts) into verified,
//! content-addressed artifacts and serves them over HTTP.

pub mod bucket;
pub mod cosign;
pub mod failure;
pub mod gitrepository;
pub mod helmchart;
pub mod helmrepository;
pub mod ocirepository;
pub mod orphans;
pub mod packed;
pub mod progress;
pub mod storage;
pub mod stored;
pub mod verify;
