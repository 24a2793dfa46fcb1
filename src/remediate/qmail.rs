//! Remediation on plain qmail: edits of the control files (`locals`,
//! `virtualdomains`, `rcpthosts`, `morercpthosts`), then `qmail-newmrh`
//! and a HUP of qmail-send (see `follow_ups`). The files and their formats
//! are [`crate::sources::qmail`]'s.
//!
//! A relay (backup MX) on qmail is a domain in `rcpthosts` and in neither
//! `locals` nor `virtualdomains`: qmail-smtpd accepts it, qmail-send sends
//! it on to its MX.

use super::diff::{EditOp, PlaceKind};
use super::{Action, Kinds, Ops, remove_op};
use crate::inventory::{KnownDomain, ListFile, Via};
use crate::sources::qmail;

/// How each control file mxdrift edits is edited.
pub(super) fn kinds() -> Kinds {
    let mut kinds = Kinds::new();
    for file in [qmail::LOCALS, qmail::RCPTHOSTS, qmail::MORERCPTHOSTS] {
        kinds.insert(file.to_string(), (PlaceKind::LinePerName, None));
    }
    kinds.insert(
        qmail::VIRTUALDOMAINS.to_string(),
        (PlaceKind::QmailVirtualDomains, None),
    );
    kinds
}

/// The edits that fix `known` on qmail, or why it is left for a human.
pub(super) fn ops(known: &KnownDomain, action: Action) -> Result<Ops, String> {
    let kinds = kinds();
    let mut ops = Vec::new();
    let mut accepted = false;
    for place in &known.declared {
        let acceptance = place.file == qmail::RCPTHOSTS || place.file == qmail::MORERCPTHOSTS;
        accepted |= acceptance;
        if action == Action::MakeRelay && acceptance {
            continue;
        }
        // Only names written in qmail's control files are removed; `me`
        // standing in for a missing `locals` is a default.
        let in_control_file = match place.via {
            Via::ListFile(list) => matches!(
                list,
                ListFile::QmailLocals
                    | ListFile::QmailVirtualDomains
                    | ListFile::QmailRcptHosts
                    | ListFile::QmailMoreRcptHosts
            ),
            Via::Default(_) | Via::Parameter(_) | Via::CompiledTable(_) | Via::Directory(_) => {
                false
            }
        };
        if !kinds.contains_key(&place.file) || !in_control_file {
            return Err(format!(
                "declared at {}:{} ({}), which mxdrift does not edit",
                place.file, place.line, place.via
            ));
        }
        ops.push(remove_op(place, known, &kinds)?);
    }
    if action == Action::MakeRelay && !accepted {
        ops.push((
            qmail::RCPTHOSTS.to_string(),
            EditOp::AppendLine {
                domain: known.name.clone(),
            },
        ));
    }
    Ok(ops)
}
