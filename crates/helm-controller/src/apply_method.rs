//! Server-side or client-side apply, chosen per action as Flux's helm-controller (on Helm 4)
//! chooses: installs apply server-side unless `install.serverSideApply: false`; upgrades and
//! rollbacks follow `serverSideApply: enabled|disabled`, and with `auto` (the default) keep
//! the method of the release they start from. A release recorded without a method was made
//! by Helm 3, which applies client-side. Each revision records its method in
//! `apply_method`, where Helm 4 keeps it.

use driftless_api::helm::ServerSideApplyMode;
use driftless_helm::release::Release;
use serde_json::Value;

const RECORD_KEY: &str = "apply_method";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyMethod {
    ServerSide,
    /// Helm 3's three-way merge patch.
    ClientSide,
}

impl ApplyMethod {
    /// What a release recorded (Helm 4's `"ssa"` or `"csa"`; none means Helm 3's CSA).
    pub fn of(release: &Release) -> ApplyMethod {
        match release.extra.get(RECORD_KEY).and_then(Value::as_str) {
            Some("ssa") => ApplyMethod::ServerSide,
            _ => ApplyMethod::ClientSide,
        }
    }

    /// Records the method on a new revision.
    pub fn record(self, release: &mut Release) {
        let text = match self {
            ApplyMethod::ServerSide => "ssa",
            ApplyMethod::ClientSide => "csa",
        };
        release
            .extra
            .insert(RECORD_KEY.to_owned(), Value::String(text.to_owned()));
    }

    /// `install.serverSideApply` (true when absent).
    pub fn for_install(server_side_apply: Option<bool>) -> ApplyMethod {
        if server_side_apply.unwrap_or(true) {
            ApplyMethod::ServerSide
        } else {
            ApplyMethod::ClientSide
        }
    }

    /// `upgrade.serverSideApply` or `rollback.serverSideApply`, from the release the action
    /// starts from (none: as an install).
    pub fn for_change(mode: Option<ServerSideApplyMode>, from: Option<&Release>) -> ApplyMethod {
        match mode.unwrap_or_default() {
            ServerSideApplyMode::Enabled => ApplyMethod::ServerSide,
            ServerSideApplyMode::Disabled => ApplyMethod::ClientSide,
            ServerSideApplyMode::Auto => from.map_or(ApplyMethod::ServerSide, ApplyMethod::of),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(method: Option<&str>) -> Release {
        let mut release = Release::default();
        if let Some(method) = method {
            release
                .extra
                .insert(RECORD_KEY.into(), Value::String(method.into()));
        }
        release
    }

    #[test]
    fn installs_apply_server_side_unless_turned_off() {
        assert_eq!(ApplyMethod::for_install(None), ApplyMethod::ServerSide);
        assert_eq!(
            ApplyMethod::for_install(Some(true)),
            ApplyMethod::ServerSide
        );
        assert_eq!(
            ApplyMethod::for_install(Some(false)),
            ApplyMethod::ClientSide
        );
    }

    #[test]
    fn auto_keeps_the_method_of_the_release_it_starts_from() {
        let ssa = recorded(Some("ssa"));
        let csa = recorded(Some("csa"));
        let helm3 = recorded(None);
        assert_eq!(
            ApplyMethod::for_change(None, Some(&ssa)),
            ApplyMethod::ServerSide
        );
        assert_eq!(
            ApplyMethod::for_change(None, Some(&csa)),
            ApplyMethod::ClientSide
        );
        // Helm 3 recorded no method and applied client-side.
        assert_eq!(
            ApplyMethod::for_change(None, Some(&helm3)),
            ApplyMethod::ClientSide
        );
        assert_eq!(ApplyMethod::for_change(None, None), ApplyMethod::ServerSide);
    }

    #[test]
    fn enabled_and_disabled_override_the_release() {
        let helm3 = recorded(None);
        let ssa = recorded(Some("ssa"));
        assert_eq!(
            ApplyMethod::for_change(Some(ServerSideApplyMode::Enabled), Some(&helm3)),
            ApplyMethod::ServerSide
        );
        assert_eq!(
            ApplyMethod::for_change(Some(ServerSideApplyMode::Disabled), Some(&ssa)),
            ApplyMethod::ClientSide
        );
    }

    #[test]
    fn the_method_is_recorded_as_helm_4_records_it() {
        let mut release = Release::default();
        ApplyMethod::ClientSide.record(&mut release);
        assert_eq!(ApplyMethod::of(&release), ApplyMethod::ClientSide);
        let json = serde_json::to_value(&release).unwrap();
        assert_eq!(json["apply_method"], "csa");
        ApplyMethod::ServerSide.record(&mut release);
        assert_eq!(
            serde_json::to_value(&release).unwrap()["apply_method"],
            "ssa"
        );
    }
}
