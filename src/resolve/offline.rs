//! The offline resolver: answers from RFC 1035 master files, no network.
//!
//! Semantics follow an authoritative server for the loaded zones: a name
//! under a loaded zone with no data of the asked type is NODATA, a name
//! under a loaded zone that does not exist is NXDOMAIN, and a name outside
//! every loaded zone is inconclusive (we simply do not know).
//! A name at or below a delegation (NS records below a zone's apex) is
//! inconclusive, as a live server's referral is: the parent zone is not
//! authoritative there, unless the child zone is loaded too.
//!
//! Names in zone files are DNS names (letters, digits, hyphens,
//! underscores), not IDNA: see [`shield_labels`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use hickory_proto::rr::domain::Label;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;

use super::ResolveError;
use super::answer::{Answer, MAX_CNAME_LINKS, NegativeSoa, display_name, normalize};

#[derive(Debug)]
struct Zone {
    apex: Name,
    file: PathBuf,
    /// The zone's SOA, which vouches for its negative answers (RFC 2308);
    /// absent without an SOA, and then its negative answers are no evidence.
    soa: Option<Box<NegativeSoa>>,
    /// Owners of NS records below the apex: delegations to other servers.
    cuts: HashSet<Name>,
    rrsets: HashMap<(Name, RecordType), Vec<Record>>,
    /// Every owner name and every name between an owner and the apex
    /// (empty non-terminals exist: they answer NODATA, not NXDOMAIN).
    existing: HashSet<Name>,
}

/// All loaded zones.
#[derive(Debug, Default)]
pub(crate) struct ZoneSet {
    zones: Vec<Zone>,
}

impl ZoneSet {
    /// Load every file; a bad file is an error naming file and line.
    pub(crate) fn load(files: &[PathBuf]) -> Result<Self, ResolveError> {
        let mut set = ZoneSet::default();
        for file in files {
            let bytes =
                crate::safe_fs::read_path(file, crate::safe_fs::ZONE_LIMIT).map_err(|error| {
                    ResolveError::ZoneFileUnreadable {
                        file: file.clone(),
                        source: error.into(),
                    }
                })?;
            let text = String::from_utf8(bytes).map_err(|_| ResolveError::ZoneFileUnreadable {
                file: file.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "stream did not contain valid UTF-8",
                ),
            })?;
            set.add_text(&text, file)?;
        }
        Ok(set)
    }

    /// Add one zone from master-file text; `file` is used for `$INCLUDE`
    /// and in messages.
    pub(crate) fn add_text(&mut self, text: &str, file: &Path) -> Result<(), ResolveError> {
        let origin = implied_origin(text, file);
        let shielded = shield_labels(text);
        let (parsed_origin, rrsets) = Parser::new(
            shielded.text.as_str(),
            Some(file.to_path_buf()),
            origin.clone(),
        )
        .parse()
        .map_err(|err| ResolveError::ZoneFileSyntax {
            file: file.to_path_buf(),
            line: error_line(&shielded.text, file, origin.as_ref(), &err.to_string()),
            message: err.to_string(),
        })?;
        let parsed_origin = shielded.restore(&parsed_origin);

        let mut records: Vec<Record> = rrsets
            .into_values()
            .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>())
            .collect();
        for record in &mut records {
            shielded.restore_record(record);
            record.name = normalize(&record.name);
        }

        // The zone is the SOA's owner; a file without SOA (a hand-written
        // test fixture) is taken to be a zone at its origin.
        let soa = records.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(Box::new(NegativeSoa {
                zone: r.name.clone(),
                mname: normalize(&soa.mname),
                negative_ttl: r.ttl.min(soa.minimum),
            })),
            _ => None,
        });
        let apex = match &soa {
            Some(soa) => soa.zone.clone(),
            None => normalize(&parsed_origin),
        };
        if let Some(first) = self.zones.iter().find(|z| z.apex == apex) {
            return Err(ResolveError::ZoneLoadedTwice {
                file: file.to_path_buf(),
                zone: super::answer::display_name(&apex),
                first: first.file.clone(),
            });
        }

        let mut zone = Zone {
            apex: apex.clone(),
            file: file.to_path_buf(),
            soa,
            cuts: HashSet::new(),
            rrsets: HashMap::new(),
            existing: HashSet::new(),
        };
        zone.existing.insert(apex.clone());
        for record in records {
            // Data outside the zone's apex (stray absolute names) is not
            // served by an authoritative server either.
            if !apex.zone_of(&record.name) {
                continue;
            }
            if record.record_type() == RecordType::NS && record.name != apex {
                zone.cuts.insert(record.name.clone());
            }
            let mut name = record.name.clone();
            while name != apex && name.num_labels() > apex.num_labels() {
                zone.existing.insert(name.clone());
                name = name.base_name();
            }
            zone.rrsets
                .entry((record.name.clone(), record.record_type()))
                .or_default()
                .push(record);
        }
        self.zones.push(zone);
        // Most specific zone first, so that a child zone wins over its parent.
        self.zones
            .sort_by_key(|z| std::cmp::Reverse(z.apex.num_labels()));
        Ok(())
    }

    /// Answer one query the way an authoritative server plus a resolver
    /// chasing CNAMEs would.
    pub(crate) fn query(&self, name: &Name, rtype: RecordType) -> Answer {
        let mut chain: Vec<Record> = Vec::new();
        let mut current = normalize(name);
        let mut seen: Vec<Name> = vec![current.clone()];
        for _ in 0..=MAX_CNAME_LINKS {
            let Some(zone) = self.zones.iter().find(|z| z.apex.zone_of(&current)) else {
                return Answer::Failed(format!(
                    "{} is not in any loaded zone",
                    display_name(&current)
                ));
            };
            match zone.lookup(&current, rtype) {
                Lookup::Found(mut records) => {
                    chain.append(&mut records);
                    return Answer::Records(chain);
                }
                Lookup::Alias(record, target) => {
                    let target = normalize(&target);
                    if seen.contains(&target) {
                        return Answer::Failed(format!(
                            "CNAME loop: the chain from {} comes back to {}",
                            display_name(name),
                            display_name(&target)
                        ));
                    }
                    chain.push(*record);
                    seen.push(target.clone());
                    current = target;
                }
                Lookup::Delegated(cut) => {
                    return Answer::Failed(format!(
                        "{} is at or below the delegation of {} in {}: the zone file is not \
                         authoritative there (load the child zone too)",
                        display_name(&current),
                        display_name(&cut),
                        zone.file.display()
                    ));
                }
                Lookup::NoData => {
                    return Answer::NoRecords {
                        nxdomain: false,
                        soa: zone.soa.clone(),
                        name: current,
                    };
                }
                Lookup::NxDomain => {
                    return Answer::NoRecords {
                        nxdomain: true,
                        soa: zone.soa.clone(),
                        name: current,
                    };
                }
            }
        }
        Answer::Failed(format!(
            "CNAME chain from {} is longer than {MAX_CNAME_LINKS} links",
            display_name(name)
        ))
    }
}

