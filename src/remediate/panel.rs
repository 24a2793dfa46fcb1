//! Remediation on Plesk, cPanel, DirectAdmin and HestiaCP: one panel command
//! per domain (`plesk bin`, `uapi`, DirectAdmin's API,
//! `v-suspend-mail-domain`), never an edit of the files the panel writes,
//! which its next rebuild would undo. Every value in a command is validated
//! and quoted by [`super::commands`].
//!
//! A panel setting that says "leave it" (cPanel Email Routing forced to
//! Local) wins over any evidence: the domain is left for a human.

use super::commands::{self, Step, Word};
use super::{Action, Confirmation};
use crate::inventory::{Declared, KnownDomain, Platform};
use crate::rules::Finding;
use crate::sources::{cpanel, directadmin, plesk};

/// The panel command that fixes a domain on Plesk, cPanel, DirectAdmin or HestiaCP.
pub(super) fn step(
    platform: Platform,
    known: &KnownDomain,
    finding: &Finding,
    action: Action,
    confirmation: &Confirmation,
    rejected: &mut Vec<String>,
) -> Result<Step, String> {
    // A panel setting that says "leave it" wins over any evidence.
    if let Some(setting) = &known.facts().hands_off {
        return Err(setting.reason());
    }
    let managed: Vec<&Declared> = known
        .declared
        .iter()
        .filter(|d| panel_managed(platform, &d.file))
        .collect();
    if managed.is_empty() {
        return Err(
            "declared outside the panel's own domain lists; change it where it is declared".into(),
        );
    }
    let domain = Word::Value(known.name.as_str().to_string());
    let mut comments = vec![
        format!(
            "{}: {} ({})",
            known.name,
            finding.rule,
            finding.severity.as_str()
        ),
        format!("evidence: {}", finding.message),
    ];
    // Zone-file evidence is said once, in the header.
    if let Confirmation::OverTcp { .. } = confirmation {
        comments.push(confirmation.describe());
    }
    for d in &known.declared {
        let note = if panel_managed(platform, &d.file) {
            ""
        } else {
            " (not managed by the panel: check it by hand)"
        };
        comments.push(format!("declared: {}:{} ({}){note}", d.file, d.line, d.via));
    }
    let owner = |rejected: &mut Vec<String>| -> Result<String, String> {
        let raw = known.facts().owner.as_deref().ok_or_else(|| {
            "the panel account owning the domain is unknown; the panel command needs it".to_string()
        })?;
        if commands::is_system_account(raw) {
            return Err(format!(
                "owned by {raw}, a system account and no panel account: the panel command cannot act as it; change the domain's mail routing in the panel by hand"
            ));
        }
        commands::validate_user(raw)
            .map(str::to_string)
            .map_err(|message| {
                let message = format!("{}: {message}", known.name);
                rejected.push(message.clone());
                message
            })
    };
    let words = match (platform, action) {
        (Platform::Plesk, Action::TurnOff) => match &known.facts().alias_of {
            Some(main) => {
                comments.push(format!(
                    "{} is a domain alias of {main}: `plesk bin site` fails on an alias, `plesk bin domalias` switches the alias's mail off and leaves {main} as it is",
                    known.name
                ));
                vec![
                    Word::Fixed("plesk"),
                    Word::Fixed("bin"),
                    Word::Fixed("domalias"),
                    Word::Fixed("--update"),
                    domain,
                    Word::Fixed("-mail"),
                    Word::Fixed("false"),
                ]
            }
            None if !known.facts().hosted => {
                return Err(format!(
                    "not a Plesk site or subscription: {system}/{name}/ does not exist and no web configuration names {name} as an alias, so `plesk bin site` would fail on it; it may be a domain alias with its web service off (then `plesk bin domalias --update {name} -mail false`) or a leftover in the mail server's files; check it in Plesk",
                    system = plesk::VHOSTS_SYSTEM,
                    name = known.name,
                ));
            }
            None => vec![
                Word::Fixed("plesk"),
                Word::Fixed("bin"),
                Word::Fixed(if known.facts().subscription {
                    "subscription"
                } else {
                    "site"
                }),
                Word::Fixed("--update"),
                domain,
                Word::Fixed("-mail_service"),
                Word::Fixed("false"),
            ],
        },
        (Platform::Cpanel, _) => vec![
            Word::Fixed("uapi"),
            Word::Value(format!("--user={}", owner(rejected)?)),
            Word::Fixed("Email"),
            Word::Fixed("set_always_accept"),
            Word::Value(format!("domain={}", known.name)),
            Word::Fixed(if action == Action::MakeRelay {
                "alwaysaccept=secondary"
            } else {
                "alwaysaccept=remote"
            }),
        ],
        (Platform::Directadmin, Action::TurnOff) => vec![
            Word::Fixed("da_api"),
            Word::Value(owner(rejected)?),
            Word::Fixed("--data-urlencode"),
            Word::Fixed("action=internal"),
            Word::Fixed("--data-urlencode"),
            Word::Value(format!("domain={}", known.name)),
            Word::Fixed("--data-urlencode"),
            Word::Fixed("internal=no"),
            Word::Expansion("\"${DA_URL}/CMD_API_DNS_MX\""),
        ],
        (_, Action::MakeRelay) => {
            return Err(format!(
                "{} has no per-domain backup-MX (relay) mode mxdrift can switch; make this server a relay for the domain by hand, or remove it from the domain's MX records",
                platform.as_str()
            ));
        }
        (Platform::Hestiacp, Action::TurnOff) => {
            if known.name.has_a_label() {
                return Err(hestiacp_reason(
                    known,
                    "HestiaCP records an IDN mail domain in Unicode, and mxdrift does not guess which form its command accepts",
                ));
            }
            let user = owner(rejected).map_err(|why| hestiacp_reason(known, &why))?;
            comments.push(
                "HestiaCP's v-suspend-mail-domain (its CLI reference: \"suspend mail domain\") removes /etc/exim4/domains/<domain> and keeps the mailboxes; it also turns the domain's webmail off and shows the mail domain as suspended in the panel; v-unsuspend-mail-domain undoes it. Never v-delete-mail-domain: it deletes the mailboxes".to_string(),
            );
            vec![Word::Fixed(HESTIACP_SUSPEND), Word::Value(user), domain]
        }
        _ => return Err("no panel command for this platform".into()),
    };
    Ok(Step::command(comments, words))
}

