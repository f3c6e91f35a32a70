//! source-controller: turns sources (Git, OCI artifacts) into verified, content-addressed
//! tar.gz artifacts and serves them over HTTP.

pub mod failure;
pub mod gitrepository;
pub mod ocirepository;
pub mod orphans;
pub mod packed;
pub mod progress;
pub mod storage;
pub mod verify;
