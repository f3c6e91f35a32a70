//! Flux image-automation's "Setters" update strategy, as a byte-exact text rewrite.
//!
//! A YAML scalar value followed on its line by a marker comment,
//! `image: app:1.0 # {"$imagepolicy": "flux-system:app"}`, is set to the latest image of that
//! ImagePolicy: the full ref (`name:tag`, `name:tag@digest` with a digest), or with a
//! `:tag`, `:name` or `:digest` suffix just that part. Only the marked scalar's text changes;
//! every other byte (comments, quoting, indentation, CRLF, blank lines) stays as written,
//! unlike Flux's kyaml round trip, which re-indents and moves comments. A file with nothing
//! to change is not rewritten at all.
//!
//! Pure: no I/O. A caller reads the files of a checkout, calls [`rewrite`] or
//! [`rewrite_all`], and writes back only [`FileUpdate::updated`] contents.
//!
//! ```
//! use driftless_setters::{ImageRef, Policies, rewrite};
//!
//! let mut policies = Policies::new();
//! policies.insert("flux-system", "app", ImageRef::new("ghcr.io/org/app", "1.1.0"));
//! let text = "image:   ghcr.io/org/app:1.0.0   # {\"$imagepolicy\": \"flux-system:app\"}\r\n";
//! let update = rewrite("deploy.yaml", text, &policies)?;
//! assert_eq!(
//!     update.updated.as_deref(),
//!     Some("image:   ghcr.io/org/app:1.1.0   # {\"$imagepolicy\": \"flux-system:app\"}\r\n"),
//! );
//! # Ok::<(), driftless_setters::SetterError>(())
//! ```

mod marker;
mod policy;
mod result;
mod scalar;
mod scan;

pub use marker::SHORT_HAND;
pub use policy::{ImageRef, Policies};
pub use result::{
    Change, FileUpdate, ObjectChanges, ObjectIdentifier, SkipReason, SkippedMarker, UpdateResult,
};
pub use scalar::Quoting;

use policy::Resolved;
use scan::Target;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetterError {
    /// The file holds a marker token but is not valid YAML; callers leave it alone.
    #[error("{path}: not valid YAML (line {line}): {message}")]
    InvalidYaml {
        path: String,
        line: usize,
        message: String,
    },
}

/// Sets every marked scalar of one file. `path` is only carried into the result.
pub fn rewrite(path: &str, text: &str, policies: &Policies) -> Result<FileUpdate, SetterError> {
    let mut update = FileUpdate {
        path: path.to_owned(),
        ..FileUpdate::default()
    };
    // Flux's screening: a file without the quoted token is not even parsed.
    if !text.contains(marker::SCREENING_TOKEN) {
        return Ok(update);
    }
    let scan = scan::scan(text).map_err(|error| SetterError::InvalidYaml {
        path: path.to_owned(),
        line: error.line,
        message: error.message,
    })?;

    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for marked in scan.marked {
        let skip = |reason| SkippedMarker {
            setter: marked.setter.clone(),
            line: marked.line,
            field: marked.field.clone(),
            reason,
        };
        let new_value = match policies.resolve(&marked.setter) {
            Resolved::Value(value) => value,
            Resolved::UnknownPolicy => {
                update.skipped.push(skip(SkipReason::UnknownPolicy));
                continue;
            }
            Resolved::NoDigest => {
                update.skipped.push(skip(SkipReason::NoDigest));
                continue;
            }
        };
        let (range, quoting, old_value, in_flow) = match marked.target {
            Target::Scalar {
                range,
                quoting,
                value,
                in_flow,
            } => (range, quoting, value, in_flow),
            Target::Unsupported(what) => {
                update.skipped.push(skip(SkipReason::Unsupported(what)));
                continue;
            }
        };
        if old_value == new_value {
            continue;
        }
        // Some readers (saphyr among them) refuse a plain scalar that follows a tab, so a
        // value that was plain there (`~`, say) is written quoted.
        let quoting = match quoting {
            scalar::Quoting::Plain if follows_tab(text, range.start) => scalar::Quoting::Double,
            other => other,
        };
        let written = scalar::render(&new_value, quoting, in_flow);
        edits.push((range.clone(), written.clone()));
        let id = scan
            .documents
            .get(marked.document)
            .cloned()
            .unwrap_or_default();
        update.objects.entry(id).or_default().push(Change {
            old_value,
            new_value,
            setter: marked.setter,
            field: marked.field,
            line: marked.line,
            span: range,
            written,
        });
    }

    if !edits.is_empty() {
        update.updated = Some(readable_rewrite(text, &mut edits, &mut update));
    }
    if edits.is_empty() {
        update.updated = None;
    }
    Ok(update)
}