/// HestiaCP's command that stops local delivery and keeps the mailboxes,
/// by its full path: HestiaCP adds its `bin` to root's login PATH only, and
/// the script may run from cron.
const HESTIACP_SUSPEND: &str = "/usr/local/hestia/bin/v-suspend-mail-domain";

/// Why a HestiaCP domain is left for a human (`why`), with the command that
/// would do it once that is settled.
fn hestiacp_reason(known: &KnownDomain, why: &str) -> String {
    format!(
        "{why}; HestiaCP's `{HESTIACP_SUSPEND} USER {domain}` (as the domain's HestiaCP user) removes /etc/exim4/domains/{domain} and keeps the mailboxes, and also turns the domain's webmail off: check, then run it as root (never v-delete-mail-domain, which deletes the mailboxes)",
        domain = known.name
    )
}

/// Files the panel writes itself: editing them is undone by the panel's
/// next rebuild, so the panel command is the fix. Each panel's reader
/// knows its files.
fn panel_managed(platform: Platform, file: &str) -> bool {
    match platform {
        Platform::Plesk => plesk::panel_writes(file),
        Platform::Cpanel => cpanel::panel_writes(file),
        Platform::Directadmin => directadmin::panel_writes(file),
        // HestiaCP's mail domains are its directories (links) there.
        Platform::Hestiacp => file.trim_end_matches('/') == "etc/exim4/domains",
        Platform::Postfix | Platform::Qmail | Platform::List | Platform::Exim => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Delivery;
    use crate::test_support::{declared, known_domain};

    #[test]
    fn hestiacp_reason_names_the_command_and_never_the_deleting_one() {
        let known = known_domain(
            "moved.test",
            Delivery::Local,
            declared("etc/exim4/domains/", 0, "local_domains"),
        );
        let reason = hestiacp_reason(&known, "the owner is unknown");
        assert!(
            reason.starts_with(
                "the owner is unknown; HestiaCP's `/usr/local/hestia/bin/v-suspend-mail-domain USER moved.test`"
            ),
            "{reason}"
        );
        assert!(
            reason.contains("keeps the mailboxes") && reason.contains("never v-delete-mail-domain"),
            "{reason}"
        );
    }
}
