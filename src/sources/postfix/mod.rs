//! Postfix: which domains the server treats as local, relay or neither,
//! exactly as Postfix reads main.cf, match lists and lookup tables.

use crate::inventory::Inventory;
use crate::sources::{ConfigRoot, SourceError, SourceOptions};

/// Options of the Postfix reader.
#[derive(Debug, Clone)]
pub struct PostfixOptions {
    /// Server path of the configuration directory (`/etc/postfix`).
    pub config_dir: String,
    /// Host name for the `myhostname` default.
    pub hostname: Option<String>,
}

impl From<&SourceOptions> for PostfixOptions {
    fn from(opts: &SourceOptions) -> Self {
        PostfixOptions {
            config_dir: "/etc/postfix".to_string(),
            hostname: opts.hostname.clone(),
        }
    }
}

/// Read main.cf under `root` and build the inventory.
pub fn read(root: &ConfigRoot, opts: &PostfixOptions) -> Result<Inventory, SourceError> {
    let _ = (root, opts);
    Err(SourceError::NotYetSupported("postfix".to_string()))
}
