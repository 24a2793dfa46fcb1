//! The progress bar on standard error while the domains are resolved. The
//! library only tells a [`ResolveProgress`] how far it is; drawing is the
//! binary's business, and only on a terminal (cron mail and pipes get no
//! bar).

use std::io::{self, IsTerminal};
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mxdrift::resolve::ResolveProgress;

/// A bar when standard error is a terminal, else nothing.
pub fn on_terminal() -> Option<Arc<dyn ResolveProgress>> {
    io::stderr()
        .is_terminal()
        .then(|| Arc::new(TerminalProgress::default()) as Arc<dyn ResolveProgress>)
}

/// An indicatif bar, made when the resolution starts (its length is the
/// number of distinct domains).
#[derive(Debug, Default)]
struct TerminalProgress {
    bar: Mutex<Option<ProgressBar>>,
}

impl TerminalProgress {
    fn bar(&self) -> Option<ProgressBar> {
        self.bar
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl ResolveProgress for TerminalProgress {
    fn started(&self, domains: u64) {
        let bar = ProgressBar::with_draw_target(Some(domains), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("resolving {bar:40} {pos}/{len} domains ({eta} left)")
        {
            bar.set_style(style);
        }
        *self
            .bar
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(bar);
    }

    fn resolved(&self) {
        if let Some(bar) = self.bar() {
            bar.inc(1);
        }
    }

    fn finished(&self) {
        if let Some(bar) = self.bar() {
            bar.finish_and_clear();
        }
    }
}
