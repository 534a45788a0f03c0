//! The `sessionfs-server` binary: parse the command line, run the chosen command.

use clap::Parser;
use sessionfs_server::cli::{AdminCommand, Cli, Command, DataDirArg, LogFormat, ServeArgs};
use sessionfs_server::clock::Clock;
use sessionfs_server::config::Config;
use sessionfs_server::db::Db;
use sessionfs_server::domain::admin;
use sessionfs_server::ops;
use sessionfs_server::ops::lock::{DataDirLock, LockError};
use sessionfs_server::server;

fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    init_logging(args.log_format, &args.log);
    let config = Config::from_args(&args)?;
    for warning in config.exposure_warnings(args.public_url.is_some()) {
        tracing::warn!("{warning}");
    }
    let server::Started {
        state,
        api: listener,
        metrics,
    } = server::start(config).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let data_dir = std::fs::canonicalize(&state.config.data_dir)
        .unwrap_or_else(|_| state.config.data_dir.clone());
    tracing::info!(
        listen = %addr,
        data_dir = %data_dir.display(),
        public_url = %state.config.public_url,
        default_tier = %state.config.default_tier,
        "sessionfs-server {} ready",
        env!("CARGO_PKG_VERSION")
    );
    println!("sessionfs-server listening on http://{addr}");
    if let Some(mount) = sessionfs_server::ops::mount::filesystem_of(&data_dir) {
        if sessionfs_server::ops::mount::is_network_fs(&mount.fs_type) {
            tracing::warn!(
                fs = %mount.fs_type,
                mount = %mount.mount_point.display(),
                "the data dir is on a network filesystem: SQLite's WAL needs one host and can corrupt \
                 the database here; move it to a local disk"
            );
        }
    }
    println!("data directory: {}", data_dir.display());
    if let Some(m) = &metrics {
        let at = m.local_addr().map_err(|e| e.to_string())?;
        println!("metrics on http://{at}/metrics");
        tracing::info!(metrics = %at, "prometheus metrics listener");
    }
    let shutdown = server::shutdown_signal();
    sessionfs_server::systemd::notify_ready(addr);
    let _watchdog = sessionfs_server::systemd::spawn_watchdog();
    server::serve(state, listener, metrics, shutdown)
        .await
        .map_err(|e| format!("server error: {e}"))?;
    sessionfs_server::systemd::notify_stopping();
    tracing::info!("stopped");
    Ok(())
}

/// Opens a data dir's database for an `admin` command.
///
/// When no server runs on the data dir, the command takes the data-dir lock and creates and
/// migrates a new data dir (so a closed install can be bootstrapped before its first `serve`).
/// When a server holds the lock, the command goes through SQLite's own locking on the
/// database that server has opened (WAL, one short write transaction): that is what makes
/// `admin` safe while the server runs.
fn open_for_admin(data: &DataDirArg) -> Result<(Db, Option<DataDirLock>), String> {
    let path = data.data_dir.join("sessionfs.db");
    match DataDirLock::acquire(&data.data_dir) {
        Ok(lock) => Ok((Db::open(&path, 1)?, Some(lock))),
        Err(LockError::Held { .. }) if path.is_file() => Ok((Db::open(&path, 1)?, None)),
        Err(e) => Err(e.into()),
    }
}

