//! Bucket is not implemented yet: the controller binary marks
//! its objects Stalled with reason `NotImplemented` instead of ignoring them.

mod support;

use std::path::Path;

use driftless_testenv::not_implemented::UnimplementedKinds;
use driftless_testenv::not_implemented::podinfo::bucket;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_unimplemented_source_kinds_end_stalled_not_implemented() {
    let binary = Path::new(env!("CARGO_BIN_EXE_source-controller"));
    let storage = tempfile::tempdir().expect("storage directory");
    let storage_flags = support::storage_flags(storage.path(), "127.0.0.1:0");
    let kinds =
        UnimplementedKinds::start("source-controller", binary, "source-kinds", &storage_flags)
            .await;
    kinds.expect_stalled(bucket()).await;
    kinds.stop_cleanly();
}
