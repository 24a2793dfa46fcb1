//! What the integration tests share.

pub mod dns;
pub mod dns_server;
pub mod exim_oracle;
pub mod fix;
pub mod mini_zone;
pub mod platform;
pub mod postfix_oracle;
pub mod raw_dns;
