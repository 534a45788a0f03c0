//! The command line. Every flag can also be set with the `SFS_*` environment variable named in
//! its help, so a systemd environment file can hold the whole configuration.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "sessionfs-server",
    version,
    about = "Self-hosted SessionFS server: one binary, \
    embedded SQLite, on-disk archive store"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP API server.
    Serve(Box<ServeArgs>),
    /// Rebuild the search index from the archives (stop the server first: it holds the index).
    Reindex {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Manage accounts without SQL; safe while the server runs on the same data dir, and
    /// creates and migrates a new data dir (to bootstrap a closed install before `serve`).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Write a consistent backup of a data dir into one tar file (safe while the server runs).
    ///
    /// The database is snapshotted in one read transaction, then the archives that snapshot
    /// references are streamed in with a MANIFEST.json holding every file's sha256. The
    /// search index is not included: it is rebuilt when a restored server starts.
    Backup {
        #[command(flatten)]
        data: DataDirArg,
        /// The backup file to write (written as FILE.partial, renamed when complete).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace --out when it exists (without it an existing file is refused).
        #[arg(long, env = "SFS_BACKUP_FORCE")]
        force: bool,
    },
    /// Restore a backup into a new (missing or empty) data dir, verifying every checksum.
    ///
    /// Refuses a data dir that holds anything; on any failure removes what it wrote. The search
    /// index is rebuilt when the server next starts on the restored dir.
    Restore {
        #[command(flatten)]
        data: DataDirArg,
        /// The backup file written by `backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Fill a new data dir with a demo account and sample sessions, to try list, search, share
    /// and the API docs before pushing anything of your own.
    ///
    /// Creates and migrates the data dir, creates demo@example.com (printing its API key) and
    /// pushes a few realistic sessions through the same path as `PUT /sync`, indexed for search.
    /// Refuses a data dir that already holds sessions.
    Demo {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Check a data dir and say what to do (read-only, safe while the server runs).
    ///
    /// Database integrity and schema, missing and orphaned archives, stale temp files, the
    /// search index, free disk space and the filesystem type. Exits 1 when a check fails.
    Doctor {
        #[command(flatten)]
        data: DataDirArg,
        /// Also repair what is safe to repair: remove archives no session names that are
        /// older than --gc-grace-seconds (as the server's background collection does).
        #[arg(long)]
        fix: bool,
        /// Seconds an archive no session names is kept before --fix removes it.
        #[arg(long, env = "SFS_GC_GRACE_SECONDS", default_value_t = 3600)]
        gc_grace_seconds: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a verified account and print its first API key.
    CreateUser {
        #[command(flatten)]
        data: DataDirArg,
        /// Tier of the account: free, starter, pro, team, enterprise, or admin (platform admin).
        #[arg(long, env = "SFS_DEFAULT_TIER", default_value = "enterprise")]
        tier: String,
        /// Email address of the account.
        email: String,
    },
    /// Set an account's tier; `admin` makes a platform admin.
    SetTier {
        #[command(flatten)]
        data: DataDirArg,
        /// Email address of the account.
        email: String,
        /// free, starter, pro, team, enterprise or admin.
        tier: String,
    },
    /// List every account with its tier and state.
    ListUsers {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Disable an account: its keys stop working until it is enabled again.
    DisableUser {
        #[command(flatten)]
        data: DataDirArg,
        /// Email address of the account.
        email: String,
    },
    /// Enable a disabled account.
    EnableUser {
        #[command(flatten)]
        data: DataDirArg,
        /// Email address of the account.
        email: String,
    },
    /// Revoke every API key of an account (mint a new one with create-user or the admin API).
    RevokeKeys {
        #[command(flatten)]
        data: DataDirArg,
        /// Email address of the account.
        email: String,
    },
    /// Replace the install secret and re-encrypt every stored judge key and GitLab token
    /// under it (stop the server first: it holds the old secret in memory).
    RotateSecret {
        #[command(flatten)]
        data: DataDirArg,
        /// The install secret's file, when it is not DATA_DIR/secret.key.
        #[arg(long, env = "SFS_SECRET_FILE")]
        secret_file: Option<PathBuf>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct DataDirArg {
    /// Directory that holds the database and the archive store (created if missing).
    #[arg(long, env = "SFS_DATA_DIR", default_value = "./sessionfs-data")]
    pub data_dir: PathBuf,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SignupPolicy {
    /// Anyone who can reach the server may create an account.
    Open,
    /// Only addresses in --signup-allowed-domains may sign up.
    Domains,
    /// Nobody may sign up; accounts come from an operator or an org invite.
    Closed,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataDirArg,

    /// Address and port to listen on: HOST:PORT (e.g. 0.0.0.0:8000 for every interface) or
    /// :PORT (127.0.0.1, this machine only).
    #[arg(long, env = "SFS_BIND", default_value = "127.0.0.1:8000",
          value_parser = crate::config::parse_bind)]
    pub bind: SocketAddr,

    /// URL clients and browsers use to reach this server (links in share links and emails).
    /// Defaults to http://<bind> (http://<hostname>:<port> when bound to 0.0.0.0 or ::).
    #[arg(long, env = "SFS_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Tier given to new accounts: free, starter, pro, team or enterprise.
    #[arg(long, env = "SFS_DEFAULT_TIER", default_value = "enterprise")]
    pub default_tier: String,

    /// Who may create an account.
    #[arg(long, env = "SFS_SIGNUP_POLICY", value_enum, default_value = "open")]
    pub signup_policy: SignupPolicy,

    /// Email domains allowed to sign up with --signup-policy domains (comma-separated).
    #[arg(long, env = "SFS_SIGNUP_ALLOWED_DOMAINS", value_delimiter = ',')]
    pub signup_allowed_domains: Vec<String>,

    /// Largest archive a paid-tier push may upload, in bytes (free tier: at most 50 MiB).
    #[arg(long, env = "SFS_MAX_SYNC_BYTES", default_value_t = 300 * 1024 * 1024)]
    pub max_sync_bytes: u64,

    /// Largest single file inside an archive for paid tiers, in bytes (free tier: at most 10 MiB).
    #[arg(long, env = "SFS_MAX_MEMBER_BYTES", default_value_t = 50 * 1024 * 1024)]
    pub max_member_bytes: u64,

    /// Requests per minute allowed for one API key (0 turns the limit off).
    #[arg(long, env = "SFS_RATE_LIMIT_PER_MINUTE", default_value_t = 120)]
    pub rate_limit_per_minute: u32,

    /// Signups per hour allowed from one client address (0 turns the limit off).
    #[arg(long, env = "SFS_SIGNUP_RATE_LIMIT_PER_HOUR", default_value_t = 5)]
    pub signup_rate_limit_per_hour: u32,

    /// Seconds a request may take before it is answered with 408 (large pushes need time).
    #[arg(long, env = "SFS_REQUEST_TIMEOUT_SECS", default_value_t = 300)]
    pub request_timeout_secs: u64,

    /// Seconds an archive no session names is kept before garbage collection removes it.
    #[arg(long, env = "SFS_GC_GRACE_SECONDS", default_value_t = 3600)]
    pub gc_grace_seconds: u64,

    /// Hours a resumable (chunked) upload may stay unfinished before its parts are deleted.
    #[arg(long, env = "SFS_UPLOAD_EXPIRY_HOURS", default_value_t = 24,
          value_parser = clap::value_parser!(u64).range(1..=720))]
    pub upload_expiry_hours: u64,

    /// Browser origins allowed to call the API (comma-separated); CORS is off when empty.
    #[arg(long, env = "SFS_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Address for the Prometheus metrics listener (e.g. 127.0.0.1:9100); off when unset.
    #[arg(long, env = "SFS_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Reverse proxies whose X-Forwarded-For is believed (comma-separated IPs); the client
    /// address then comes from that header for rate limits and key-use records.
    #[arg(
        long = "trusted-proxy",
        env = "SFS_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,

    /// SMTP relay for verification, invite and handoff mail: `smtp://user:pass@host:587`
    /// (STARTTLS), `smtps://host:465` (TLS) or `smtp://host:25?tls=none` (plain, local relays).
    /// Without it no mail is sent and accounts are verified at signup.
    #[arg(long, env = "SFS_SMTP_URL")]
    pub smtp_url: Option<String>,

    /// From address of the mail the server sends (needed with --smtp-url).
    #[arg(long, env = "SFS_SMTP_FROM")]
    pub smtp_from: Option<String>,

    /// Read connections to the database.
    #[arg(long, env = "SFS_DB_READ_CONNECTIONS", default_value_t = 8)]
    pub db_read_connections: u32,

    /// File holding the install secret (64+ hex characters) that encrypts stored judge API keys
    /// and GitLab tokens. Default: DATA_DIR/secret.key, created (mode 0600) on first start.
    #[arg(long, env = "SFS_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,

    /// Let LLM base URLs (judge settings, model discovery, audits, compile) use http:// and
    /// private or loopback addresses: needed for a local Ollama or vLLM. Link-local and cloud
    /// metadata addresses stay refused.
    #[arg(long, env = "SFS_LLM_ALLOW_PRIVATE_HOSTS")]
    pub llm_allow_private_hosts: bool,

    /// Let GitLab instance URLs use http:// and private or loopback addresses (an internal
    /// GitLab). Link-local and cloud metadata addresses stay refused.
    #[arg(long, env = "SFS_GITLAB_ALLOW_PRIVATE_HOSTS")]
    pub gitlab_allow_private_hosts: bool,

    /// OpenAI-compatible endpoint the judge uses when a user configured none (e.g. an internal
    /// vLLM); this exact URL may be private without --llm-allow-private-hosts.
    #[arg(long, env = "SFS_JUDGE_BASE_URL")]
    pub judge_base_url: Option<String>,

    /// Model the judge uses when neither the request nor the user's settings name one.
    #[arg(long, env = "SFS_JUDGE_MODEL", default_value = "claude-sonnet-4")]
    pub judge_model: String,

    /// Log format.
    #[arg(long, env = "SFS_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info` or `sessionfs_server=debug,tower_http=info`.
    #[arg(long, env = "SFS_LOG", default_value = "info")]
    pub log: String,
}
