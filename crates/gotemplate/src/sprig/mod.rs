//! Sprig v3's hermetic text functions (`HermeticTxtFuncMap`).

use crate::funcs::FuncMap;

/// Sprig's `HermeticTxtFuncMap`, minus what this crate does not implement (see the crate
/// README).
pub fn hermetic() -> FuncMap {
    FuncMap::new()
}