/// `text` with the edits applied, provided the result still reads as YAML. Readers differ
/// at the edges (saphyr refuses a quoted scalar in a flow mapping whose closing brace is
/// under-indented, yet takes a plain one there), so an edit that would leave the file
/// unreadable is dropped and its marker reported skipped: the file is never written broken.
fn readable_rewrite(
    text: &str,
    edits: &mut Vec<(std::ops::Range<usize>, String)>,
    update: &mut FileUpdate,
) -> String {
    let all = apply(text, edits);
    if scan::scan(&all).is_ok() {
        return all;
    }
    let mut kept: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for edit in edits.drain(..) {
        kept.push(edit);
        if scan::scan(&apply(text, &kept)).is_err() {
            let Some((dropped, _)) = kept.pop() else {
                continue;
            };
            for changes in update.objects.values_mut() {
                changes.retain(|change| {
                    if change.span != dropped {
                        return true;
                    }
                    update.skipped.push(SkippedMarker {
                        setter: change.setter.clone(),
                        line: change.line,
                        field: change.field.clone(),
                        reason: SkipReason::Unsupported(
                            "a value whose new text the file cannot hold",
                        ),
                    });
                    false
                });
            }
        }
    }
    update.objects.retain(|_, changes| !changes.is_empty());
    *edits = kept;
    apply(text, edits)
}

/// Whether the blanks just before `at` hold a tab.
fn follows_tab(text: &str, at: usize) -> bool {
    text[..at]
        .chars()
        .rev()
        .take_while(|c| matches!(c, ' ' | '\t'))
        .any(|c| c == '\t')
}

/// `text` with each (non-overlapping, ascending) range replaced.
fn apply(text: &str, edits: &[(std::ops::Range<usize>, String)]) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut copied_to = 0;
    for (range, replacement) in edits {
        out.push_str(&text[copied_to..range.start]);
        out.push_str(replacement);
        copied_to = range.end;
    }
    out.push_str(&text[copied_to..]);
    out
}

/// Whether Flux's reader would consider a file: `.yaml` and `.yml` files, and kustomize's
/// extensionless `Kustomization`.
pub fn is_candidate(path: &str) -> bool {
    let file_name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    path.ends_with(".yaml") || path.ends_with(".yml") || file_name == "Kustomization"
}

/// [`rewrite`] over many `(path, contents)` files; files that are not [`is_candidate`] are
/// passed over, and ones that fail to parse are reported in `problem_files`.
pub fn rewrite_all<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
    policies: &Policies,
) -> UpdateResult {
    let mut result = UpdateResult::default();
    for (path, text) in files {
        if !is_candidate(path) {
            continue;
        }
        match rewrite(path, text, policies) {
            Ok(update) => {
                if !update.skipped.is_empty() {
                    result.skipped.insert(path.to_owned(), update.skipped);
                }
                if let Some(updated) = update.updated {
                    result.updated_files.insert(path.to_owned(), updated);
                    result.file_changes.insert(path.to_owned(), update.objects);
                }
            }
            Err(error) => {
                result.problem_files.insert(path.to_owned(), error);
            }
        }
    }
    result
}
