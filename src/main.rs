//! The `sessionfs-server` binary: parse the command line, run the chosen command.

use clap::Parser;
use sessionfs_server::cli::{Cli, Command, LogFormat, ServeArgs};
use sessionfs_server::config::Config;
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
    let (state, listener) = server::start(config).await?;
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
    println!("data directory: {}", data_dir.display());
    server::serve(state, listener, server::shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the async runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
        }
    });
    if let Err(message) = result {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}
