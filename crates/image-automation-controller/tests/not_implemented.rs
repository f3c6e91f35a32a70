//! ImageUpdateAutomation is not implemented yet: the controller binary marks its objects
//! Stalled with reason `NotImplemented` instead of ignoring them.

use std::path::Path;

use driftless_testenv::not_implemented::UnimplementedKinds;
use driftless_testenv::not_implemented::podinfo::image_update_automation;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_automations_end_stalled_not_implemented() {
    let binary = Path::new(env!("CARGO_BIN_EXE_image-automation-controller"));
    let storage = tempfile::tempdir().expect("storage dir");
    let flags = [format!("--storage-path={}", storage.path().display())];
    let kinds =
        UnimplementedKinds::start("image-automation-controller", binary, "image-kinds", &flags)
            .await;
    kinds.expect_stalled(image_update_automation()).await;
    kinds.stop_cleanly();
}
