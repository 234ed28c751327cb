//! StartLiveTail: an event stream (`application/vnd.amazon.eventstream`) that opens with
//! `sessionStart` and then sends `sessionUpdate`s with the events stored since, polled from
//! the log store every half second (at most 500 a message, as CloudWatch), until the caller
//! goes away or three hours pass.

use super::ops::groups;
use super::{LogsError, parse_time_ms, pattern};
use crate::eventstream::message;
use crate::response::ChannelBody;
use crate::state::AppState;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(500);
const SESSION: Duration = Duration::from_secs(3 * 3600);
const MAX_RESULTS: usize = 500;

/// Set when the server shuts down: every session ends at its next poll, so graceful shutdown
/// does not wait three hours for an open stream.
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ends every live tail session (the server is shutting down).
pub fn stop_live_tails() {
    STOPPING.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn event(kind: &str, payload: &Value) -> Bytes {
    message(
        &[
            (":message-type", "event"),
            (":event-type", kind),
            (":content-type", "application/json"),
        ],
        &serde_json::to_vec(payload).expect("json"),
    )
}

fn strings(input: &Value, key: &str) -> Vec<String> {
    input
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) async fn start(s: &AppState, input: Value) -> Result<Response, LogsError> {
    let invoker = s
        .host_invoker()
        .map_err(|_| LogsError::internal("flint keeps no function logs on this host"))?;
    let store = invoker.logs().clone();
    store.flush().await;
    let all = groups(s, &store).await?;
    let ids = strings(&input, "logGroupIdentifiers");
    if ids.is_empty() || ids.len() > 10 {
        return Err(LogsError::invalid(
            "logGroupIdentifiers must name between 1 and 10 log groups",
        ));
    }
    // (identifier as given, function) for every function of every group.
    let mut sources = Vec::new();
    for id in &ids {
        let name = match id.find(":log-group:") {
            Some(at) => id[at + 11..].trim_end_matches(":*"),
            None => id.as_str(),
        };
        for f in all.get(name).ok_or_else(LogsError::no_group)? {
            sources.push((id.clone(), f.clone(), store.end_offset(f).unwrap_or(0)));
        }
    }
    let names = strings(&input, "logStreamNames");
    let prefixes = strings(&input, "logStreamNamePrefixes");
    let filter = input
        .get("logEventFilterPattern")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let pattern = pattern::parse(&filter).map_err(|e| LogsError::invalid(e.to_string()))?;

    let mut start = json!({
        "requestId": uuid::Uuid::new_v4().to_string(),
        "sessionId": uuid::Uuid::new_v4().to_string(),
        "logGroupIdentifiers": ids,
    });
    if !names.is_empty() {
        start["logStreamNames"] = json!(names);
    }
    if !prefixes.is_empty() {
        start["logStreamNamePrefixes"] = json!(prefixes);
    }
    if !filter.is_empty() {
        start["logEventFilterPattern"] = json!(filter);
    }
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    // The JSON protocol's event streams open with an empty `initial-response`.
    let _ = tx.try_send(event("initial-response", &json!({})));
    let _ = tx.try_send(event("sessionStart", &start));
    tokio::spawn(async move {
        let began = Instant::now();
        while began.elapsed() < SESSION
            && !tx.is_closed()
            && !STOPPING.load(std::sync::atomic::Ordering::Relaxed)
        {
            tokio::time::sleep(POLL).await;
            store.flush().await;
            let st = store.clone();
            let mut polled = std::mem::take(&mut sources);
            let read = tokio::task::spawn_blocking(move || {
                let mut records = Vec::new();
                for (id, f, offset) in polled.iter_mut() {
                    while let Ok(page) = st.read(f, *offset, flint_invoke::PAGE_BYTES) {
                        let more = page.more && page.next_offset > *offset;
                        *offset = page.next_offset;
                        records.extend(page.records.into_iter().map(|r| (id.clone(), r)));
                        if !more {
                            break;
                        }
                    }
                }
                (polled, records)
            })
            .await;
            let Ok((back, records)) = read else { return };
            sources = back;
            let results: Vec<Value> = records
                .into_iter()
                .filter(|(_, r)| {
                    (names.is_empty() || names.contains(&r.stream))
                        && (prefixes.is_empty() || prefixes.iter().any(|p| r.stream.starts_with(p)))
                        && pattern.matches(&r.message)
                })
                .map(|(id, r)| {
                    let t = parse_time_ms(&r.time).unwrap_or(0);
                    json!({"logStreamName": r.stream, "logGroupIdentifier": id,
                           "message": super::ops::shown(&r.message), "timestamp": t, "ingestionTime": t})
                })
                .collect();
            for chunk in results.chunks(MAX_RESULTS) {
                let update =
                    json!({"sessionMetadata": {"sampled": false}, "sessionResults": chunk});
                if tx.send(event("sessionUpdate", &update)).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(ChannelBody(rx)));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    Ok(resp)
}
