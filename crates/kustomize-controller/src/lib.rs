//! kustomize-controller: Flux's Kustomization API, applied with server-side apply.

pub mod apply;
pub mod build;
pub mod clients;
pub mod decrypt;
pub mod health;
pub mod health_exprs;
pub mod history;
pub mod inventory;
pub mod kustomization;
pub mod substitute;
pub mod takeover;
