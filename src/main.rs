use clap::Parser;
use ragstack::cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A closed pipe (`ragstack status dev | head -1`) ends the process quietly, as it ends `cat`,
    // instead of making print! panic on EPIPE: restore SIGPIPE's default, which Rust ignores.
    #[cfg(unix)]
    // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let json = cli.global.json;
    let filter = match cli.global.verbose {
        0 => "warn",
        1 => "info,ragstack=debug",
        _ => "debug,ragstack=trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RAGSTACK_LOG").unwrap_or_else(|_| filter.into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime starts");
    match runtime.block_on(ragstack::cli::run(cli)) {
        Ok(status) => ExitCode::from(status.code()),
        Err(e) => {
            if json {
                println!("{}", e.to_json());
            }
            eprintln!("error: {e}");
            if let Some(help) = e.help() {
                eprintln!("help: {help}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
