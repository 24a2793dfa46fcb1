//! Remediation of a plain domain list (`--platform list --domains FILE`):
//! the domain's line removed from the file. The file is given on the
//! command line, so the audit recorded it under that name; the diff names
//! it relative to `--root`, and a file outside the root cannot be named
//! there, so it is left for a human.

use std::path::Path;

use super::diff::{EditOp, PlaceKind};
use super::{Action, Given, Kinds, Ops};
use crate::inventory::KnownDomain;
use crate::sources::ConfigRoot;

/// The edits that fix `known` in a domain list (`--domains FILE`), the
/// list files by their path relative to the root, or why it is left for a
/// human.
pub(super) fn ops(
    known: &KnownDomain,
    action: Action,
    root: &ConfigRoot,
) -> Result<(Kinds, Ops, Given), String> {
    if action == Action::MakeRelay {
        return Err(
            "a plain domain list has no relay list; make the domain a relay (backup MX) on the mail server itself".into(),
        );
    }
    let mut kinds = Kinds::new();
    let mut ops = Vec::new();
    let mut given = Given::new();
    for place in &known.declared {
        let rel = relative_to_root(Path::new(&place.file), root).ok_or_else(|| {
            format!(
                "the domains file {} is not under --root, so the diff cannot name it relative to the root",
                place.file
            )
        })?;
        kinds.insert(rel.clone(), (PlaceKind::LinePerName, None));
        given.insert(rel.clone(), place.file.clone());
        ops.push((
            rel,
            EditOp::Remove {
                line: place.line,
                spans: place.spans().collect(),
                kind: PlaceKind::LinePerName,
                domain: known.name.clone(),
            },
        ));
    }
    Ok((kinds, ops, given))
}

/// A path given on the command line, relative to the root when it is
/// below it.
fn relative_to_root(path: &Path, root: &ConfigRoot) -> Option<String> {
    let file = path.canonicalize().ok()?;
    let dir = root.dir().canonicalize().ok()?;
    let rel = file.strip_prefix(dir).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_str().map(str::to_string))
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
}
