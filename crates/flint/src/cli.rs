//! `flint function ...`: a small client of the Lambda API for people who do
//! not use the AWS CLI. It speaks the same HTTP API as the SDKs.

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// The flint server
    #[arg(
        long,
        env = "FLINT_ENDPOINT",
        default_value = "http://127.0.0.1:9000",
        global = true
    )]
    endpoint: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Table,
    Json,
}

#[derive(clap::Subcommand, Debug)]
pub enum FunctionCommand {
    /// Create a function from a directory or a zip file.
    Create {
        name: String,
        /// Directory to package (zipped with file modes kept)
        #[arg(long, conflicts_with = "zip", required_unless_present = "zip")]
        dir: Option<PathBuf>,
        /// Zip file to upload as is
        #[arg(long)]
        zip: Option<PathBuf>,
        #[arg(long)]
        runtime: String,
        #[arg(long)]
        handler: String,
        /// Execution role ARN [default: a role in the server's account]
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        memory: Option<i64>,
        #[arg(long)]
        timeout: Option<i64>,
        #[arg(long)]
        description: Option<String>,
        /// Environment variable, KEY=VALUE (repeatable)
        #[arg(long = "env", value_parser = parse_env)]
        env: Vec<(String, String)>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List functions.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one function's configuration.
    Get {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a function with all its versions and aliases.
    Delete {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// The function
    name: String,
    /// Keep printing new lines as they arrive
    #[arg(long, short)]
    follow: bool,
    /// Prefix each line with its time and log stream
    #[arg(long)]
    with_stream: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// `flint logs <function> [--follow]`: every page of the function's log.
pub fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let c = Client::new(&args.client)?;
    let mut offset: u64 = 0;
    loop {
        let page = c.send(
            c.http
                .get(c.url(&format!("/_flint/logs/{}", args.name)))
                .query(&[("offset", offset)]),
        )?;
        let records = page["records"].as_array().cloned().unwrap_or_default();
        let mut out = std::io::stdout().lock();
        for r in &records {
            let message = r["message"].as_str().unwrap_or_default();
            if args.client.output == Output::Json {
                writeln!(out, "{r}")?;
            } else if args.with_stream {
                let time = r["time"].as_str().unwrap_or_default();
                let stream = r["stream"].as_str().unwrap_or_default();
                writeln!(out, "{time} {stream} {message}")?;
            } else {
                writeln!(out, "{message}")?;
            }
        }
        out.flush()?;
        offset = page["nextOffset"].as_u64().unwrap_or(offset);
        // The server answers a page at a time: follow them to the end, then stop (or, with
        // --follow, wait for more).
        if page["more"].as_bool().unwrap_or(false) {
            continue;
        }
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum EventsCommand {
    /// Queue depth and the age of the oldest event, per function.
    Stats {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Invocation records and dead letters whose destination is not a flint
    /// function (SQS, SNS, EventBridge, S3), kept here instead.
    Undelivered {
        /// At most this many records
        #[arg(long, default_value_t = 100)]
        max: usize,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `flint events stats|undelivered`.
pub fn events(cmd: EventsCommand) -> anyhow::Result<()> {
    match cmd {
        EventsCommand::Stats { client } => {
            let c = Client::new(&client)?;
            let stats = c.send(c.http.get(c.url("/_flint/events")))?;
            if client.output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
                return Ok(());
            }
            let age = stats["OldestEventAgeMs"]
                .as_u64()
                .map_or("-".to_string(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
            println!(
                "queued: {}  running: {}  oldest: {age}  undelivered: {}  finished: {}  discarded: {}",
                stats["Depth"],
                stats["Running"],
                stats["Undelivered"],
                stats["Finished"],
                stats["Discarded"]
            );
            if let Some(per) = stats["Functions"].as_object()
                && !per.is_empty()
            {
                let mut table = Table::new();
                table.load_preset(UTF8_FULL_CONDENSED);
                table.set_header(["function", "queued"]);
                for (name, n) in per {
                    table.add_row([name.clone(), n.to_string()]);
                }
                println!("{table}");
            }
            Ok(())
        }
        EventsCommand::Undelivered { max, client } => {
            let c = Client::new(&client)?;
            let page = c.send(
                c.http
                    .get(c.url("/_flint/events/undelivered"))
                    .query(&[("MaxItems", max)]),
            )?;
            let records = page["Records"].as_array().cloned().unwrap_or_default();
            if client.output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&records)?);
                return Ok(());
            }
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED);
            table.set_header(["request id", "function", "kind", "target", "payload"]);
            for r in &records {
                let payload = r["Payload"].to_string();
                let short: String = payload.chars().take(80).collect();
                table.add_row([
                    r["RequestId"].as_str().unwrap_or_default().to_string(),
                    r["Function"].as_str().unwrap_or_default().to_string(),
                    r["Kind"].as_str().unwrap_or_default().to_string(),
                    r["Target"].as_str().unwrap_or("-").to_string(),
                    short,
                ]);
            }
            println!("{table}");
            Ok(())
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ConcurrencyArgs {
    #[command(flatten)]
    client: ClientArgs,
}

/// `flint concurrency`: in-flight invocations, reservations, provisioned
/// environments and throttles per function, the account's totals, and the
/// execution environments by state.
pub fn concurrency(args: ConcurrencyArgs) -> anyhow::Result<()> {
    let c = Client::new(&args.client)?;
    let view = c.send(c.http.get(c.url("/_flint/concurrency")))?;
    if args.client.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    let num = |v: &Value| v.as_u64().map_or("-".to_string(), |n| n.to_string());
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "function",
        "in flight",
        "reserved",
        "provisioned ready/requested",
        "throttles",
    ]);
    for f in view["Functions"].as_array().cloned().unwrap_or_default() {
        table.add_row(vec![
            f["FunctionName"].as_str().unwrap_or_default().to_string(),
            num(&f["InFlight"]),
            num(&f["Reserved"]),
            format!("{}/{}", num(&f["ProvisionedReady"]), num(&f["Provisioned"])),
            num(&f["Throttles"]),
        ]);
    }
    println!("{table}");
    println!(
        "account: {} in flight of {} ({} of {} unreserved in use), {} throttles",
        num(&view["InFlight"]),
        num(&view["AccountLimit"]),
        num(&view["UnreservedInFlight"]),
        num(&view["UnreservedCapacity"]),
        num(&view["Throttles"]),
    );
    let envs = c.send(c.http.get(c.url("/_flint/environments")))?;
    println!(
        "environments: {} idle, {} pre-spawned and waiting for a cold start ({} being prepared)",
        num(&envs["Idle"]),
        num(&envs["Prespawned"]),
        num(&envs["Prespawning"]),
    );
    Ok(())
}

/// A `--env` value without `=`.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("expected KEY=VALUE, got {0:?}")]
struct NotAnAssignment(String);

/// `--env KEY=VALUE`: split at the first `=` (a value may contain more).
fn parse_env(s: &str) -> Result<(String, String), NotAnAssignment> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| NotAnAssignment(s.to_string()))
}

/// Zips a directory in memory, keeping unix modes (a `bootstrap` must stay
/// executable) and storing symlinks as links.
pub fn zip_directory(dir: &Path) -> anyhow::Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut entries: Vec<_> = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.retain(|e| e.depth() > 0);
    for entry in entries {
        let rel = entry
            .path()
            .strip_prefix(dir)
            .expect("walkdir yields paths under dir");
        let name = rel.to_string_lossy().replace('\\', "/");
        let meta = entry.path().symlink_metadata()?;
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        let options = SimpleFileOptions::default().unix_permissions(mode);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            writer.add_symlink(name, target.to_string_lossy(), options)?;
        } else if meta.is_dir() {
            writer.add_directory(format!("{name}/"), options)?;
        } else {
            writer.start_file(name, options)?;
            writer.write_all(&std::fs::read(entry.path())?)?;
        }
    }
    Ok(writer.finish()?.into_inner())
}

struct Client {
    http: reqwest::blocking::Client,
    endpoint: String,
}

impl Client {
    fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(300))
                .build()?,
            endpoint: args.endpoint.trim_end_matches('/').to_string(),
        })
    }

    fn send(&self, req: reqwest::blocking::RequestBuilder) -> anyhow::Result<Value> {
        let mut req = req.build()?;
        sign(&mut req)?;
        let resp = self
            .http
            .execute(req)
            .with_context(|| format!("cannot reach flint at {}", self.endpoint))?;
        let status = resp.status();
        let code = resp
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.text()?;
        let value: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body).unwrap_or(Value::String(body))
        };
        if !status.is_success() {
            let message = value
                .get("message")
                .or_else(|| value.get("Message"))
                .and_then(Value::as_str)
                .unwrap_or("");
            bail!(
                "{} ({status}): {message}",
                code.unwrap_or_else(|| "Error".into())
            );
        }
        Ok(value)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint)
    }
}

