//! The validated configuration the server runs with, built from the command line.
//!
//! `--bind` takes `HOST:PORT` (an IP address or `localhost`; IPv6 as `[::1]:8000`) or `:PORT`,
//! which means `127.0.0.1:PORT`: listening on every interface is a decision an operator writes
//! down (`0.0.0.0:8000`), never a default. Without `--public-url` the links the server hands
//! out use the bind address, or the machine's host name when bound to every interface
//! (`http://0.0.0.0:…` is not an address anyone can open).

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
    /// How long a resumable upload may stay unfinished before its parts are deleted.
    pub upload_expiry: Duration,
    /// Unfinished resumable uploads one user may hold, and the whole server.
    pub pending_uploads_per_user: i64,
    pub pending_uploads_total: i64,
    /// Size of each part of a chunked upload but the last.
    pub upload_part_size: u64,
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
        crate::ops::lock::check_data_dir(&args.data.data_dir)?;
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
            None => default_public_url(args.bind, machine_hostname().as_deref()),
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
            upload_expiry: Duration::from_secs(args.upload_expiry_hours * 3600),
            pending_uploads_per_user: 5,
            pending_uploads_total: 1_000,
            upload_part_size: crate::domain::uploads::PART_SIZE,
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

    /// What an operator should know about where the server listens: a non-loopback address
    /// without `--public-url`, plain HTTP reachable from other hosts. One line each, for the log.
    pub fn exposure_warnings(&self, public_url_given: bool) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.bind.ip().is_loopback() {
            return warnings;
        }
        if !public_url_given {
            warnings.push(format!(
                "listening on {} (reachable from other hosts) without --public-url: share links \
                 and emails will carry {}; set --public-url (SFS_PUBLIC_URL) to the address your \
                 users open, e.g. https://sessions.example.com",
                self.bind, self.public_url
            ));
        }
        if self.public_url.starts_with("http://") {
            warnings.push(format!(
                "serving plain HTTP on {} to other hosts: the sfs client refuses http:// URLs \
                 except for localhost, and API keys would cross the network in clear text; put a \
                 TLS reverse proxy in front (README, \"Behind a reverse proxy\") and set \
                 --public-url https://…",
                self.bind
            ));
        }
        warnings
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

    /// The knowledge entries' index, beside the sessions' (`tantivy/`) in the index dir.
    pub fn knowledge_index_dir(&self) -> PathBuf {
        self.index_dir().join("knowledge")
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

/// Parses `--bind`: `HOST:PORT` (IP address or `localhost`), `[IPv6]:PORT`, or `:PORT`
/// (loopback, 127.0.0.1). Errors say the expected form with an example.
pub fn parse_bind(text: &str) -> Result<SocketAddr, String> {
    const FORM: &str = "--bind expects HOST:PORT, e.g. 127.0.0.1:8000 (this machine only), \
                        0.0.0.0:8000 (every interface) or :8000 (same as 127.0.0.1:8000)";
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        let hint = if text.parse::<u16>().is_ok() {
            format!("did you mean :{text}?")
        } else {
            format!("the port is missing, e.g. {text}:8000")
        };
        return Err(format!("{FORM} (got {text:?}: {hint})"));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{FORM} (got {text:?}: {port:?} is not a port number 0-65535)"))?;
    if host.contains(':') && !host.starts_with('[') {
        return Err(format!(
            "{FORM} (got {text:?}: write an IPv6 address in brackets, e.g. [::1]:8000)"
        ));
    }
    let ip: IpAddr = match host {
        "" | "localhost" => IpAddr::from([127, 0, 0, 1]),
        _ => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| {
                format!("{FORM} (got {text:?}: {host:?} is not an IP address or localhost)")
            })?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// The public URL when none is given: the bind address, or the host name when bound to every
/// interface (`0.0.0.0` / `::` cannot be opened from elsewhere).
fn default_public_url(bind: SocketAddr, hostname: Option<&str>) -> String {
    if bind.ip().is_unspecified() {
        let host = hostname.filter(|h| !h.is_empty()).unwrap_or("localhost");
        format!("http://{host}:{}", bind.port())
    } else {
        format!("http://{bind}")
    }
}

fn machine_hostname() -> Option<String> {
    hostname::get().ok()?.into_string().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_accepts_host_port_and_port_alone() {
        let ok = |s: &str| parse_bind(s).unwrap().to_string();
        assert_eq!(ok("127.0.0.1:8000"), "127.0.0.1:8000");
        assert_eq!(ok("0.0.0.0:9000"), "0.0.0.0:9000");
        assert_eq!(ok(":8000"), "127.0.0.1:8000");
        assert_eq!(ok("localhost:8080"), "127.0.0.1:8080");
        assert_eq!(ok("[::1]:8000"), "[::1]:8000");
        assert_eq!(ok("[::]:8000"), "[::]:8000");
        assert_eq!(ok("127.0.0.1:0"), "127.0.0.1:0");
    }

    #[test]
    fn bind_errors_say_the_expected_form() {
        let err = |s: &str| parse_bind(s).unwrap_err();
        for (input, hint) in [
            ("0.0.0.0", "the port is missing, e.g. 0.0.0.0:8000"),
            ("8000", "did you mean :8000?"),
            ("0.0.0.0:http", "is not a port number"),
            ("0.0.0.0:70000", "is not a port number"),
            ("example.com:80", "is not an IP address or localhost"),
            ("::1:8000", "write an IPv6 address in brackets"),
        ] {
            let e = err(input);
            assert!(
                e.starts_with("--bind expects HOST:PORT, e.g. 127.0.0.1:8000"),
                "{e}"
            );
            assert!(e.contains(hint), "{input}: {e}");
        }
    }

    #[test]
    fn the_default_public_url_is_never_an_unspecified_address() {
        let at = |s: &str, h| default_public_url(s.parse().unwrap(), h);
        assert_eq!(at("127.0.0.1:8000", Some("box")), "http://127.0.0.1:8000");
        assert_eq!(at("0.0.0.0:8000", Some("box")), "http://box:8000");
        assert_eq!(at("[::]:8000", Some("box")), "http://box:8000");
        assert_eq!(at("0.0.0.0:8000", None), "http://localhost:8000");
    }

    fn config(args: &[&str]) -> Config {
        use clap::Parser;
        let cli =
            crate::cli::Cli::parse_from(["sessionfs-server", "serve"].iter().chain(args.iter()));
        let crate::cli::Command::Serve(args) = cli.command else {
            unreachable!("parsed the serve command")
        };
        Config::from_args(&args).unwrap()
    }

    #[test]
    fn exposure_warnings_name_the_link_address_and_tls() {
        assert!(config(&["--bind", ":8000"])
            .exposure_warnings(false)
            .is_empty());
        let open = config(&["--bind", "0.0.0.0:8000"]);
        assert!(!open.public_url.contains("0.0.0.0"), "{}", open.public_url);
        let w = open.exposure_warnings(false);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains(&format!("will carry {}", open.public_url)),
            "{}",
            w[0]
        );
        assert!(w[1].contains("refuses http://") && w[1].contains("Behind a reverse proxy"));
        let proxied = config(&[
            "--bind",
            "0.0.0.0:8000",
            "--public-url",
            "https://sessions.example.com",
        ]);
        assert!(proxied.exposure_warnings(true).is_empty());
    }
}
