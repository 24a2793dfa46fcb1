//! Generates the files the Debian package ships besides the binary: the man
//! page (clap_mangen) and shell completions (clap_complete), from the same
//! clap definitions the binary uses, so they never drift from `--help`.
//!
//! Usage: `cargo run --example gen-assets -- target/assets`

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/assets".to_string()),
    );
    std::fs::create_dir_all(out.join("completions"))?;
    let mut cmd = mxdrift::cli::Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(out.join("mxdrift.1"), page)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd, "mxdrift", out.join("completions"))?;
    }
    println!("wrote {}", out.display());
    Ok(())
}
