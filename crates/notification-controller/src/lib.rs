//! notification-controller: Receivers that turn Git-host and registry webhooks into
//! reconcile requests (alerts and providers are not implemented yet).

pub mod receiver;
pub mod verify;
pub mod webhook;
