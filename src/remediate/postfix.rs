//! Remediation on plain Postfix: edits of main.cf, match-list files and
//! the text sources of lookup tables, exactly where the audit found each
//! name, then `postmap` and `postfix reload` (see `follow_ups`).
//!
//! - How each file is read comes from the audit ([`PostfixFiles`]), never
//!   from a second read of main.cf: a configuration edited during the run
//!   is refused by the file checks, not re-interpreted.
//! - mxdrift never writes a compiled table (`.db`, `.lmdb`, `.cdb`): a
//!   domain declared only there is left for a human, with the command.

use super::diff::{EditOp, PlaceKind};
use super::{Action, FileEdit, Kinds, Ops, StaleTable, remove_op};
use crate::audit::Audit;
use crate::inventory::{DomainName, KnownDomain, PostfixParam, Via};
use crate::rules::RuleId;
use crate::sources::ConfigRoot;
use crate::sources::postfix::compiled::{self, CompiledFormat, FileSource};
use crate::sources::postfix::{CompiledTable, PostfixFile, PostfixFiles};

/// How each text file is edited, and the type `postmap` compiles a table
/// source as.
pub(super) fn kinds(files: &PostfixFiles) -> Kinds {
    files
        .files
        .iter()
        .map(|(rel, file)| {
            let kind = match file {
                PostfixFile::MainCf => (PlaceKind::MainCf, None),
                PostfixFile::List => (PlaceKind::ListFile, None),
                PostfixFile::TableSource { table_type } => {
                    (PlaceKind::TableSource, Some(table_type.clone()))
                }
            };
            (rel.clone(), kind)
        })
        .collect()
}

/// Why a domain declared in a compiled file is left for a human.
fn compiled_reason(file: &str, place: &CompiledTable, domain: &DomainName) -> String {
    match &place.source {
        None => format!(
            "declared only in the compiled table {file}, which has no text source: mxdrift never writes binary files. Find out what builds this table (a script or a panel would add the domain again), then remove the key there, or with `postmap -d '{domain}' {}` and `postfix reload`",
            place.postmap_table
        ),
        Some(source) => format!(
            "declared in the compiled table {file} but no longer in its source {source} (see table-not-compiled): review the source, then run `postmap {}` and `postfix reload`",
            place.postmap_table
        ),
    }
}

/// The edits that fix `known` on plain Postfix, or why it is left for a
/// human.
pub(super) fn ops(
    known: &KnownDomain,
    action: Action,
    kinds: &Kinds,
    files: &PostfixFiles,
) -> Result<Ops, String> {
    let mut ops = Vec::new();
    let mut in_relay = false;
    for place in &known.declared {
        if let Some(table) = files.compiled.get(&place.file) {
            return Err(compiled_reason(&place.file, table, &known.name));
        }
        // A compiled table of a class list was left above; a compiled
        // transport table only routes, as its text would.
        let param = match place.via {
            Via::Parameter(param) | Via::CompiledTable(param) => param,
            Via::Default(_) | Via::ListFile(_) | Via::Directory(_) => {
                return Err(format!(
                    "declared at {}:{} through {}, which mxdrift does not edit",
                    place.file, place.line, place.via
                ));
            }
        };
        match param {
            // Transport entries route mail; they do not make it local.
            PostfixParam::TransportMaps => continue,
            PostfixParam::RelayDomains => {
                in_relay = true;
                if action == Action::MakeRelay {
                    continue;
                }
            }
            PostfixParam::Mydestination
            | PostfixParam::VirtualAliasDomains
            | PostfixParam::VirtualMailboxDomains => {}
        }
        ops.push(remove_op(place, known, kinds)?);
    }
    if action == Action::MakeRelay && !in_relay {
        ops.push((
            files.main_cf.clone(),
            EditOp::AppendToParam {
                param: PostfixParam::RelayDomains,
                domain: known.name.clone(),
            },
        ));
    }
    Ok(ops)
}

/// Postfix table sources, not edited now, whose keys differ from the
/// compiled file Postfix reads (the audit's `table-not-compiled`): a change
/// never compiled, so Postfix still answers from other keys.
pub(super) fn stale_tables(
    audit: &Audit,
    root: &ConfigRoot,
    kinds: &Kinds,
    edits: &[FileEdit],
) -> Vec<StaleTable> {
    let differing: Vec<&str> = audit
        .run_findings
        .iter()
        .filter(|f| f.rule == RuleId::TableNotCompiled)
        .filter_map(|f| f.file.as_deref())
        .collect();
    kinds
        .iter()
        .filter(|(rel, _)| differing.contains(&rel.as_str()))
        .filter(|(rel, _)| !edits.iter().any(|e| &e.rel == *rel))
        .filter_map(|(rel, (kind, table_type))| {
            let table_type = table_type
                .as_deref()
                .filter(|_| *kind == PlaceKind::TableSource)?;
            Some(StaleTable {
                source: rel.clone(),
                postmap: compiled_type(root, rel, table_type)?,
            })
        })
        .collect()
}

/// The table type to give postmap, from the compiled file that exists
/// (`hash:` may have been redirected to lmdb, a `.db` may be a btree: the
/// compiled readers' format detection says which); `None` for types read
/// directly from text (texthash).
pub(super) fn compiled_type(root: &ConfigRoot, rel: &str, configured: &str) -> Option<String> {
    if configured == "texthash" || configured == "inline" {
        return None;
    }
    let db = format!("{rel}.db");
    if root.exists(&db) {
        let detected = root
            .open(&db)
            .ok()
            .and_then(|file| FileSource::new(file).ok())
            .and_then(|src| compiled::detect(&src).ok().flatten());
        let table_type = match detected {
            Some(format @ (CompiledFormat::BerkeleyHash | CompiledFormat::BerkeleyBtree)) => {
                format.table_type()
            }
            _ => "hash",
        };
        return Some(table_type.to_string());
    }
    if root.exists(&format!("{rel}.lmdb")) {
        return Some("lmdb".into());
    }
    if root.exists(&format!("{rel}.cdb")) {
        return Some("cdb".into());
    }
    Some(configured.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berkeley_magic_decides_hash_or_btree() {
        let dir = tempfile::tempdir().unwrap();
        let root = ConfigRoot::new(dir.path());
        let mut page = vec![0u8; 64];
        page[12..16].copy_from_slice(&0x0005_3162u32.to_le_bytes());
        std::fs::write(dir.path().join("t.db"), &page).unwrap();
        assert_eq!(compiled_type(&root, "t", "hash").as_deref(), Some("btree"));
        page[12..16].copy_from_slice(&0x0006_1561u32.to_be_bytes());
        std::fs::write(dir.path().join("t.db"), &page).unwrap();
        assert_eq!(compiled_type(&root, "t", "btree").as_deref(), Some("hash"));
        std::fs::write(dir.path().join("u.lmdb"), b"").unwrap();
        assert_eq!(compiled_type(&root, "u", "hash").as_deref(), Some("lmdb"));
        assert_eq!(compiled_type(&root, "v", "cdb").as_deref(), Some("cdb"));
        assert_eq!(compiled_type(&root, "v", "texthash"), None);
    }
}
