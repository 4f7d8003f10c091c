//! `shoal admin`: the operator's client of a running server's admin API
//! (`shoal_http::route::ADMIN_PATH_PREFIX`), signed with the root credentials. `info`
//! and `config` print what the server answers; `trace` prints requests as they finish.
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
