//! notification-controller: Receivers that turn Git-host and registry webhooks into
//! reconcile requests, and events from the other controllers into alerts.

pub mod alerts;
pub mod commit_status;
pub mod events;
pub mod oidc;
pub mod providers;
pub mod receiver;
pub mod receiver_cel;
pub mod verify;
pub mod webhook;
