//! source-controller: turns sources (Git now; OCI and Bucket later) into verified,
//! content-addressed tar.gz artifacts and serves them over HTTP.

pub mod gitrepository;
pub mod packed;
pub mod storage;
pub mod verify;
