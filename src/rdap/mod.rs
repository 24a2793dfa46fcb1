//! The RDAP stage (`--rdap`): for every registrable domain of the
//! inventory, the registry's record of its expiry date and status, read
//! over RDAP (RFC 9082/9083), the successor of WHOIS. The rules
//! `domain-expiring` and `domain-on-hold` read what this stage returns;
//! nothing here decides a finding.
//!
//! What a newcomer gets wrong:
//! - Nothing is sent unless the admin asked (`--rdap` or `rdap: enabled`):
//!   the query names the customer's domain to its registry.
//! - One query per *registrable* domain (the Public Suffix List's ICANN
//!   section: `shop.example.co.uk` asks for `example.co.uk`), whatever the
//!   number of subdomains. A private suffix (`blogspot.com`) is not a
//!   registry: its names are asked as names under the ICANN suffix.
//! - A failure (timeout, refused, 5xx, 429 past the time left, a body that
//!   is not a domain object) is `inconclusive`, never "fine".
//! - Registries limit clients: at most [`PER_SERVER`] requests in flight
//!   per RDAP server (host and port: Verisign serves `.com` and `.net` from
//!   one host), a 429 pauses every request to that server for its
//!   `Retry-After`, and answers are cached on disk for a day
//!   ([`cache`]).

pub mod bootstrap;
pub mod cache;
pub mod response;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::civil_date::CivilDate;
use crate::inventory::DomainName;
pub use bootstrap::{Bootstrap, BootstrapError, ServiceUrl};
pub use response::{DomainState, MalformedResponse};

/// Requests in flight per RDAP service, at most.
pub const PER_SERVER: usize = 2;
/// Requests in flight over all services, at most.
const OVERALL: usize = 16;
/// The largest answer read (a domain object is a few kB; Verisign's with
/// notices about 5 kB).
const BODY_LIMIT: usize = 1024 * 1024;
/// The longest `Retry-After` honoured by waiting; a longer one makes the
/// lookup inconclusive.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// How many times one domain is asked after a 429.
const RETRIES_AFTER_429: usize = 2;

/// The RDAP stage's settings.
#[derive(Debug, Clone)]
pub struct RdapOptions {
    /// Off by default: nothing is sent without it.
    pub enabled: bool,
    /// `--rdap-bootstrap FILE`; `None`: the built-in snapshot.
    pub bootstrap: Option<PathBuf>,
    /// `--rdap-cache DIR`; `None`: no cache.
    pub cache_dir: Option<PathBuf>,
    /// `rdap.warn_days`, `rdap.critical_days`.
    pub warn_days: u32,
    pub critical_days: u32,
    /// One request's time limit.
    pub request_timeout: Duration,
    /// How long the whole stage may take (from `--deadline`).
    pub budget: Option<Duration>,
}

pub const DEFAULT_CACHE_DIR: &str = "/var/cache/mxdrift";
pub const DEFAULT_WARN_DAYS: u32 = 30;
pub const DEFAULT_CRITICAL_DAYS: u32 = 7;

impl Default for RdapOptions {
    fn default() -> Self {
        RdapOptions {
            enabled: false,
            bootstrap: None,
            cache_dir: Some(PathBuf::from(DEFAULT_CACHE_DIR)),
            warn_days: DEFAULT_WARN_DAYS,
            critical_days: DEFAULT_CRITICAL_DAYS,
            request_timeout: Duration::from_secs(15),
            budget: None,
        }
    }
}

/// What the registry said, as a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RdapStatus {
    /// The registry returned the domain's record.
    Found,
    /// The registry does not know the domain (404): not registered.
    NotFound,
    /// The bootstrap names no RDAP service for its TLD.
    NoService,
    /// The lookup failed or its answer could not be read.
    Inconclusive,
}

impl RdapStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RdapStatus::Found => "ok",
            RdapStatus::NotFound => "not-found",
            RdapStatus::NoService => "no-service",
            RdapStatus::Inconclusive => "inconclusive",
        }
    }
}

