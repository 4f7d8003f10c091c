//! `shoal admin`: the operator's client of a running server's admin API
//! (`shoal_http::route::ADMIN_PATH_PREFIX`), signed with the root credentials. `info`
//! and `config` print what the server answers; `trace` prints requests as they finish;
//! `heal` heals a bucket's objects and waits until it is done.
//!
//! Credentials: `--access-key`/`--secret-key`, else SHOAL_ROOT_USER/SHOAL_ROOT_PASSWORD,
//! else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. Endpoint: `--endpoint`, else
//! AWS_ENDPOINT_URL, else http://127.0.0.1:9000.

mod client;
mod show;
mod tls;

use client::{Target, request, s3_error};
use shoal_http::route::ADMIN_PATH_PREFIX;

/// Where `shoal admin` connects and as whom (flags of every admin command).
#[derive(clap::Args, Debug)]
pub struct Connection {
    /// The server, as http://HOST:PORT. Default: AWS_ENDPOINT_URL, else
    /// http://127.0.0.1:9000.
    #[arg(long)]
    endpoint: Option<String>,
    /// Root access key. Default: SHOAL_ROOT_USER, else AWS_ACCESS_KEY_ID.
    #[arg(long)]
    access_key: Option<String>,
    /// Root secret key. Default: SHOAL_ROOT_PASSWORD, else AWS_SECRET_ACCESS_KEY.
    #[arg(long)]
    secret_key: Option<String>,
    /// Region the server runs in (signed into each request). Default: AWS_REGION, else
    /// us-east-1.
    #[arg(long)]
    region: Option<String>,
    /// For an https:// endpoint: the PEM file of CA certificates to trust. Default:
    /// AWS_CA_BUNDLE, else SSL_CERT_FILE, else the system's bundle.
    #[arg(long, value_name = "FILE")]
    ca_bundle: Option<std::path::PathBuf>,
}

/// `trace`'s filters and output.
#[derive(clap::Args, Debug)]
pub struct TraceArgs {
    /// Only this API, as AWS spells it (GetObject, PutObject, ...).
    #[arg(long)]
    api: Option<String>,
    /// Only requests answered with at least this status (e.g. 400 for failures).
    #[arg(long)]
    status_min: Option<u16>,
    /// Only requests to this bucket.
    #[arg(long)]
    bucket: Option<String>,
    /// Print each request as a JSON object (the audit log's fields).
    #[arg(long)]
    json: bool,
    /// Stop after this many requests (0: until interrupted).
    #[arg(long, default_value_t = 0)]
    count: u64,
}

fn first_of(flag: Option<&String>, names: &[&str]) -> Option<String> {
    flag.cloned().or_else(|| {
        names
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    })
}

impl Connection {
    fn target(&self) -> Result<Target, String> {
        let endpoint = first_of(self.endpoint.as_ref(), &["AWS_ENDPOINT_URL"])
            .unwrap_or_else(|| "http://127.0.0.1:9000".to_owned());
        let access_key = first_of(
            self.access_key.as_ref(),
            &["SHOAL_ROOT_USER", "AWS_ACCESS_KEY_ID"],
        )
        .ok_or("no access key: give --access-key or set SHOAL_ROOT_USER")?;
        let secret_key = first_of(
            self.secret_key.as_ref(),
            &["SHOAL_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY"],
        )
        .ok_or("no secret key: give --secret-key or set SHOAL_ROOT_PASSWORD")?;
        let region = first_of(self.region.as_ref(), &["AWS_REGION", "AWS_DEFAULT_REGION"])
            .unwrap_or_else(|| "us-east-1".to_owned());
        let (authority, https) = Target::authority_of(&endpoint)?;
        let tls_bundle = if https {
            Some(tls::bundle_path(self.ca_bundle.as_deref())?)
        } else {
            None
        };
        Ok(Target {
            authority,
            tls_bundle,
            access_key,
            secret_key,
            region,
        })
    }
}

/// `shoal admin info [--json]`.
pub fn info(connection: &Connection, json: bool) -> Result<(), String> {
    let target = connection.target()?;
    let document = call(&target, "GET", "info", &[])?;
    if json {
        println!("{}", document.trim_end());
        return Ok(());
    }
    let value: serde_json::Value = serde_json::from_str(&document)
        .map_err(|e| format!("the server's answer is not JSON: {e}"))?;
    print!("{}", show::info(&value, &target.authority));
    Ok(())
}

/// `shoal admin config get [KEY]`.
pub fn config_get(connection: &Connection, key: Option<&str>) -> Result<(), String> {
    let target = connection.target()?;
    let query: Vec<(&str, &str)> = key.map(|k| ("key", k)).into_iter().collect();
    print_settings(&call(&target, "GET", "config", &query)?)
}

/// `shoal admin config set KEY VALUE`.
pub fn config_set(connection: &Connection, key: &str, value: &str) -> Result<(), String> {
    let target = connection.target()?;
    let query = [("key", key), ("value", value)];
    print_settings(&call(&target, "PUT", "config", &query)?)
}