/// Signs a request with SigV4 when credentials are in the environment
/// (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, as for the AWS CLI), for
/// a server running with `--auth sigv4`. Without them the request goes
/// unsigned, which a server in open mode accepts.
fn sign(req: &mut reqwest::blocking::Request) -> anyhow::Result<()> {
    let (Ok(id), Ok(secret)) = (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) else {
        return Ok(());
    };
    let region = ["FLINT_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok())
        .unwrap_or_else(|| "us-east-1".into());
    let url = req.url().clone();
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => bail!("no host in {url}"),
    };
    let body: &[u8] = req.body().and_then(|b| b.as_bytes()).unwrap_or_default();
    let payload = flint_auth::sigv4::sha256_hex(body);
    let content_type = req
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.as_bytes().to_vec());
    let mut headers: Vec<(&str, &[u8])> = vec![("host", host.as_bytes())];
    if let Some(ct) = &content_type {
        headers.push(("content-type", ct));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let added = flint_auth::sigv4::sign(
        &flint_auth::sigv4::Request {
            method: req.method().as_str(),
            path: url.path(),
            query: url.query().unwrap_or(""),
            headers: &headers,
        },
        &payload,
        &flint_auth::sigv4::SigningParams {
            access_key_id: &id,
            secret: &secret,
            region: &region,
            service: "lambda",
            now_unix: now,
        },
    );
    for (k, v) in added {
        req.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes())?,
            reqwest::header::HeaderValue::from_str(&v)?,
        );
    }
    Ok(())
}