/// The registry's record of one registrable domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdapRecord {
    pub registrable: DomainName,
    pub status: RdapStatus,
    /// The expiry day (UTC) and the date as the registry wrote it.
    pub expiration: Option<(CivilDate, String)>,
    pub states: Vec<DomainState>,
    pub registrar: Option<String>,
    /// The URL asked, when one was.
    pub source: Option<String>,
    /// Why the lookup is inconclusive.
    pub problem: Option<String>,
    /// Read from the cache instead of asked.
    pub cached: bool,
}

impl RdapRecord {
    fn failed(registrable: &DomainName, source: Option<String>, problem: String) -> RdapRecord {
        RdapRecord {
            registrable: registrable.clone(),
            status: RdapStatus::Inconclusive,
            expiration: None,
            states: Vec::new(),
            registrar: None,
            source,
            problem: Some(problem),
            cached: false,
        }
    }

    /// Days from `today` to the expiry day (negative once past).
    pub fn days_left(&self, today: CivilDate) -> Option<i64> {
        self.expiration
            .as_ref()
            .map(|(day, _)| day.days() - today.days())
    }

    pub fn holds(&self) -> Vec<&DomainState> {
        self.states.iter().filter(|s| s.is_hold()).collect()
    }
}

/// The stage's outcome.
#[derive(Debug, Clone, Default)]
pub struct RdapEvidence {
    /// Per registrable domain.
    pub records: BTreeMap<DomainName, RdapRecord>,
    /// Each inventory domain's registrable domain (absent: none, e.g. a
    /// public suffix itself or a single-label name).
    pub registrable_of: BTreeMap<DomainName, DomainName>,
    /// HTTP requests sent (cache hits send none).
    pub requests_sent: u64,
    /// Problems of the stage itself (an unusable cache).
    pub notes: Vec<String>,
}

