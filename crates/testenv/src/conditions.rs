//! Reading a Toolkit object's status conditions in assertions.

use driftless_api::meta::Condition;

/// The condition of `type_`; panics listing the conditions there are when it is missing.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> &'a Condition {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {conditions:?}"))
}

/// Whether there is a condition of `type_` with `status` (`True`, `False` or `Unknown`).
pub fn has_condition(conditions: &[Condition], type_: &str, status: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == status)
}