enum Lookup {
    Found(Vec<Record>),
    /// The CNAME record (boxed: records are large) and its target.
    Alias(Box<Record>, Name),
    /// The name is at or below this delegation point.
    Delegated(Name),
    NoData,
    NxDomain,
}

impl Zone {
    fn lookup(&self, name: &Name, rtype: RecordType) -> Lookup {
        if let Some(cut) = self.cut_above(name) {
            return Lookup::Delegated(cut);
        }
        if self.existing.contains(name) {
            return self.lookup_at(name, name, rtype);
        }
        // RFC 4592: a wildcard at the closest encloser synthesises records
        // for names that do not exist.
        let mut encloser = name.base_name();
        while !self.existing.contains(&encloser) && encloser.num_labels() > self.apex.num_labels() {
            encloser = encloser.base_name();
        }
        match encloser.prepend_label("*") {
            Ok(wildcard) if self.existing.contains(&wildcard) => {
                self.lookup_at(&wildcard, name, rtype)
            }
            _ => Lookup::NxDomain,
        }
    }

    /// The delegation point at or above `name`, below the apex, if any.
    fn cut_above(&self, name: &Name) -> Option<Name> {
        if self.cuts.is_empty() {
            return None;
        }
        let mut candidate = name.clone();
        while candidate.num_labels() > self.apex.num_labels() {
            if self.cuts.contains(&candidate) {
                return Some(candidate);
            }
            candidate = candidate.base_name();
        }
        None
    }

