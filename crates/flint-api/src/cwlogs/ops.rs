//! The CloudWatch Logs operations, answered from the function log store on the blocking pool.

use super::pattern;
use super::token::{self, Direction};
use super::{LogsError, parse_time_ms};
use crate::state::AppState;
use flint_invoke::LogStore;
use flint_types::FunctionRef;
use flint_types::ident::ResourceContext;
use serde_json::{Map, Value, json};

/// The log group of a function's log.
const GROUP_PREFIX: &str = "/aws/lambda/";

/// The retention periods CloudWatch Logs accepts, in days.
const RETENTION_DAYS: [u64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The operations `run` answers.
pub(super) const OPERATIONS: [&str; 8] = [
    "DescribeLogGroups",
    "DescribeLogStreams",
    "GetLogEvents",
    "FilterLogEvents",
    "PutRetentionPolicy",
    "DeleteRetentionPolicy",
    "DeleteLogGroup",
    "DeleteLogStream",
];

pub(super) async fn run(s: &AppState, op: String, input: Value) -> Result<Value, LogsError> {
    let invoker = s
        .host_invoker()
        .map_err(|_| LogsError::internal("flint keeps no function logs on this host"))?;
    invoker.logs().flush().await;
    let store = invoker.logs().clone();
    let groups = groups(s, &store).await?;
    let ctx = Ctx {
        store,
        res: s.control.resources().clone(),
        groups,
        input,
    };
    tokio::task::spawn_blocking(move || ctx.run(&op))
        .await
        .map_err(LogsError::internal)?
}

/// The log groups of the functions that have a log: `/aws/lambda/<function>`, or the
/// function's `LoggingConfig.LogGroup` (which several functions may share).
pub(super) async fn groups(s: &AppState, store: &LogStore) -> Result<Groups, LogsError> {
    let st = store.clone();
    let functions = tokio::task::spawn_blocking(move || st.functions())
        .await
        .map_err(LogsError::internal)?
        .map_err(LogsError::internal)?;
    crate::state::blocking(s, move |c| {
        let mut groups = Groups::new();
        for f in functions {
            let default = format!("{GROUP_PREFIX}{f}");
            let group = FunctionRef::parse(&f, 140, c.resources())
                .ok()
                .and_then(|r| c.get_function_configuration(&r).ok())
                .and_then(|cfg| cfg.logging_config.log_group)
                .unwrap_or(default);
            groups.entry(group).or_default().push(f);
        }
        Ok(groups)
    })
    .await
    .map_err(|_| LogsError::internal("could not read the functions' logging configs"))
}

/// Log group name → the functions whose logs it holds.
pub(super) type Groups = std::collections::BTreeMap<String, Vec<String>>;

/// One stored line as a CloudWatch event.
struct Event {
    /// Its position in the group's events (the order they were stored in).
    pos: usize,
    stream: String,
    time: i64,
    message: String,
}

struct Ctx {
    store: LogStore,
    res: ResourceContext,
    groups: Groups,
    input: Value,
}

impl Ctx {
    fn run(&self, op: &str) -> Result<Value, LogsError> {
        match op {
            "DescribeLogGroups" => self.describe_groups(),
            "DescribeLogStreams" => self.describe_streams(),
            "GetLogEvents" => self.get_events(),
            "FilterLogEvents" => self.filter_events(),
            "PutRetentionPolicy" => self.put_retention(),
            "DeleteRetentionPolicy" => self.delete_retention(),
            "DeleteLogGroup" => self.delete_group(),
            "DeleteLogStream" => self.delete_stream(),
            _ => Err(LogsError::new(
                "UnknownOperationException",
                format!("flint does not implement the CloudWatch Logs operation {op}"),
            )),
        }
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.input.get(key).and_then(Value::as_str)
    }

    fn int(&self, key: &str) -> Result<Option<i64>, LogsError> {
        match self.input.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                LogsError::new("SerializationException", format!("{key} is not a number"))
            }),
        }
    }

    fn limit(&self, default: usize, max: usize) -> Result<usize, LogsError> {
        match self.int("limit")? {
            None => Ok(default),
            Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
            Some(n) => Err(LogsError::invalid(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value {}",
                if n < 1 {
                    "greater than or equal to 1".to_string()
                } else {
                    format!("less than or equal to {max}")
                }
            ))),
        }
    }

    fn group_arn(&self, group: &str) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{group}",
            self.res.region, self.res.account
        )
    }

    /// The log group named by the request's `logGroupName` (or `logGroupIdentifier`, a
    /// name or an ARN), which must exist, and the functions whose logs it holds.
    fn function(&self) -> Result<(String, Vec<String>), LogsError> {
        let raw = self
            .str("logGroupName")
            .or_else(|| self.str("logGroupIdentifier"))
            .ok_or_else(|| LogsError::invalid("logGroupName is required"))?;
        let group = match raw.find(":log-group:") {
            Some(at) => raw[at + 11..].trim_end_matches(":*"),
            None => raw,
        };
        let functions = self.groups.get(group).ok_or_else(LogsError::no_group)?;
        Ok((group.to_string(), functions.clone()))
    }

    /// The events of a function's log kept now: within its retention in days, without the
    /// streams DeleteLogStream removed.
    fn events(&self, functions: &[String]) -> Result<Vec<Event>, LogsError> {
        let mut all = Vec::new();
        for f in functions {
            all.extend(self.function_events(f, all.len())?);
        }
        if functions.len() > 1 {
            all.sort_by_key(|e| e.time);
        }
        Ok(all)
    }

    fn function_events(&self, function: &str, first: usize) -> Result<Vec<Event>, LogsError> {
        let records = self.store.read_all(function).map_err(LogsError::internal)?;
        let oldest = self
            .store
            .retention_days(function)
            .map(|d| now_ms() - i64::from(d) * 86_400_000);
        let hidden = self.store.deleted_streams(function);
        Ok(records
            .into_iter()
            .enumerate()
            .filter_map(|(pos, r)| {
                let time = parse_time_ms(&r.time).unwrap_or(0);
                if oldest.is_some_and(|o| time < o) || hidden.contains(&r.stream) {
                    return None;
                }
                Some(Event {
                    pos: first + pos,
                    stream: r.stream,
                    time,
                    message: r.message,
                })
            })
            .collect())
    }

    fn start_token(&self) -> Result<usize, LogsError> {
        match self.str("nextToken") {
            None => Ok(0),
            Some(t) => token::parse_next_token(t)
                .ok_or_else(|| LogsError::invalid("The specified nextToken is invalid.")),
        }
    }

    fn describe_groups(&self) -> Result<Value, LogsError> {
        let limit = self.limit(50, 50)?;
        let prefix = self.str("logGroupNamePrefix").unwrap_or("");
        let start = self.start_token()?;
        let groups: Vec<(&String, &Vec<String>)> = self
            .groups
            .iter()
            .filter(|(g, _)| g.starts_with(prefix))
            .collect();
        let mut out = Vec::new();
        for &(group, functions) in groups.iter().skip(start).take(limit) {
            let function = &functions[0];
            let first = functions
                .iter()
                .filter_map(|f| {
                    let page = self.store.read(f, 0, 1).ok()?;
                    parse_time_ms(&page.records.first()?.time)
                })
                .min()
                .unwrap_or_else(now_ms);
            let mut g = json!({
                "logGroupName": group,
                "creationTime": first,
                "metricFilterCount": 0,
                "arn": format!("{}:*", self.group_arn(group)),
                "storedBytes": functions
                    .iter()
                    .map(|f| self.store.disk_bytes(f).unwrap_or(0))
                    .sum::<u64>(),
                "logGroupClass": "STANDARD",
                "logGroupArn": self.group_arn(group),
            });
            if let Some(d) = self.store.retention_days(function) {
                g["retentionInDays"] = json!(d);
            }
            out.push(g);
        }
        let mut resp = json!({"logGroups": out});
        if start + limit < groups.len() {
            resp["nextToken"] = json!(token::next_token(start + limit));
        }
        Ok(resp)
    }

    fn describe_streams(&self) -> Result<Value, LogsError> {
        let limit = self.limit(50, 50)?;
        let (group, function) = self.function()?;
        let prefix = self.str("logStreamNamePrefix");
        let order = self.str("orderBy").unwrap_or("LogStreamName");
        if !matches!(order, "LogStreamName" | "LastEventTime") {
            return Err(LogsError::invalid(format!(
                "1 validation error detected: Value '{order}' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )));
        }
        if order == "LastEventTime" && prefix.is_some() {
            return Err(LogsError::invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
        let descending = self
            .input
            .get("descending")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let start = self.start_token()?;
        // (name, first, last) per stream.
        let mut streams: Vec<(String, i64, i64)> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for e in self.events(&function)? {
            if prefix.is_some_and(|p| !e.stream.starts_with(p)) {
                continue;
            }
            match index.get(&e.stream) {
                Some(&i) => {
                    let s: &mut (String, i64, i64) = &mut streams[i];
                    s.1 = s.1.min(e.time);
                    s.2 = s.2.max(e.time);
                }
                None => {
                    index.insert(e.stream.clone(), streams.len());
                    streams.push((e.stream, e.time, e.time));
                }
            }
        }
        if order == "LastEventTime" {
            streams.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(&b.0)));
        } else {
            streams.sort_by(|a, b| a.0.cmp(&b.0));
        }
        if descending {
            streams.reverse();
        }
        let page: Vec<Value> = streams
            .iter()
            .skip(start)
            .take(limit)
            .map(|(name, first, last)| {
                json!({
                    "logStreamName": name,
                    "creationTime": first,
                    "firstEventTimestamp": first,
                    "lastEventTimestamp": last,
                    "lastIngestionTime": last,
                    "arn": format!("{}:log-stream:{name}", self.group_arn(&group)),
                    "storedBytes": 0,
                })
            })
            .collect();
        let mut resp = json!({"logStreams": page});
        if start + limit < streams.len() {
            resp["nextToken"] = json!(token::next_token(start + limit));
        }
        Ok(resp)
    }

    /// Whether an event is within the request's `startTime` (inclusive) and `endTime`
    /// (exclusive).
    fn in_time(&self) -> Result<impl Fn(&Event) -> bool, LogsError> {
        let (from, to) = (self.int("startTime")?, self.int("endTime")?);
        Ok(move |e: &Event| from.is_none_or(|f| e.time >= f) && to.is_none_or(|t| e.time < t))
    }

    fn get_events(&self) -> Result<Value, LogsError> {
        let limit = self.limit(10_000, 10_000)?;
        let (_, function) = self.function()?;
        let stream = self
            .str("logStreamName")
            .ok_or_else(|| LogsError::invalid("logStreamName is required"))?;
        let tok = match self.str("nextToken") {
            None => None,
            Some(t) => Some(
                token::parse_events_token(t)
                    .ok_or_else(|| LogsError::invalid("The specified nextToken is invalid."))?,
            ),
        };
        let in_time = self.in_time()?;
        let all = self.events(&function)?;
        if !all.iter().any(|e| e.stream == stream) {
            return Err(LogsError::no_stream());
        }
        let events: Vec<Event> = all
            .into_iter()
            .filter(|e| e.stream == stream && in_time(e))
            .collect();
        let from_head = self
            .input
            .get("startFromHead")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (start, end) = token::window(events.len(), limit, tok, from_head);
        let out: Vec<Value> = events[start..end]
            .iter()
            .map(|e| json!({"timestamp": e.time, "message": shown(&e.message), "ingestionTime": e.time}))
            .collect();
        Ok(json!({
            "events": out,
            "nextForwardToken": token::events_token(Direction::Forward, end),
            "nextBackwardToken": token::events_token(Direction::Backward, start),
        }))
    }

    fn filter_events(&self) -> Result<Value, LogsError> {
        let limit = self.limit(10_000, 10_000)?;
        let (_, function) = self.function()?;
        let names: Option<Vec<String>> = match self.input.get("logStreamNames") {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|_| {
                LogsError::new(
                    "SerializationException",
                    "logStreamNames is not a list of strings",
                )
            })?),
        };
        let prefix = self.str("logStreamNamePrefix");
        if names.is_some() && prefix.is_some() {
            return Err(LogsError::invalid(
                "Cannot specify both logStreamNames and logStreamNamePrefix.",
            ));
        }
        let pattern = pattern::parse(self.str("filterPattern").unwrap_or(""))
            .map_err(|e| LogsError::invalid(e.to_string()))?;
        let start = self.start_token()?;
        let in_time = self.in_time()?;
        let events = self.events(&function)?;
        let wanted = |e: &Event| {
            names.as_ref().is_none_or(|n| n.contains(&e.stream))
                && prefix.is_none_or(|p| e.stream.starts_with(p))
        };
        let mut out = Vec::new();
        let mut searched = std::collections::BTreeSet::new();
        let mut next = None;
        for e in events.iter().filter(|e| e.pos >= start) {
            if !wanted(e) {
                continue;
            }
            if out.len() == limit {
                next = Some(e.pos);
                break;
            }
            searched.insert(e.stream.as_str());
            if in_time(e) && pattern.matches(&e.message) {
                out.push(json!({
                    "logStreamName": e.stream,
                    "timestamp": e.time,
                    "message": shown(&e.message),
                    "ingestionTime": e.time,
                    "eventId": format!("{:056}", e.pos),
                }));
            }
        }
        let searched: Vec<Value> = searched
            .into_iter()
            .map(|s| json!({"logStreamName": s, "searchedCompletely": next.is_none()}))
            .collect();
        let mut resp = Map::new();
        resp.insert("events".into(), Value::Array(out));
        resp.insert("searchedLogStreams".into(), Value::Array(searched));
        if let Some(n) = next {
            resp.insert("nextToken".into(), json!(token::next_token(n)));
        }
        Ok(Value::Object(resp))
    }

    fn put_retention(&self) -> Result<Value, LogsError> {
        let (_, function) = self.function()?;
        let days = self.int("retentionInDays")?.unwrap_or(0);
        if !RETENTION_DAYS.contains(&(days as u64)) || days < 0 {
            let allowed: Vec<String> = RETENTION_DAYS.iter().map(u64::to_string).collect();
            return Err(LogsError::invalid(format!(
                "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            )));
        }
        for f in &function {
            self.store
                .set_retention_days(f, Some(days as u32))
                .map_err(LogsError::internal)?;
        }
        Ok(json!({}))
    }

    fn delete_retention(&self) -> Result<Value, LogsError> {
        let (_, function) = self.function()?;
        for f in &function {
            self.store
                .set_retention_days(f, None)
                .map_err(LogsError::internal)?;
        }
        Ok(json!({}))
    }

    fn delete_group(&self) -> Result<Value, LogsError> {
        let (_, function) = self.function()?;
        // The next request's flush waits for the writer to have removed it.
        for f in &function {
            self.store.delete(f);
        }
        Ok(json!({}))
    }

    fn delete_stream(&self) -> Result<Value, LogsError> {
        let (_, function) = self.function()?;
        let stream = self
            .str("logStreamName")
            .ok_or_else(|| LogsError::invalid("logStreamName is required"))?;
        if !self.events(&function)?.iter().any(|e| e.stream == stream) {
            return Err(LogsError::no_stream());
        }
        for f in &function {
            self.store
                .delete_stream(f, stream)
                .map_err(LogsError::internal)?;
        }
        Ok(json!({}))
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A message as CloudWatch shows Lambda's: ending with the newline it was printed with
/// (added only to the events answered, not to every event read).
pub(super) fn shown(message: &str) -> String {
    if message.ends_with('\n') {
        message.to_string()
    } else {
        format!("{message}\n")
    }
}
