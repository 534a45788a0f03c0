//! The validated configuration the server runs with, built from the command line.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{ServeArgs, SignupPolicy};
use crate::domain::tiers::Tier;

const MIB: u64 = 1024 * 1024;
/// Caps for the free tier (the contract's values), never above the operator's paid caps.
const FREE_SYNC_BYTES: u64 = 50 * MIB;
const FREE_MEMBER_BYTES: u64 = 10 * MIB;

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    pub public_url: String,
    pub default_tier: Tier,
    pub signup_policy: SignupPolicy,
    pub signup_allowed_domains: Vec<String>,
    pub max_sync_bytes: u64,
    pub max_member_bytes: u64,
    /// Most members one archive may hold.
    pub max_archive_members: usize,
    pub rate_limit_per_minute: u32,
    pub signup_rate_limit_per_hour: u32,
    /// Pushes one user may run at once; the next one waits up to `push_slot_wait`.
    pub concurrent_pushes_per_user: usize,
    pub push_slot_wait: Duration,
    pub request_timeout: Duration,
    /// How old an unreferenced archive must be before garbage collection removes it.
    pub gc_grace: Duration,
    pub cors_origins: Vec<String>,
    pub db_read_connections: u32,
    /// Where Prometheus metrics are served; `None` = not at all.
    pub metrics_bind: Option<SocketAddr>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    /// Accounts must verify their email before pushing (only when mail can be sent).
    pub require_email_verification: bool,
}

impl Config {
    pub fn from_args(args: &ServeArgs) -> Result<Config, String> {
        let default_tier: Tier = args.default_tier.parse()?;
        if args.max_member_bytes == 0 || args.max_sync_bytes == 0 {
            return Err("--max-sync-bytes and --max-member-bytes must be above 0".into());
        }
        if args.signup_policy == SignupPolicy::Domains && args.signup_allowed_domains.is_empty() {
            return Err("--signup-policy domains needs --signup-allowed-domains".into());
        }
        let public_url = match &args.public_url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim_end_matches('/').to_string()
            }
            Some(url) => {
                return Err(format!(
                    "--public-url must start with http:// or https:// (got {url})"
                ))
            }
            None => format!("http://{}", args.bind),
        };
        Ok(Config {
            data_dir: args.data.data_dir.clone(),
            bind: args.bind,
            public_url,
            default_tier,
            signup_policy: args.signup_policy,
            signup_allowed_domains: args
                .signup_allowed_domains
                .iter()
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            max_sync_bytes: args.max_sync_bytes,
            max_member_bytes: args.max_member_bytes,
            max_archive_members: 10_000,
            rate_limit_per_minute: args.rate_limit_per_minute,
            signup_rate_limit_per_hour: args.signup_rate_limit_per_hour,
            concurrent_pushes_per_user: 3,
            push_slot_wait: Duration::from_secs(30),
            request_timeout: Duration::from_secs(args.request_timeout_secs.max(1)),
            gc_grace: Duration::from_secs(args.gc_grace_seconds),
            cors_origins: args.cors_origins.clone(),
            db_read_connections: args.db_read_connections,
            metrics_bind: args.metrics_bind,
            trusted_proxies: args.trusted_proxies.clone(),
            require_email_verification: args
                .smtp_url
                .as_deref()
                .is_some_and(|u| !u.trim().is_empty()),
            smtp_url: args.smtp_url.clone(),
            smtp_from: args.smtp_from.clone(),
        })
    }

    /// A configuration for tests and tools: defaults, data under `data_dir`.
    pub fn for_data_dir(data_dir: PathBuf) -> Config {
        use clap::Parser;
        let cli = crate::cli::Cli::parse_from(["sessionfs-server", "serve"]);
        let crate::cli::Command::Serve(mut args) = cli.command else {
            unreachable!("parsed the serve command")
        };
        args.data.data_dir = data_dir;
        Config::from_args(&args).expect("default configuration is valid")
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("sessionfs.db")
    }

    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }

    pub fn archive_dir(&self) -> PathBuf {
        self.data_dir.join("archives")
    }

    /// Largest archive the tier may push.
    pub fn sync_cap(&self, tier: Tier) -> u64 {
        if tier.is_paid() {
            self.max_sync_bytes
        } else {
            FREE_SYNC_BYTES.min(self.max_sync_bytes)
        }
    }

    /// Largest member of an archive for the tier.
    pub fn member_cap(&self, tier: Tier) -> u64 {
        if tier.is_paid() {
            self.max_member_bytes
        } else {
            FREE_MEMBER_BYTES.min(self.max_member_bytes)
        }
    }

    /// How far an archive of the tier may expand when decompressed: eight times its size cap
    /// (session JSON compresses about tenfold; more than that is a decompression bomb).
    pub fn uncompressed_cap(&self, tier: Tier) -> u64 {
        self.sync_cap(tier).saturating_mul(8)
    }
}