    /// Data at `source` (the name itself, or the wildcard), answered as
    /// owned by `owner`.
    fn lookup_at(&self, source: &Name, owner: &Name, rtype: RecordType) -> Lookup {
        let as_owner = |record: &Record| {
            let mut record = record.clone();
            record.name = owner.clone();
            record
        };
        if let Some(records) = self.rrsets.get(&(source.clone(), rtype)) {
            return Lookup::Found(records.iter().map(as_owner).collect());
        }
        if rtype != RecordType::CNAME {
            let alias = self
                .rrsets
                .get(&(source.clone(), RecordType::CNAME))
                .and_then(|records| records.first());
            if let Some(record) = alias
                && let RData::CNAME(target) = &record.data
            {
                return Lookup::Alias(Box::new(as_owner(record)), target.0.clone());
            }
        }
        Lookup::NoData
    }
}

/// The origin to parse relative names against when the file sets none:
/// taken from the file name (`example.org.zone`, `db.example.org`,
/// `example.org`), as a name server's configuration would give it.
fn implied_origin(text: &str, file: &Path) -> Option<Name> {
    let has_origin = text.lines().any(|line| {
        line.trim_start()
            .to_ascii_uppercase()
            .starts_with("$ORIGIN")
    });
    if has_origin {
        return None;
    }
    let base = file.file_name()?.to_str()?;
    let base = base.strip_prefix("db.").unwrap_or(base);
    let base = [".zone", ".db", ".hosts", ".txt"]
        .iter()
        .find_map(|suffix| base.strip_suffix(suffix))
        .unwrap_or(base);
    let mut name = Name::from_ascii(base).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// The placeholder labels of [`shield_labels`] start with this.
const SHIELD_PREFIX: &str = "mxdrift-shielded-";

/// Zone text with labels that hickory's parser would reject replaced.
struct Shielded {
    text: String,
    /// The original label of placeholder `SHIELD_PREFIX{i}`.
    originals: Vec<Vec<u8>>,
}

/// hickory's zone-file parser reads every label through IDNA (UTS 46),
/// which rejects labels that are valid DNS names but not valid IDNA:
/// `xn--mller-recht-thb-test` (Microsoft 365's MX host for an IDN domain,
/// its A-label with dots turned into hyphens) or an underscore inside a
/// label. DNS data is not IDNA (only configuration names are converted),
/// so such labels, where they are letters, digits, hyphens and underscores,
/// are swapped for placeholders before parsing and put back afterwards.
/// Comments and quoted strings are left alone.
fn shield_labels(text: &str) -> Shielded {
    let mut shielded = Shielded {
        text: String::with_capacity(text.len()),
        originals: Vec::new(),
    };
    if text.contains(SHIELD_PREFIX) {
        shielded.text = text.to_string();
        return shielded;
    }
    let mut rest = text;
    while let Some(ch) = rest.chars().next() {
        let taken = match ch {
            ';' => rest.find('\n').unwrap_or(rest.len()),
            '"' => quoted_len(rest),
            c if c.is_whitespace() || c == '(' || c == ')' => c.len_utf8(),
            _ => {
                let len = rest
                    .find(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ';' | '"'))
                    .unwrap_or(rest.len());
                let token = &rest[..len];
                shielded.push_token(token);
                rest = &rest[len..];
                continue;
            }
        };
        let taken = taken.max(1).min(rest.len());
        shielded.text.push_str(&rest[..taken]);
        rest = &rest[taken..];
    }
    shielded
}

/// Length of the quoted string at the start of `text`, quotes included.
fn quoted_len(text: &str) -> usize {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return i + 1,
            _ => {}
        }
    }
    text.len()
}

impl Shielded {
    fn push_token(&mut self, token: &str) {
        if token.contains('\\') || !token.split('.').any(needs_shield) {
            self.text.push_str(token);
            return;
        }
        let labels: Vec<String> = token
            .split('.')
            .map(|label| {
                if needs_shield(label) {
                    self.originals.push(label.as_bytes().to_vec());
                    format!("{SHIELD_PREFIX}{}", self.originals.len() - 1)
                } else {
                    label.to_string()
                }
            })
            .collect();
        self.text.push_str(&labels.join("."));
    }

