//! What an update changed, shaped as Flux's `update.Result` so commit-message templates can
//! range over `.Changed.FileChanges`, `.Changed.Changes` and `.Changed.Objects`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

/// The identifying data of a YAML document. Any part may be empty (a kustomization.yaml
/// has no name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectIdentifier {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// One setter applied to one field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change {
    pub old_value: String,
    pub new_value: String,
    /// The setter as the marker names it: `namespace:policy`, or with `:tag`, `:name`,
    /// `:digest`.
    pub setter: String,
    /// Where in the document, e.g. `spec.template.spec.containers[1].image`.
    pub field: String,
    /// 1-based line of the value.
    pub line: usize,
    /// The bytes of the original file that were replaced.
    pub span: Range<usize>,
    /// What replaced them: `new_value` as a scalar in the old one's quoting (double-quoted
    /// when a plain or single-quoted scalar cannot hold it).
    pub written: String,
}

/// All changes in one file, by the object they were made in.
pub type ObjectChanges = BTreeMap<ObjectIdentifier, Vec<Change>>;

/// Why a marker did not lead to a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// No policy of that `namespace:name` was given (or the setter suffix is unknown).
    UnknownPolicy,
    /// A `:digest` setter whose policy has no digest.
    NoDigest,
    /// The marked node is not one this crate rewrites (an alias, block or multi-line
    /// scalar).
    Unsupported(&'static str),
}

/// A marker left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedMarker {
    pub setter: String,
    pub line: usize,
    pub field: String,
    pub reason: SkipReason,
}

/// The outcome for one file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileUpdate {
    pub path: String,
    /// The new contents; `None` when nothing changed (the file must not be rewritten).
    pub updated: Option<String>,
    pub objects: ObjectChanges,
    pub skipped: Vec<SkippedMarker>,
}

impl FileUpdate {
    pub fn changed(&self) -> bool {
        self.updated.is_some()
    }
}

/// The outcome over many files, keyed by path.
#[derive(Debug, Clone, Default)]
pub struct UpdateResult {
    /// As Flux's `Result.FileChanges`: only files that changed.
    pub file_changes: BTreeMap<String, ObjectChanges>,
    /// New contents of the changed files.
    pub updated_files: BTreeMap<String, String>,
    /// Markers left alone, by file.
    pub skipped: BTreeMap<String, Vec<SkippedMarker>>,
    /// Files with a marker token that could not be read as YAML; left untouched.
    pub problem_files: BTreeMap<String, crate::SetterError>,
}

impl UpdateResult {
    /// Every distinct change (old value, new value, setter), as Flux's `Changes()`.
    pub fn changes(&self) -> Vec<Change> {
        let mut seen = BTreeSet::new();
        let mut changes: Vec<Change> = self
            .file_changes
            .values()
            .flat_map(|objects| objects.values().flatten())
            .filter(|c| seen.insert((c.old_value.clone(), c.new_value.clone(), c.setter.clone())))
            .cloned()
            .collect();
        changes.sort_by(|a, b| {
            (&a.setter, &a.old_value, &a.new_value).cmp(&(&b.setter, &b.old_value, &b.new_value))
        });
        changes
    }

    /// Changes by object regardless of file, as Flux's `Objects()`.
    pub fn objects(&self) -> ObjectChanges {
        let mut objects = ObjectChanges::new();
        for file in self.file_changes.values() {
            for (id, changes) in file {
                objects
                    .entry(id.clone())
                    .or_default()
                    .extend(changes.iter().cloned());
            }
        }
        objects
    }
}