fn function_table(functions: &[Value]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "NAME",
        "RUNTIME",
        "HANDLER",
        "MEMORY",
        "TIMEOUT",
        "CODE SIZE",
        "LAST MODIFIED",
    ]);
    for f in functions {
        let s = |k: &str| {
            f.get(k)
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default()
        };
        table.add_row([
            s("FunctionName"),
            s("Runtime"),
            s("Handler"),
            format!("{} MB", s("MemorySize")),
            format!("{} s", s("Timeout")),
            s("CodeSize"),
            s("LastModified"),
        ]);
    }
    table
}

fn print(output: Output, value: &Value, table: impl FnOnce() -> String) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Output::Table => println!("{}", table()),
    }
    Ok(())
}

pub fn run(cmd: FunctionCommand) -> anyhow::Result<()> {
    match cmd {
        FunctionCommand::Create {
            name,
            dir,
            zip,
            runtime,
            handler,
            role,
            memory,
            timeout,
            description,
            env,
            client,
        } => {
            let bytes = match (dir, zip) {
                (Some(dir), _) => zip_directory(&dir)?,
                (None, Some(zip)) => {
                    std::fs::read(&zip).with_context(|| format!("reading {}", zip.display()))?
                }
                (None, None) => return Err(anyhow!("give --dir or --zip")),
            };
            let c = Client::new(&client)?;
            // flint accepts any well-formed role ARN; the default names one in
            // the account the server is configured with.
            let role = role.unwrap_or_else(|| {
                let account =
                    std::env::var("FLINT_ACCOUNT_ID").unwrap_or_else(|_| "000000000000".into());
                format!("arn:aws:iam::{account}:role/flint-function")
            });
            let mut body = json!({
                "FunctionName": name,
                "Runtime": runtime,
                "Handler": handler,
                "Role": role,
                "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(bytes)},
            });
            if let Some(m) = memory {
                body["MemorySize"] = json!(m);
            }
            if let Some(t) = timeout {
                body["Timeout"] = json!(t);
            }
            if let Some(d) = description {
                body["Description"] = json!(d);
            }
            if !env.is_empty() {
                body["Environment"] = json!({"Variables": env.into_iter().collect::<std::collections::BTreeMap<_, _>>()});
            }
            let created = c.send(c.http.post(c.url("/2015-03-31/functions")).json(&body))?;
            print(client.output, &created, || {
                function_table(std::slice::from_ref(&created)).to_string()
            })
        }
        FunctionCommand::List { client } => {
            let c = Client::new(&client)?;
            let mut all = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let mut req = c.http.get(c.url("/2015-03-31/functions"));
                if let Some(m) = &marker {
                    req = req.query(&[("Marker", m)]);
                }
                let page = c.send(req)?;
                all.extend(page["Functions"].as_array().cloned().unwrap_or_default());
                match page["NextMarker"].as_str() {
                    Some(m) => marker = Some(m.to_string()),
                    None => break,
                }
            }
            let value = json!({"Functions": all});
            print(client.output, &value, || function_table(&all).to_string())
        }
        FunctionCommand::Get { name, client } => {
            let c = Client::new(&client)?;
            let f = c.send(c.http.get(c.url(&format!("/2015-03-31/functions/{name}"))))?;
            print(client.output, &f, || {
                let config = &f["Configuration"];
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED);
                if let Some(obj) = config.as_object() {
                    for (k, v) in obj {
                        t.add_row([
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        ]);
                    }
                }
                t.to_string()
            })
        }
        FunctionCommand::Delete { name, client } => {
            let c = Client::new(&client)?;
            c.send(
                c.http
                    .delete(c.url(&format!("/2015-03-31/functions/{name}"))),
            )?;
            let value = json!({"Deleted": name});
            print(client.output, &value, || format!("deleted {name}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn zipped_directories_keep_modes_and_pass_intake() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bootstrap"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            dir.path().join("bootstrap"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/a.py"), "x = 1\n").unwrap();
        let bytes = zip_directory(dir.path()).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let boot = archive.by_name("bootstrap").unwrap();
        assert_eq!(boot.unix_mode().unwrap() & 0o777, 0o755);
    }

    #[test]
    fn env_assignments_split_at_the_first_equals_sign() {
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(parse_env("EMPTY="), Ok(("EMPTY".into(), String::new())));
        let err = parse_env("NOVALUE").unwrap_err();
        assert_eq!(err.to_string(), r#"expected KEY=VALUE, got "NOVALUE""#);
    }
}