    /// `name` with its placeholders replaced by the original labels.
    fn restore(&self, name: &Name) -> Name {
        if self.originals.is_empty() {
            return name.clone();
        }
        let labels: Vec<Vec<u8>> = name
            .iter()
            .map(|label| {
                std::str::from_utf8(label)
                    .ok()
                    .and_then(|l| l.strip_prefix(SHIELD_PREFIX))
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| self.originals.get(i))
                    .cloned()
                    .unwrap_or_else(|| label.to_vec())
            })
            .collect();
        match Name::from_labels(labels) {
            Ok(mut restored) => {
                restored.set_fqdn(name.is_fqdn());
                restored
            }
            Err(_) => name.clone(),
        }
    }

    fn restore_record(&self, record: &mut Record) {
        if self.originals.is_empty() {
            return;
        }
        record.name = self.restore(&record.name);
        match &mut record.data {
            RData::MX(mx) => mx.exchange = self.restore(&mx.exchange),
            RData::CNAME(target) => target.0 = self.restore(&target.0),
            RData::NS(ns) => ns.0 = self.restore(&ns.0),
            RData::PTR(ptr) => ptr.0 = self.restore(&ptr.0),
            RData::SOA(soa) => {
                soa.mname = self.restore(&soa.mname);
                soa.rname = self.restore(&soa.rname);
            }
            _ => {}
        }
    }
}

/// A DNS label (letters, digits, hyphens, underscores) that hickory's
/// parser would reject as IDNA.
fn needs_shield(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && Label::from_utf8(label).is_err()
}