impl RdapEvidence {
    pub fn record_of(&self, domain: &DomainName) -> Option<&RdapRecord> {
        self.registrable_of
            .get(domain)
            .and_then(|r| self.records.get(r))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RdapError {
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    #[error("--rdap-bootstrap {path}: {message}")]
    ReadBootstrap { path: String, message: String },
    #[error("cannot set up the HTTP client for RDAP: {0}")]
    Client(String),
}

/// The registrable domain of `name` under the Public Suffix List's ICANN
/// section, or `None` (a public suffix itself, a single label).
pub fn registrable(name: &DomainName) -> Option<DomainName> {
    let full = name.as_str();
    // The ICANN suffix: a private suffix (`blogspot.com`) is cut back
    // label by label until the list's match is an ICANN (or the default
    // `*`) rule.
    let mut rest = full;
    let icann = loop {
        let suffix = psl::suffix(rest.as_bytes())?;
        let text = std::str::from_utf8(suffix.as_bytes()).ok()?;
        match suffix.typ() {
            Some(psl::Type::Private) => rest = text.split_once('.')?.1,
            Some(psl::Type::Icann) | None => break text.to_string(),
        }
    };
    if full.len() <= icann.len() {
        return None;
    }
    let before = full.strip_suffix(icann.as_str())?.strip_suffix('.')?;
    let label = before.rsplit('.').next()?;
    DomainName::parse(&format!("{label}.{icann}")).ok()
}

/// Read the bootstrap the options name.
pub fn load_bootstrap(opts: &RdapOptions) -> Result<Bootstrap, RdapError> {
    match &opts.bootstrap {
        None => Ok(Bootstrap::built_in()?),
        Some(path) => {
            let shown = path.display().to_string();
            let limit = crate::safe_fs::Limit {
                bytes: 16 * 1024 * 1024,
                what: "an RDAP bootstrap file",
            };
            let bytes =
                crate::safe_fs::read_path(path, limit).map_err(|e| RdapError::ReadBootstrap {
                    path: shown.clone(),
                    message: e.to_string(),
                })?;
            let text = String::from_utf8(bytes).map_err(|_| RdapError::ReadBootstrap {
                path: shown.clone(),
                message: "not UTF-8 text".to_string(),
            })?;
            Ok(Bootstrap::parse(&text, &shown)?)
        }
    }
}

/// Per RDAP server: the requests in flight and the time before which
/// nothing may be sent (a 429's `Retry-After`).
struct Service {
    in_flight: Semaphore,
    not_before: Mutex<Option<Instant>>,
}

struct Stage {
    client: reqwest::Client,
    /// Per server (`ServiceUrl::server`), not per service URL.
    services: Mutex<HashMap<String, Arc<Service>>>,
    overall: Semaphore,
    end: Option<Instant>,
    request_timeout: Duration,
    sent: std::sync::atomic::AtomicU64,
}

/// Ask the registries about every registrable domain of `names`.
pub async fn gather(names: &[DomainName], opts: &RdapOptions) -> Result<RdapEvidence, RdapError> {
    let mut evidence = RdapEvidence::default();
    if !opts.enabled {
        return Ok(evidence);
    }
    let started = Instant::now();
    let bootstrap = load_bootstrap(opts)?;
    for name in names {
        if name.is_localhost() {
            continue;
        }
        if let Some(reg) = registrable(name) {
            evidence.registrable_of.insert(name.clone(), reg);
        }
    }
    let cache = match &opts.cache_dir {
        None => None,
        Some(dir) => match cache::Cache::open(dir) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                evidence
                    .notes
                    .push(format!("{e}: RDAP answers are not cached"));
                None
            }
        },
    };
    let client = reqwest::Client::builder()
        .user_agent(concat!("mxdrift/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(opts.request_timeout)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let allowed =
                attempt.url().scheme() == "https" || bootstrap::is_loopback(attempt.url());
            if attempt.previous().len() >= 3 || !allowed {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .map_err(|e| RdapError::Client(e.to_string()))?;
    let stage = Arc::new(Stage {
        client,
        services: Mutex::new(HashMap::new()),
        overall: Semaphore::new(OVERALL),
        end: opts.budget.map(|b| started + b),
        request_timeout: opts.request_timeout,
        sent: std::sync::atomic::AtomicU64::new(0),
    });
    let wanted: std::collections::BTreeSet<DomainName> =
        evidence.registrable_of.values().cloned().collect();
    let mut tasks = tokio::task::JoinSet::new();
    for reg in wanted {
        let Some(service) = bootstrap.service_for(reg.as_str()).cloned() else {
            evidence.records.insert(
                reg.clone(),
                RdapRecord {
                    registrable: reg.clone(),
                    status: RdapStatus::NoService,
                    expiration: None,
                    states: Vec::new(),
                    registrar: None,
                    source: None,
                    problem: Some(
                        "the RDAP bootstrap names no service for its top-level domain".into(),
                    ),
                    cached: false,
                },
            );
            continue;
        };
        if let Some(record) = cache.as_ref().and_then(|c| from_cache(c, &reg)) {
            evidence.records.insert(reg, record);
            continue;
        }
        let stage = Arc::clone(&stage);
        let cache = cache.clone();
        tasks.spawn(async move {
            let (record, entry) = lookup(&stage, &service, &reg).await;
            let mut note = None;
            if let (Some(cache), Some(entry)) = (cache, entry)
                && let Err(e) = cache.put(reg.as_str(), &entry)
            {
                note = Some(format!("{e}: RDAP answers are not cached"));
            }
            (reg, record, note)
        });
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((reg, record, note)) => {
                if let Some(note) = note
                    && !evidence.notes.contains(&note)
                {
                    evidence.notes.push(note);
                }
                evidence.records.insert(reg, record);
            }
            Err(e) => evidence.notes.push(format!("an RDAP lookup failed: {e}")),
        }
    }
    evidence.requests_sent = stage.sent.load(std::sync::atomic::Ordering::Relaxed);
    let failed: Vec<String> = evidence
        .records
        .values()
        .filter(|r| r.status == RdapStatus::Inconclusive)
        .map(|r| {
            format!(
                "{} ({})",
                r.registrable,
                r.problem.as_deref().unwrap_or("no answer")
            )
        })
        .collect();
    let no_service: std::collections::BTreeSet<&str> = evidence
        .records
        .values()
        .filter(|r| r.status == RdapStatus::NoService)
        .filter_map(|r| r.registrable.as_str().rsplit('.').next())
        .collect();
    if !no_service.is_empty() {
        let bootstrap = match &opts.bootstrap {
            Some(path) => format!("the bootstrap {}", path.display()),
            None => "the built-in bootstrap (a partial snapshot: see README, RDAP; pass \
                     --rdap-bootstrap with IANA's current dns.json)"
                .to_string(),
        };
        let tlds: Vec<String> = no_service.iter().map(|t| format!(".{t}")).collect();
        evidence.notes.push(format!(
            "RDAP: {bootstrap} names no service for {}: the expiry and status of their domains \
             are not checked",
            tlds.join(", ")
        ));
    }
    if !failed.is_empty() {
        const LISTED: usize = 10;
        let more = failed.len().saturating_sub(LISTED);
        let mut note = format!(
            "RDAP: the registry lookup of {} registrable domain(s) is inconclusive, their expiry \
             and status are unknown: {}",
            failed.len(),
            failed[..failed.len().min(LISTED)].join("; ")
        );
        if more > 0 {
            note.push_str(&format!(" and {more} more"));
        }
        evidence.notes.push(note);
    }
    Ok(evidence)
}

fn from_cache(cache: &cache::Cache, reg: &DomainName) -> Option<RdapRecord> {
    let entry = cache.get(reg.as_str())?;
    let expiration = match &entry.expiration {
        Some(text) => Some((response::rfc3339_day(text)?, text.clone())),
        None => None,
    };
    Some(RdapRecord {
        registrable: reg.clone(),
        status: if entry.found {
            RdapStatus::Found
        } else {
            RdapStatus::NotFound
        },
        expiration,
        states: entry.status.iter().map(|s| DomainState::parse(s)).collect(),
        registrar: entry.registrar.clone(),
        source: Some(entry.source.clone()),
        problem: None,
        cached: true,
    })
}

impl Stage {
    fn service(&self, url: &ServiceUrl) -> Arc<Service> {
        let mut services = self
            .services
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(services.entry(url.server()).or_insert_with(|| {
            Arc::new(Service {
                in_flight: Semaphore::new(PER_SERVER),
                not_before: Mutex::new(None),
            })
        }))
    }

    fn time_left(&self) -> Option<Duration> {
        self.end
            .map(|end| end.saturating_duration_since(Instant::now()))
    }
}

/// Ask one registrable domain; the record, and the cache entry when the
/// answer is conclusive.
async fn lookup(
    stage: &Stage,
    service_url: &ServiceUrl,
    reg: &DomainName,
) -> (RdapRecord, Option<cache::Entry>) {
    let url = service_url.domain_query(reg.as_str());
    let service = stage.service(service_url);
    let failed = |problem: String| (RdapRecord::failed(reg, Some(url.clone()), problem), None);
    let Ok(_overall) = stage.overall.acquire().await else {
        return failed("the RDAP stage stopped".into());
    };
    let mut retries = 0;
    loop {
        let Ok(_permit) = service.in_flight.acquire().await else {
            return failed("the RDAP stage stopped".into());
        };
        // A 429 to any request of this service pauses all of them.
        let wait_until = *service
            .not_before
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(until) = wait_until {
            if stage.end.is_some_and(|end| until >= end) {
                return failed(
                    "the registry asked to wait (429 Retry-After) past the time left by --deadline"
                        .into(),
                );
            }
            tokio::time::sleep_until(until).await;
        }
        let timeout = match stage.time_left() {
            Some(left) if left.is_zero() => {
                return failed("no time left within --deadline".into());
            }
            Some(left) => left.min(stage.request_timeout),
            None => stage.request_timeout,
        };
        stage
            .sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let answer = tokio::time::timeout(timeout, fetch(&stage.client, &url)).await;
        let (code, retry_after, body) = match answer {
            Err(_) => return failed(format!("no answer within {} s", timeout.as_secs_f64())),
            Ok(Err(e)) => return failed(e),
            Ok(Ok(answer)) => answer,
        };
        match code {
            200 => {
                return match response::parse_domain(&body, reg.as_str()) {
                    Ok(facts) => {
                        let entry = cache::Entry {
                            fetched: cache::Cache::stamp(),
                            source: url.clone(),
                            found: true,
                            expiration: facts.expiration.as_ref().map(|(_, t)| t.clone()),
                            status: facts
                                .states
                                .iter()
                                .map(|s| s.as_str().to_string())
                                .collect(),
                            registrar: facts.registrar.clone(),
                        };
                        (
                            RdapRecord {
                                registrable: reg.clone(),
                                status: RdapStatus::Found,
                                expiration: facts.expiration,
                                states: facts.states,
                                registrar: facts.registrar,
                                source: Some(url.clone()),
                                problem: None,
                                cached: false,
                            },
                            Some(entry),
                        )
                    }
                    Err(e) => failed(format!("unreadable answer: {e}")),
                };
            }
            404 => {
                let entry = cache::Entry {
                    fetched: cache::Cache::stamp(),
                    source: url.clone(),
                    found: false,
                    expiration: None,
                    status: Vec::new(),
                    registrar: None,
                };
                return (
                    RdapRecord {
                        registrable: reg.clone(),
                        status: RdapStatus::NotFound,
                        expiration: None,
                        states: Vec::new(),
                        registrar: None,
                        source: Some(url.clone()),
                        problem: None,
                        cached: false,
                    },
                    Some(entry),
                );
            }
            429 => {
                let wait = retry_after.unwrap_or(Duration::from_secs(1));
                if retries >= RETRIES_AFTER_429 || wait > MAX_RETRY_AFTER {
                    return failed(format!(
                        "rate limited by the registry (429, Retry-After {} s)",
                        wait.as_secs()
                    ));
                }
                retries += 1;
                let until = Instant::now() + wait;
                let mut not_before = service
                    .not_before
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if not_before.is_none_or(|t| t < until) {
                    *not_before = Some(until);
                }
            }
            other => return failed(format!("HTTP status {other}")),
        }
    }
}

/// One GET: status, `Retry-After` (seconds), body (at most
/// [`BODY_LIMIT`] bytes).
async fn fetch(
    client: &reqwest::Client,
    url: &str,
) -> Result<(u16, Option<Duration>, Vec<u8>), String> {
    let mut response = client
        .get(url)
        .header(
            reqwest::header::ACCEPT,
            "application/rdap+json, application/json",
        )
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let code = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(retry_after_seconds);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(format!("the answer is larger than {BODY_LIMIT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((code, retry_after, body))
}

/// reqwest's error with its causes, on one line.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` as delay-seconds or as an HTTP-date (RFC 9110 10.2.3).
fn retry_after_seconds(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = http_date_unix(value)?;
    let now = cache::Cache::stamp();
    Some(Duration::from_secs(when.saturating_sub(now)))
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as Unix seconds.
fn http_date_unix(text: &str) -> Option<u64> {
    let mut words = text.split_whitespace();
    let _weekday = words.next()?;
    let day: u32 = words.next()?.parse().ok()?;
    let month = match words.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = words.next()?.parse().ok()?;
    let mut clock = words.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (clock.next()??, clock.next()??, clock.next()??);
    if words.next()? != "GMT" || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let date = CivilDate::parse(&format!("{year:04}-{month:02}-{day:02}"))?;
    let days = u64::try_from(date.days()).ok()?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DomainName {
        DomainName::parse(s).unwrap()
    }

    #[test]
    fn one_registrable_domain_per_registration() {
        for (n, r) in [
            ("example.com", Some("example.com")),
            ("mail.shop.example.com", Some("example.com")),
            ("shop.example.co.uk", Some("example.co.uk")),
            ("foo.blogspot.com", Some("blogspot.com")),
            ("a.b.expiring.test", Some("expiring.test")),
            ("co.uk", None),
            ("com", None),
        ] {
            assert_eq!(registrable(&name(n)), r.map(name), "{n}");
        }
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        assert_eq!(retry_after_seconds("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after_seconds("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(
            http_date_unix("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(retry_after_seconds("soon"), None);
    }

    #[tokio::test]
    async fn nothing_is_asked_unless_enabled() {
        let opts = RdapOptions {
            cache_dir: None,
            ..RdapOptions::default()
        };
        let evidence = gather(&[name("example.com")], &opts).await.unwrap();
        assert_eq!(evidence.requests_sent, 0);
        assert!(evidence.records.is_empty() && evidence.registrable_of.is_empty());
    }
}
