//! Expansion limits against the real Postfix: on each bomb that `postconf
//! -x` finishes (succeeding or failing), mxdrift must succeed or fail the
//! same way. Postfix fails beyond 100 levels of macro nesting, on a loop
//! (which nests without end) and when an expansion outgrows memory (run
//! here under `ulimit -v 1 GiB`); mxdrift fails there too, with an error
//! that names main.cf, the line and the parameter. The bombs Postfix does
//! not finish (2^40 empty expansions) are unit tests in maincf.rs.

use std::path::Path;
use std::process::Command;

use mxdrift::sources::postfix::{self, PostfixOptions};
use mxdrift::sources::{ConfigRoot, SourceError};

use crate::common::require_tool;

fn chain(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!("p{i} = $p{}\n", i + 1));
    }
    text.push_str(&format!("p{n} = end.test\nmydestination = $p0\n"));
    text
}

fn nested_conditionals(n: usize) -> String {
    format!(
        "x = 1\nmydestination = {}a.test{}\n",
        "${x?{".repeat(n),
        "}}".repeat(n)
    )
}

fn fan_out(levels: usize, width: usize) -> String {
    let mut text = String::new();
    for i in 0..levels {
        let refs = vec![format!("$p{}", i + 1); width].join(" ");
        text.push_str(&format!("p{i} = {refs}\n"));
    }
    text.push_str(&format!(
        "p{levels} = {}.test\nmydestination = $p0\n",
        "x".repeat(200)
    ));
    text
}

/// What postconf made of the four class lists (which Postfix's daemons
/// expand, relay_domains through `$mydestination` below compatibility
/// level 2, two levels deeper): `Ok(mydestination)` or `Err(stderr)`.
fn postconf(postconf: &Path, dir: &Path) -> Result<String, String> {
    // Postfix grows its buffer until malloc fails: give it 1 GiB of
    // address space, not the machine's.
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576; exec timeout 120 \"$0\" -c \"$1\" -x -h mydestination virtual_alias_domains virtual_mailbox_domains relay_domains")
        .arg(postconf)
        .arg(dir)
        .output()
        .expect("run postconf");
    if out.status.success() {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        Ok(stdout.lines().next().unwrap_or_default().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn expansion_limits_agree_with_postconf() {
    let Some(postconf_bin) = require_tool("postconf") else {
        return;
    };
    let cases: Vec<(&str, String)> = vec![
        ("chain of 99", chain(99)),
        ("chain of 100", chain(100)),
        ("100 nested conditionals", nested_conditionals(100)),
        ("101 nested conditionals", nested_conditionals(101)),
        ("100,000 nested conditionals", nested_conditionals(100_000)),
        ("loop", "a = $b\nb = x $a\nmydestination = $a\n".to_string()),
        ("10 references, 11 levels", fan_out(11, 10)),
        ("2 references, 5 levels", fan_out(5, 2)),
    ];
    let mut failures = Vec::new();
    for (label, main_cf) in cases {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc/postfix");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("main.cf"), &main_cf).unwrap();
        std::fs::write(etc.join("master.cf"), "").unwrap();
        let expected = postconf(&postconf_bin, &etc);
        let opts = PostfixOptions {
            hostname: Some("vm.test".into()),
            ..PostfixOptions::default()
        };
        let got = postfix::read_config(&ConfigRoot::new(dir.path()), &opts);
        match (&expected, got) {
            (Ok(value), Ok(config)) => {
                let ours = config.main_cf.expanded("mydestination");
                if *value != ours {
                    failures.push(format!("{label}: postconf {value:?}, mxdrift {ours:?}"));
                }
            }
            (
                Err(_),
                Err(SourceError::Syntax {
                    file,
                    line,
                    message,
                }),
            ) => {
                assert_eq!(file, "etc/postfix/main.cf", "{label}");
                assert!(line > 0, "{label}: {message}");
                assert!(
                    message.starts_with("parameter mydestination: ")
                        || message.starts_with("parameter relay_domains: "),
                    "{label}: {message}"
                );
                eprintln!("{label}: both fail; mxdrift: {file}:{line}: {message}");
            }
            (Ok(value), Err(e)) => failures.push(format!(
                "{label}: postconf expands it ({} bytes), mxdrift fails: {e}",
                value.len()
            )),
            (Err(stderr), Ok(_)) => failures.push(format!(
                "{label}: postconf fails ({}), mxdrift does not",
                stderr.trim()
            )),
            (Err(_), Err(other)) => failures.push(format!(
                "{label}: mxdrift fails with another error: {other}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