/// hickory's zone parser reports no position: find the first line at which
/// parsing a prefix of the file fails with the same message as the whole
/// file (binary search; only run when the file is bad).
fn error_line(text: &str, file: &Path, origin: Option<&Name>, message: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let fails_same_way = |count: usize| -> bool {
        let mut prefix = lines
            .iter()
            .take(count)
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        prefix.push('\n');
        match Parser::new(prefix, Some(file.to_path_buf()), origin.cloned()).parse() {
            Ok(_) => false,
            Err(err) => err.to_string() == message,
        }
    };
    let (mut low, mut high) = (1usize, lines.len().max(1));
    if !fails_same_way(high) {
        return high;
    }
    while low < high {
        let mid = low + (high - low) / 2;
        if fails_same_way(mid) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::name as n;

    const ZONE: &str = "\
$ORIGIN example.test.
$TTL 300
@        IN SOA ns.example.test. host.example.test. ( 1 3600 600 86400 60 )
@        NS   ns
ns       A    192.0.2.1
@        MX   10 mx
mx       A    192.0.2.2
alias    CNAME mx
dangling CNAME nowhere
a.b.c    TXT  \"deep\"
*.wild   MX   5 mx
";

    fn zones() -> ZoneSet {
        let mut set = ZoneSet::default();
        set.add_text(ZONE, Path::new("example.test.zone")).unwrap();
        set
    }

    #[test]
    fn answers_records() {
        let Answer::Records(records) = zones().query(&n("EXAMPLE.test."), RecordType::MX) else {
            panic!("expected records")
        };
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn nodata_nxdomain_and_outside() {
        let set = zones();
        assert!(matches!(
            set.query(&n("mx.example.test."), RecordType::MX),
            Answer::NoRecords {
                nxdomain: false,
                soa: Some(soa),
                ..
            } if soa.negative_ttl == 60 && soa.zone == n("example.test.")
        ));
        assert!(matches!(
            set.query(&n("missing.example.test."), RecordType::MX),
            Answer::NoRecords { nxdomain: true, .. }
        ));
        // Empty non-terminal: exists, no data.
        assert!(matches!(
            set.query(&n("b.c.example.test."), RecordType::A),
            Answer::NoRecords {
                nxdomain: false,
                ..
            }
        ));
        assert!(matches!(
            set.query(&n("example.org."), RecordType::MX),
            Answer::Failed(_)
        ));
    }

    #[test]
    fn follows_aliases() {
        let set = zones();
        let Answer::Records(records) = set.query(&n("alias.example.test."), RecordType::A) else {
            panic!("expected records")
        };
        assert_eq!(records.len(), 2);
        let Answer::NoRecords {
            nxdomain: true,
            name,
            ..
        } = set.query(&n("dangling.example.test."), RecordType::MX)
        else {
            panic!("expected NXDOMAIN")
        };
        assert_eq!(name, n("nowhere.example.test."));
    }

    #[test]
    fn wildcards_synthesise() {
        let Answer::Records(records) =
            zones().query(&n("anything.wild.example.test."), RecordType::MX)
        else {
            panic!("expected records")
        };
        assert_eq!(records[0].name, n("anything.wild.example.test."));
    }

    #[test]
    fn origin_from_file_name() {
        let mut set = ZoneSet::default();
        set.add_text(
            "@ 300 IN SOA ns host 1 2 3 4 5\n@ 300 MX 0 .\n",
            Path::new("/tmp/db.other.test"),
        )
        .unwrap();
        assert!(matches!(
            set.query(&n("other.test."), RecordType::MX),
            Answer::Records(_)
        ));
    }

    #[test]
    fn bad_file_names_its_line() {
        let text = "$ORIGIN bad.test.\n$TTL 300\n@ SOA ns host 1 2 3 4 5\nok A 192.0.2.1\nbroken A 999.1.1.1\nlater A 192.0.2.2\n";
        let err = ZoneSet::default()
            .add_text(text, Path::new("bad.zone"))
            .unwrap_err();
        match err {
            ResolveError::ZoneFileSyntax { line, file, .. } => {
                assert_eq!(line, 5);
                assert_eq!(file, PathBuf::from("bad.zone"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn dns_labels_that_are_not_idna_load() {
        // hickory's own parser rejects these labels (IDNA).
        assert!(Label::from_utf8("xn--mller-recht-thb-test").is_err());
        assert!(Label::from_utf8("mail_host").is_err());
        let text = "$ORIGIN idn.test.\n$TTL 300\n@ SOA ns1 host 1 2 3 4 60\n\
                    xn--mller-recht-thb MX 0 xn--mller-recht-thb-test.mail.protection.idn.test.\n\
                    xn--mller-recht-thb-test.mail.protection A 198.51.100.77 ; xn--bad-label_ \"x_y\"\n\
                    under_score MX 10 mail_host\n\
                    mail_host A 198.51.100.78\n";
        let mut set = ZoneSet::default();
        set.add_text(text, Path::new("idn.test.zone")).unwrap();
        let Answer::Records(records) =
            set.query(&n("xn--mller-recht-thb.idn.test."), RecordType::MX)
        else {
            panic!("expected records")
        };
        let RData::MX(mx) = &records[0].data else {
            panic!("expected MX")
        };
        assert_eq!(
            mx.exchange,
            n("xn--mller-recht-thb-test.mail.protection.idn.test.")
        );
        assert!(matches!(
            set.query(&mx.exchange, RecordType::A),
            Answer::Records(r) if r.len() == 1
        ));
        assert!(matches!(
            set.query(&n("mail_host.idn.test."), RecordType::A),
            Answer::Records(r) if r.len() == 1
        ));
    }

    #[test]
    fn below_a_delegation_is_inconclusive() {
        let mut set = zones();
        set.add_text(
            "$ORIGIN parent.test.\n$TTL 300\n@ SOA ns1 host 1 2 3 4 60\n\
             child NS ns1.elsewhere.example.\n\
             www.child A 192.0.2.9\n\
             sibling MX 10 mx.example.test.\n",
            Path::new("parent.test.zone"),
        )
        .unwrap();
        for below in [
            "child.parent.test.",
            "x.child.parent.test.",
            "www.child.parent.test.",
        ] {
            match set.query(&n(below), RecordType::MX) {
                Answer::Failed(problem) => {
                    assert!(
                        problem.contains("delegation of child.parent.test"),
                        "{problem}"
                    )
                }
                other => panic!("{below}: {other:?}"),
            }
        }
        assert!(matches!(
            set.query(&n("sibling.parent.test."), RecordType::MX),
            Answer::Records(_)
        ));
        // The child zone loaded too: it answers.
        set.add_text(
            "$ORIGIN child.parent.test.\n$TTL 300\n@ SOA ns1 host 1 2 3 4 60\n@ MX 10 mx\nmx A 192.0.2.10\n",
            Path::new("child.zone"),
        )
        .unwrap();
        assert!(matches!(
            set.query(&n("child.parent.test."), RecordType::MX),
            Answer::Records(_)
        ));
    }

    #[test]
    fn cname_loops_offline_are_inconclusive() {
        let mut set = ZoneSet::default();
        set.add_text(
            "$ORIGIN loop.test.\n$TTL 300\n@ SOA ns1 host 1 2 3 4 60\na CNAME b\nb CNAME a\n",
            Path::new("loop.zone"),
        )
        .unwrap();
        match set.query(&n("a.loop.test."), RecordType::A) {
            Answer::Failed(problem) => assert!(problem.contains("CNAME loop"), "{problem}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn same_zone_twice_is_an_error() {
        let mut set = zones();
        assert!(matches!(
            set.add_text(ZONE, Path::new("copy.zone")),
            Err(ResolveError::ZoneLoadedTwice { .. })
        ));
    }
}