async fn run_admin(command: AdminCommand) -> Result<(), String> {
    let text = |e: sessionfs_server::domain::DomainError| e.to_string();
    let data = match &command {
        AdminCommand::CreateUser { data, .. }
        | AdminCommand::SetTier { data, .. }
        | AdminCommand::ListUsers { data }
        | AdminCommand::DisableUser { data, .. }
        | AdminCommand::EnableUser { data, .. }
        | AdminCommand::RevokeKeys { data, .. } => data.clone(),
        AdminCommand::RotateSecret { data, secret_file } => {
            return rotate_secret(data.clone(), secret_file.clone()).await;
        }
    };
    let (db, _lock) = tokio::task::spawn_blocking(move || open_for_admin(&data))
        .await
        .map_err(|e| e.to_string())??;
    let clock = Clock::system();
    match command {
        AdminCommand::CreateUser { tier, email, .. } => {
            let (user_id, key) = admin::create_user(&db, &clock, &email, &tier)
                .await
                .map_err(text)?;
            println!("created {email} ({user_id}), tier {tier}");
            println!("API key (shown once): {key}");
        }
        AdminCommand::SetTier { email, tier, .. } => {
            let before = admin::set_tier(&db, &clock, &email, &tier)
                .await
                .map_err(text)?;
            println!("{email}: tier {before} -> {}", tier.to_lowercase());
        }
        AdminCommand::ListUsers { .. } => {
            let users = admin::list_users(&db).await.map_err(text)?;
            println!(
                "{:<36}  {:<32}  {:<10}  {:<8}  created",
                "id", "email", "tier", "state"
            );
            for u in users {
                let state = if u.is_active { "active" } else { "disabled" };
                println!(
                    "{:<36}  {:<32}  {:<10}  {:<8}  {}",
                    u.id, u.email, u.tier, state, u.created_at
                );
            }
        }
        AdminCommand::DisableUser { email, .. } => {
            admin::set_active(&db, &clock, &email, false)
                .await
                .map_err(text)?;
            println!("{email} disabled");
        }
        AdminCommand::EnableUser { email, .. } => {
            admin::set_active(&db, &clock, &email, true)
                .await
                .map_err(text)?;
            println!("{email} enabled");
        }
        AdminCommand::RevokeKeys { email, .. } => {
            let n = admin::revoke_keys(&db, &clock, &email)
                .await
                .map_err(text)?;
            println!("{email}: {n} key(s) revoked");
        }
        AdminCommand::RotateSecret { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// `admin rotate-secret`: a new install secret, every stored secret re-sealed under it in one
/// transaction, then the new secret file replaces the old one. Needs the server stopped.
async fn rotate_secret(
    data: DataDirArg,
    secret_file: Option<std::path::PathBuf>,
) -> Result<(), String> {
    use sessionfs_server::secrets;
    let dir = data.data_dir.clone();
    let _lock = tokio::task::spawn_blocking(move || DataDirLock::acquire(&dir))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{e} (stop the server before rotating the secret)"))?;
    let db_path = data.data_dir.join("sessionfs.db");
    if !db_path.is_file() {
        return Err(format!(
            "no database at {} (is --data-dir right?)",
            db_path.display()
        ));
    }
    let path = secrets::secret_path(&data.data_dir, secret_file.as_deref());
    if !path.is_file() {
        return Err(format!(
            "no install secret at {}: nothing to rotate",
            path.display()
        ));
    }
    let old = secrets::load_or_create(&data.data_dir, secret_file.as_deref())?;
    let fresh = secrets::new_secret();
    let new = secrets::Sealer::from_secret(&fresh);
    let pending = path.with_extension("key.new");
    secrets::write_secret(&pending, &fresh)
        .map_err(|e| format!("cannot write {}: {e}", pending.display()))?;
    let db = Db::open(&db_path, 1)?;
    let (done, unreadable) = sessionfs_server::domain::settings::reseal_all(&db, old, new)
        .await
        .map_err(|e| {
            let _ = std::fs::remove_file(&pending);
            format!("re-encryption failed, nothing changed: {e}")
        })?;
    std::fs::rename(&pending, &path).map_err(|e| {
        format!(
            "cannot move {} to {}: {e}",
            pending.display(),
            path.display()
        )
    })?;
    println!(
        "install secret rotated: {done} stored secret(s) re-encrypted ({})",
        path.display()
    );
    if unreadable > 0 {
        println!(
            "  {unreadable} stored secret(s) could not be opened with the old secret either; \
             their owners must save them again"
        );
    }
    Ok(())
}

async fn reindex(data: DataDirArg) -> Result<(), String> {
    let dir = data.data_dir.clone();
    let _lock = tokio::task::spawn_blocking(move || DataDirLock::acquire(&dir))
        .await
        .map_err(|e| e.to_string())??;
    let path = data.data_dir.join("sessionfs.db");
    if !path.is_file() {
        return Err(format!(
            "no database at {}: nothing to index (is --data-dir right?)",
            path.display()
        ));
    }
    let db = Db::open(&path, 1)?;
    let blobs = sessionfs_server::archive::BlobStore::open(&data.data_dir.join("archives"))
        .map_err(|e| e.to_string())?;
    let (index, _) = sessionfs_server::search::SearchIndex::open(&data.data_dir.join("index"))
        .map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let n = tokio::task::spawn_blocking(move || {
        db.read_blocking(|conn| {
            sessionfs_server::domain::search::rebuild(conn, &blobs, &index)
                .map_err(sessionfs_server::domain::DomainError::Fault)
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    println!(
        "indexed {n} sessions in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    let started = std::time::Instant::now();
    let (knowledge, _) = sessionfs_server::search::knowledge::KnowledgeIndex::open(
        &data.data_dir.join("index").join("knowledge"),
    )?;
    let db = Db::open(&path, 1)?;
    let n = tokio::task::spawn_blocking(move || {
        db.read_blocking(|conn| {
            sessionfs_server::domain::knowledge_index::rebuild(conn, &knowledge)
                .map_err(sessionfs_server::domain::DomainError::Fault)
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    println!(
        "indexed {n} knowledge entries and wiki pages in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn backup(data: DataDirArg, out: std::path::PathBuf, force: bool) -> Result<(), String> {
    let started = std::time::Instant::now();
    let summary = tokio::task::spawn_blocking(move || ops::backup(&data.data_dir, &out, force))
        .await
        .map_err(|e| e.to_string())??;
    let m = &summary.manifest;
    println!(
        "backup written to {} ({}) in {:.2}s",
        summary.out.display(),
        ops::human_bytes(summary.bytes),
        started.elapsed().as_secs_f64()
    );
    println!(
        "  database snapshot of {}: schema version {}, {} users, {} sessions ({})",
        m.created_at,
        m.schema_version,
        m.counts.users,
        m.counts.sessions,
        ops::human_bytes(m.counts.database_bytes)
    );
    println!(
        "  {} archives ({}); every file's sha256 is in MANIFEST.json",
        m.counts.archives,
        ops::human_bytes(m.counts.archive_bytes)
    );
    println!("  the search index is not included: it is rebuilt when a restored server starts");
    if m.files
        .iter()
        .any(|f| f.path == sessionfs_server::secrets::SECRET_FILE)
    {
        println!("  secret.key (the install secret that opens stored judge keys) is included: keep the backup private");
    } else {
        println!(
            "  no secret.key in the data dir (is --secret-file in use?): back that file up \
             yourself, or stored judge keys and GitLab tokens cannot be opened after a restore"
        );
    }
    Ok(())
}

async fn restore(data: DataDirArg, from: std::path::PathBuf) -> Result<(), String> {
    let dir = data.data_dir.clone();
    let summary = tokio::task::spawn_blocking(move || ops::restore(&from, &dir))
        .await
        .map_err(|e| e.to_string())??;
    let m = &summary.manifest;
    println!(
        "restored {} users, {} sessions and {} archives ({}) into {}",
        m.counts.users,
        m.counts.sessions,
        m.counts.archives,
        ops::human_bytes(m.counts.archive_bytes),
        summary.data_dir.display()
    );
    println!(
        "  backup of {} by sessionfs-server {}; every checksum verified, database passes \
         integrity_check",
        m.created_at, m.server_version
    );
    if !m
        .files
        .iter()
        .any(|f| f.path == sessionfs_server::secrets::SECRET_FILE)
    {
        println!(
            "  this backup holds no secret.key: stored judge API keys and GitLab tokens cannot \
             be opened unless you copy the original install secret to {}/secret.key (or pass \
             --secret-file); otherwise users must save them again",
            summary.data_dir.display()
        );
    }
    println!(
        "  the search index is rebuilt when the server next starts: sessionfs-server serve \
         --data-dir {}",
        summary.data_dir.display()
    );
    Ok(())
}

async fn demo(data: DataDirArg) -> Result<(), String> {
    init_logging(LogFormat::Text, "warn");
    let summary = ops::demo::demo(&data.data_dir).await?;
    let dir = std::fs::canonicalize(&data.data_dir).unwrap_or(data.data_dir);
    println!(
        "demo data dir ready: {} ({} sessions)",
        dir.display(),
        summary.sessions.len()
    );
    for (id, title) in &summary.sessions {
        println!("  {id}  {title}");
    }
    println!("account {}", summary.email);
    println!("API key (shown once): {}", summary.api_key);
    println!();
    println!("next:");
    println!("  sessionfs-server serve --data-dir {}", dir.display());
    println!(
        "  curl -H 'Authorization: Bearer {}' 'http://127.0.0.1:8000/api/v1/sessions/search?q=pagination'",
        summary.api_key
    );
    println!("  API docs: http://127.0.0.1:8000/api/docs");
    Ok(())
}

async fn doctor(data: DataDirArg, fix: bool, gc_grace_seconds: u64) -> Result<(), String> {
    if fix {
        let dir = data.data_dir.clone();
        let grace = std::time::Duration::from_secs(gc_grace_seconds);
        let done = tokio::task::spawn_blocking(move || ops::doctor::fix(&dir, grace))
            .await
            .map_err(|e| e.to_string())??;
        println!(
            "fix: removed {} archive(s) no session names ({} bytes, older than {gc_grace_seconds} s)",
            done.removed, done.removed_bytes
        );
    }
    let report = tokio::task::spawn_blocking(move || ops::doctor(&data.data_dir))
        .await
        .map_err(|e| e.to_string())?;
    print!("{}", report.render());
    if report.healthy() {
        Ok(())
    } else {
        Err(format!("{} check(s) failed", report.failures()))
    }
}

/// Caps glibc's malloc arenas at one per core (at least 2) unless the operator set
/// `MALLOC_ARENA_MAX`. glibc's default is 8 per core, and the blocking pool's many threads each
/// take one and keep what they freed: the server's resident memory after a run of large pushes
/// was 90-94 MB with the default and 66-73 MB with 2 arenas, at the same throughput (README,
/// Benchmarks). Called before any thread starts.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets a malloc tunable; no other thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

fn main() {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the async runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(*args).await,
            Command::Admin { command } => run_admin(command).await,
            Command::Reindex { data } => reindex(data).await,
            Command::Backup { data, out, force } => backup(data, out, force).await,
            Command::Demo { data } => demo(data).await,
            Command::Restore { data, from } => restore(data, from).await,
            Command::Doctor {
                data,
                fix,
                gc_grace_seconds,
            } => doctor(data, fix, gc_grace_seconds).await,
        }
    });
    if let Err(message) = result {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}
