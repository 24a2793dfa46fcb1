//! What to run after the files changed, so the mail server uses them:
//! `postmap` for each edited table source (and for sources the audit found
//! never compiled), `postfix reload`; on qmail `qmail-newmrh` and a HUP of
//! qmail-send. Until these run, the edited files are in place but not in
//! effect.

use super::commands::{Step, Word};
use super::{FileEdit, StaleTable};
use crate::inventory::Platform;
use crate::sources::qmail;

/// postmap and reload commands after the file edits.
pub(super) fn follow_ups(
    platform: Platform,
    edits: &[&FileEdit],
    stale: &[StaleTable],
) -> Vec<Step> {
    let mut steps = Vec::new();
    match platform {
        Platform::Postfix if !edits.is_empty() || !stale.is_empty() => {
            for table in stale {
                steps.push(Step::command(
                    vec![format!(
                        "{} holds other keys than the table Postfix reads, compiled from it (table-not-compiled): a change that was never compiled (an earlier `mxdrift fix --apply` that stopped, or an edit without postmap); review it, then rebuild",
                        table.source
                    )],
                    vec![
                        Word::Fixed("postmap"),
                        Word::Value(format!("{}:/{}", table.postmap, table.source)),
                    ],
                ));
            }
            for edit in edits {
                if let Some(compiled) = &edit.postmap {
                    steps.push(Step::command(
                        vec![format!(
                            "rebuild the lookup table compiled from {}",
                            edit.rel
                        )],
                        vec![
                            Word::Fixed("postmap"),
                            Word::Value(format!("{compiled}:/{}", edit.rel)),
                        ],
                    ));
                }
            }
            steps.push(Step::command(
                vec!["make Postfix read the changed configuration".into()],
                vec![Word::Fixed("postfix"), Word::Fixed("reload")],
            ));
        }
        Platform::Qmail if !edits.is_empty() => {
            if edits.iter().any(|e| e.rel == qmail::MORERCPTHOSTS) {
                steps.push(Step::command(
                    vec!["rebuild morercpthosts.cdb from morercpthosts".into()],
                    vec![Word::Fixed("qmail-newmrh")],
                ));
            }
            if edits
                .iter()
                .any(|e| e.rel == qmail::LOCALS || e.rel == qmail::VIRTUALDOMAINS)
            {
                steps.push(Step::advice(vec![
                    "qmail-send reads locals and virtualdomains only at start and on SIGHUP: send it a HUP the way your installation runs it (daemontools: svc -h /service/qmail-send)".into(),
                ]));
            }
        }
        Platform::Exim if !edits.is_empty() => {
            steps.push(Step::command(
                vec!["regenerate Exim's configuration from update-exim4.conf.conf".into()],
                vec![Word::Fixed("update-exim4.conf")],
            ));
            steps.push(Step::command(
                vec!["make Exim read the new configuration".into()],
                vec![
                    Word::Fixed("invoke-rc.d"),
                    Word::Fixed("exim4"),
                    Word::Fixed("reload"),
                ],
            ));
        }
        // Nothing edited, or panel commands (the panel rebuilds and reloads).
        Platform::Postfix
        | Platform::Qmail
        | Platform::List
        | Platform::Plesk
        | Platform::Cpanel
        | Platform::Directadmin
        | Platform::Exim
        | Platform::Hestiacp => {}
    }
    steps
}
