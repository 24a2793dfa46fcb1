//! Expansion and list bombs end to end: `mxdrift inventory` stops with
//! exit 2 and an error naming main.cf, the line and the parameter, quickly
//! and without the memory the bomb asks for.

use std::path::Path;

use crate::common::mxdrift;

fn root_with(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn inventory(root: &Path) -> (i32, String) {
    let out = mxdrift()
        .args(["inventory", "--platform", "postfix", "--root"])
        .arg(root)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_macro_bomb_is_an_error_naming_the_parameter() {
    // `$a = $b $b ...`: ten references, eleven levels (10^11 copies).
    let mut main_cf = String::from("myhostname = mail.test\n");
    for i in 0..11 {
        let refs = vec![format!("$p{}", i + 1); 10].join(" ");
        main_cf.push_str(&format!("p{i} = {refs}\n"));
    }
    main_cf.push_str("p11 = x.test\nmydestination = $p0\n");
    let dir = root_with(&[("etc/postfix/main.cf", main_cf)]);
    let (code, stderr) = inventory(dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("etc/postfix/main.cf:14: parameter mydestination:"),
        "{stderr}"
    );
}

#[test]
fn deeply_nested_conditionals_are_an_error_naming_the_parameter() {
    let value = format!("{}a.test{}", "${x?{".repeat(100_000), "}}".repeat(100_000));
    let dir = root_with(&[(
        "etc/postfix/main.cf",
        format!("myhostname = mail.test\nx = 1\nmydestination = {value}\n"),
    )]);
    let (code, stderr) = inventory(dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "etc/postfix/main.cf:3: parameter mydestination: unreasonable macro call nesting"
        ),
        "{stderr}"
    );
}

#[test]
fn file_lists_fanning_out_are_an_error_naming_the_parameter() {
    // Each file names the next ten times, 20 deep: 10^20 patterns.
    let mut files = vec![(
        "etc/postfix/main.cf",
        "myhostname = mail.test\nmydestination = /etc/postfix/f0\n".to_string(),
    )];
    let names: Vec<String> = (0..=20).map(|i| format!("etc/postfix/f{i}")).collect();
    for i in 0..20 {
        files.push((
            names[i].as_str(),
            format!("{}\n", vec![format!("/{}", names[i + 1]); 10].join(" ")),
        ));
    }
    files.push((names[20].as_str(), "a.test\n".to_string()));
    let dir = root_with(&files);
    let (code, stderr) = inventory(dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("etc/postfix/main.cf:2: parameter mydestination: the list"),
        "{stderr}"
    );
}
