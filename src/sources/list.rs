//! Platform `list`: `--domains FILE`, a plain list of the domains this
//! server delivers locally, for servers mxdrift cannot read (a database
//! backed panel, a hand-made export).
//!
//! Format: one domain per line; `#` starts a comment (whole line or after
//! the name); blank lines are ignored. Every name is `local`, declared at
//! the file as given on the command line (it is not under `--root`).

use crate::inventory::{ByteSpan, Delivery, Inventory, ListFile, Platform, Via};
use crate::safe_fs;
use crate::sources::reading::{Reading, line_number};
use crate::sources::{Marker, Source, SourceError, SourceOptions};

/// The `--domains FILE` reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct DomainList;

impl Source for DomainList {
    fn platform(&self) -> Platform {
        Platform::List
    }

    fn markers(&self) -> &'static [Marker] {
        // Chosen by `--domains`, never by files under the root.
        &[]
    }

    fn read(&self, opts: &SourceOptions) -> Result<Inventory, SourceError> {
        let Some(path) = &opts.domains_file else {
            return Err(SourceError::Usage(
                "--platform list needs --domains FILE".to_string(),
            ));
        };
        let shown = path.display().to_string();
        let bytes = safe_fs::read_path(path, safe_fs::TABLE_LIMIT).map_err(|error| {
            if error.is_not_found() {
                SourceError::Io {
                    file: shown.clone(),
                    source: error.into(),
                }
            } else {
                SourceError::File {
                    file: shown.clone(),
                    error,
                }
            }
        })?;
        opts.root.note_given_file(&shown, &bytes);
        let text = String::from_utf8_lossy(&bytes);
        let mut reading = Reading::new(&opts.root);
        read_list(&mut reading, &text, &shown);
        Ok(reading.finish(Platform::List))
    }
}

/// Add every name of a domain list, as `local`, declared at `file` with
/// the span of the name in `text`.
fn read_list(reading: &mut Reading<'_>, text: &str, file: &str) {
    let mut offset = 0;
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += raw.len();
        let before_comment = raw.split('#').next().unwrap_or_default();
        let entry = before_comment.trim();
        if entry.is_empty() {
            continue;
        }
        let lead = before_comment.len() - before_comment.trim_start().len();
        let span = ByteSpan::at(start + lead, entry.len());
        let line = line_number(index);
        if let Some(name) = reading.domain(entry, file, line) {
            let via = Via::ListFile(ListFile::DomainsFile);
            reading.declare_listed(&name, Delivery::Local, file, line, Some(span), via);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::WarningKind;
    use crate::sources::ConfigRoot;

    fn inventory_from_text(text: &str, file: &str) -> Inventory {
        let root = ConfigRoot::new("/nonexistent");
        let mut reading = Reading::new(&root);
        read_list(&mut reading, text, file);
        reading.finish(Platform::List)
    }

    #[test]
    fn reads_names_with_comments_duplicates_and_idn() {
        let text = "# local domains\n\nExample.TEST\nshop.test  # the shop\nexample.test\nbücher.test\nbad name.test\n";
        let inventory = inventory_from_text(text, "domains.txt");
        let names: Vec<_> = inventory
            .domains
            .iter()
            .map(|d| (d.name.as_str(), d.declared[0].line))
            .collect();
        assert_eq!(
            names,
            vec![
                ("example.test", 3),
                ("shop.test", 4),
                ("xn--bcher-kva.test", 6)
            ]
        );
        for known in &inventory.domains {
            let span = known.declared[0].span.unwrap();
            let written = crate::inventory::DomainName::parse(&text[span.start..span.end]);
            assert_eq!(written.as_ref(), Ok(&known.name));
        }
        let crlf = inventory_from_text("a.test\r\n  b.test # x\r\n", "d");
        let spans: Vec<_> = crlf.domains.iter().map(|d| d.declared[0].span).collect();
        assert_eq!(
            spans,
            vec![Some(ByteSpan::at(0, 6)), Some(ByteSpan::at(10, 6))]
        );
        assert!(
            inventory
                .domains
                .iter()
                .all(|d| d.delivery == Delivery::Local)
        );
        let kinds: Vec<_> = inventory
            .warnings
            .iter()
            .map(|w| (w.kind, w.line))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (WarningKind::DuplicateDomain, Some(5)),
                (WarningKind::InvalidDomain, Some(7))
            ]
        );
    }

    #[test]
    fn list_without_file_is_a_usage_error() {
        let opts = SourceOptions {
            root: ConfigRoot::new("/nonexistent"),
            platform: crate::sources::PlatformChoice::Exactly(Platform::List),
            domains_file: None,
            hostname: None,
        };
        assert!(matches!(DomainList.read(&opts), Err(SourceError::Usage(_))));
    }
}
