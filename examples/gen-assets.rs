//! Generates the files the Debian package ships besides the binary: the man
//! pages (clap_mangen) and shell completions (clap_complete), from the same
//! clap definitions the binary uses, so they never drift from `--help`.
//!
//! - `man/mxdrift.1` and one page per subcommand, `man/mxdrift-fix.1` etc.
//!   (`man mxdrift-fix`), each with exit status and see-also sections;
//! - `man/mxdrift.yaml.5`, copied from `docs/mxdrift.yaml.5` (hand-written:
//!   the config file has no clap definition to generate it from);
//! - `completions/` for bash, zsh and fish.
//!
//! Usage: `cargo run --example gen-assets -- target/assets`
// A build helper for the package: it panics on a broken checkout.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use roff::{Roff, bold, roman};

/// Every page, with the sections clap does not know: (page name, exit
/// status text or none).
const PAGES: &[(&str, Option<&str>)] = &[
    (
        "mxdrift",
        Some(
            "0: no finding at or above --fail-on. 1: findings at or above it. 2: usage or configuration error. With --format nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. See mxdrift-audit(1) and mxdrift-fix(1).",
        ),
    ),
    (
        "mxdrift-audit",
        Some(
            "0: no finding at or above --fail-on (under --baseline: no new one). 1: findings at or above it. 2: usage or configuration error. With --format nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (usage errors included, with the message on standard output).",
        ),
    ),
    (
        "mxdrift-inventory",
        Some("0: the inventory was printed. 2: usage or configuration error."),
    ),
    (
        "mxdrift-fix",
        Some(
            "0: the remediation was printed or applied, or there was nothing to do. 2: usage, configuration or apply error, or nothing confirms who this server is (identity-unconfirmed) and neither --server-ip, --server-name nor server: in mxdrift.yaml names it (nothing is printed or written).",
        ),
    ),
    (
        "mxdrift-rules",
        Some("0: printed. 2: unknown rule (the nearest id is suggested)."),
    ),
    (
        "mxdrift-fleet",
        Some(
            "0: no cross-server finding at or above --fail-on. 1: findings at or above it (a stale report counts as a warning). 2: usage error, or a report that cannot be read (the message names the file).",
        ),
    ),
];

fn see_also(page: &str) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"]);
    let mut inlines = Vec::new();
    let others = PAGES
        .iter()
        .map(|(name, _)| (*name, "1"))
        .chain([("mxdrift.yaml", "5")])
        .filter(|(name, _)| *name != page);
    for (i, (name, section)) in others.enumerate() {
        if i > 0 {
            inlines.push(roman(", "));
        }
        inlines.push(bold(name));
        inlines.push(roman(format!("({section})")));
    }
    roff.text(inlines);
    roff.control("PP", [] as [&str; 0]);
    roff.text([roman(
        "The JSON report's schema: /usr/share/doc/mxdrift/mxdrift.schema.json. The README: /usr/share/doc/mxdrift/README.md.",
    )]);
    roff
}

fn write_page(
    cmd: clap::Command,
    page: &'static str,
    exit: Option<&str>,
    dir: &Path,
) -> std::io::Result<()> {
    let has_version = cmd.get_version().is_some();
    let man = clap_mangen::Man::new(cmd.name(page).display_name(page))
        .manual("mxdrift")
        .source(format!("mxdrift {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    if page == "mxdrift" {
        man.render_subcommands_section(&mut out)?;
    }
    if let Some(exit) = exit {
        let mut roff = Roff::new();
        roff.control("SH", ["EXIT STATUS"]);
        roff.text([roman(exit)]);
        out.extend(roff.render().into_bytes());
    }
    out.extend(see_also(page).render().into_bytes());
    if has_version {
        man.render_version_section(&mut out)?;
    }
    std::fs::write(dir.join(format!("{page}.1")), out)
}

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/assets".to_string()),
    );
    let man_dir = out.join("man");
    std::fs::create_dir_all(out.join("completions"))?;
    std::fs::create_dir_all(&man_dir)?;
    // The man pages name the version alone: the commit of `--version` is only
    // known to the release build.
    let mut cmd = mxdrift::cli::Cli::command().version(env!("CARGO_PKG_VERSION"));
    cmd.build();
    for (page, exit) in PAGES {
        let page_cmd = match page.strip_prefix("mxdrift-") {
            None => cmd.clone(),
            Some(sub) => cmd
                .find_subcommand(sub)
                .cloned()
                .ok_or_else(|| std::io::Error::other(format!("no subcommand {sub}")))?
                .bin_name(format!("mxdrift {sub}")),
        };
        write_page(page_cmd, page, *exit, &man_dir)?;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        manifest.join("docs/mxdrift.yaml.5"),
        man_dir.join("mxdrift.yaml.5"),
    )?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd, "mxdrift", out.join("completions"))?;
    }
    println!("wrote {}", out.display());
    Ok(())
}
