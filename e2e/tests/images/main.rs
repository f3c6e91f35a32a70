//! The image loop end to end, every controller a real process: a new image pushed to the
//! registry → the registry's own notification reaches a `generic` Receiver → the
//! ImageRepository rescans → the ImagePolicy selects it → the ImageUpdateAutomation commits
//! and pushes → the GitRepository fetches the commit (at the automation's request, or from
//! GitHub's signed push webhook) → kustomize-controller applies → the Deployment runs the new
//! image, and an Alert announces it.

#[path = "../support/mod.rs"]
mod support;

mod image_loop;