fn print_settings(document: &str) -> Result<(), String> {
    let value: serde_json::Value = serde_json::from_str(document)
        .map_err(|e| format!("the server's answer is not JSON: {e}"))?;
    for (key, value) in value.as_object().into_iter().flatten() {
        println!("{key} = {}", value.as_str().unwrap_or_default());
    }
    Ok(())
}

/// `shoal admin trace`: prints requests as the server finishes them.
pub fn trace(connection: &Connection, args: &TraceArgs) -> Result<(), String> {
    let target = connection.target()?;
    let status_min = args.status_min.map(|s| s.to_string());
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(api) = &args.api {
        query.push(("api", api));
    }
    if let Some(status) = &status_min {
        query.push(("status-min", status));
    }
    if let Some(bucket) = &args.bucket {
        query.push(("bucket", bucket));
    }
    query.push(("format", if args.json { "json" } else { "text" }));
    let answer = request(&target, "GET", &format!("{ADMIN_PATH_PREFIX}trace"), &query)?;
    if answer.status != 200 {
        return Err(refusal(&target, answer.status, &answer.body()?));
    }
    let mut printed = 0;
    answer.lines(|line| {
        if line.is_empty() {
            return true; // the server's keep-alive
        }
        println!("{line}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let is_record = !line.starts_with('#') && !line.starts_with("{\"dropped\"");
        printed += u64::from(is_record);
        args.count == 0 || printed < args.count
    })
}

/// `heal`'s target and output.
#[derive(clap::Args, Debug)]
pub struct HealArgs {
    /// BUCKET or BUCKET/PREFIX to heal; every bucket when left out.
    target: Option<String>,
    /// Read and verify every chunk of every drive, even where the metadata agrees.
    #[arg(long)]
    deep: bool,
    /// Report what is damaged, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the server's JSON lines as they come (objects not found whole, progress
    /// every half second, then the totals with "done": true).
    #[arg(long)]
    json: bool,
}

/// Heals the objects of a bucket (under a prefix) or of every bucket on the server,
/// waiting until it is done: objects that were not whole are printed as they are met,
/// progress on stderr (when it is a terminal), the totals at the end. An error when
/// anything is left damaged (unreadable, partly healed, failed; or, with --dry-run,
/// found damaged), so the exit status says whether the data is whole.
pub fn heal(connection: &Connection, args: &HealArgs) -> Result<(), String> {
    let target = connection.target()?;
    let (bucket, prefix) = match args.target.as_deref() {
        None | Some("") => (None, None),
        Some(path) => match path.split_once('/') {
            Some((bucket, prefix)) => (Some(bucket), Some(prefix)),
            None => (Some(path), None),
        },
    };
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(bucket) = bucket {
        query.push(("bucket", bucket));
    }
    if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
        query.push(("prefix", prefix));
    }
    if args.deep {
        query.push(("deep", "true"));
    }
    if args.dry_run {
        query.push(("dry-run", "true"));
    }
    let answer = request(&target, "POST", &format!("{ADMIN_PATH_PREFIX}heal"), &query)?;
    if answer.status != 200 {
        return Err(refusal(&target, answer.status, &answer.body()?));
    }
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !args.json;
    let mut totals = None;
    answer.lines(|line| {
        if line.is_empty() {
            return true; // the server's keep-alive while one object heals
        }
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            println!("{line}");
            return true;
        };
        if args.json {
            println!("{line}");
        } else if let Some(outcome) = value["outcome"].as_str() {
            let error = value["error"].as_str().map(|e| format!(" ({e})"));
            println!(
                "{outcome:<10} {}/{}{}",
                value["bucket"].as_str().unwrap_or("?"),
                value["object"].as_str().unwrap_or("?"),
                error.unwrap_or_default()
            );
        } else if let Some(error) = value["error"].as_str() {
            println!(
                "error      {}: {error}",
                value["bucket"].as_str().unwrap_or("?")
            );
        } else if progress && value["progress"].is_object() {
            eprint!("\r{}", show::heal_counts(&value["progress"]));
        }
        let _ = std::io::Write::flush(&mut std::io::stdout());
        if value["done"].as_bool() == Some(true) {
            totals = Some(value);
        }
        true
    })?;
    if progress {
        eprintln!();
    }
    let totals = totals.ok_or_else(|| {
        format!(
            "{}: the heal ended before it said it was done",
            target.authority
        )
    })?;
    if !args.json {
        println!("{}", show::heal_counts(&totals));
    }
    show::heal_verdict(&totals)
}

/// One admin request whose answer is a JSON document.
fn call(
    target: &Target,
    method: &str,
    name: &str,
    query: &[(&str, &str)],
) -> Result<String, String> {
    let answer = request(target, method, &format!("{ADMIN_PATH_PREFIX}{name}"), query)?;
    let status = answer.status;
    let body = answer.body()?;
    if status != 200 {
        return Err(refusal(target, status, &body));
    }
    Ok(body)
}

fn refusal(target: &Target, status: u16, body: &str) -> String {
    let error = s3_error(body);
    let hint = if status == 403 {
        " (the admin API takes the root credentials: check --access-key/--secret-key or \
         SHOAL_ROOT_USER/SHOAL_ROOT_PASSWORD)"
    } else {
        ""
    };
    format!("{}: {status} {error}{hint}", target.authority)
}
