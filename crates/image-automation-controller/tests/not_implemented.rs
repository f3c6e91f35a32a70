//! None of the image kinds is implemented yet: the controller binary marks their objects
//! Stalled with reason `NotImplemented` instead of ignoring them.

use std::path::Path;

use driftless_testenv::not_implemented::UnimplementedKinds;
use driftless_testenv::not_implemented::podinfo::{
    image_policy, image_repository, image_update_automation,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_every_image_kind_end_stalled_not_implemented() {
    let binary = Path::new(env!("CARGO_BIN_EXE_image-automation-controller"));
    let kinds =
        UnimplementedKinds::start("image-automation-controller", binary, "image-kinds", &[]).await;
    kinds.expect_stalled(image_repository()).await;
    kinds.expect_stalled(image_policy()).await;
    kinds.expect_stalled(image_update_automation()).await;
    kinds.stop_cleanly();
}
