//! Asynchronous-invocation settings per function, version or alias
//! (Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s)), and what the
//! event queue needs to know to run one event.

use crate::records::{self, event_config_ns, load, save};
use crate::{ControlPlane, Result};
use flint_types::event_config as rules;
use flint_types::model::{
    DestinationConfig, EventDestination, EventInvokeConfigRequest, FunctionEventInvokeConfig,
};
use flint_types::{ApiError, FunctionRef, Qualifier};
use serde::{Deserialize, Serialize};

/// Lambda's defaults when nothing is configured.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
pub const DEFAULT_MAX_EVENT_AGE_SECS: u64 = 21_600;

/// What is stored for one qualifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventInvokeRecord {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_in_seconds: Option<i64>,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    /// Epoch seconds (with milliseconds).
    pub last_modified: f64,
}

/// One page of ListFunctionEventInvokeConfigs.
#[derive(Debug, Clone)]
pub struct EventInvokeConfigList {
    pub configs: Vec<FunctionEventInvokeConfig>,
    pub next_marker: Option<String>,
}

/// Everything the event queue needs to run and finish one event.
#[derive(Debug, Clone, PartialEq)]
pub struct AsyncSettings {
    pub max_retries: u32,
    pub max_event_age_secs: u64,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    /// `DeadLetterConfig.TargetArn` of the version that runs.
    pub dead_letter: Option<String>,
    /// Reserved concurrency of the function, if any (0 = every event throttled).
    pub reserved_concurrency: Option<i64>,
}

fn now_secs() -> f64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_millis() as f64) / 1000.0
}

/// The key a reference's config is stored under: the qualifier as named
/// (`$LATEST` when unqualified).
fn qualifier_key(fref: &FunctionRef) -> String {
    fref.qualifier
        .as_ref()
        .map(Qualifier::to_string)
        .unwrap_or_else(|| "$LATEST".into())
}

fn non_empty(d: Option<&EventDestination>) -> Option<String> {
    d.and_then(|d| d.destination.clone())
        .filter(|d| !d.is_empty())
}

/// Put, Update and List name a missing function (or version/alias) as AWS
/// does for these operations: without the ARN.
fn function_doesnt_exist(e: crate::ControlError) -> crate::ControlError {
    match e {
        crate::ControlError::Api(ApiError::ResourceNotFound(_)) => {
            ApiError::ResourceNotFound("The function doesn't exist.".into()).into()
        }
        other => other,
    }
}

impl ControlPlane {
    fn no_event_config(&self, fref: &FunctionRef) -> ApiError {
        ApiError::ResourceNotFound(format!(
            "The function {} doesn't have an EventInvokeConfig",
            self.resources()
                .qualified_arn(&fref.name, &qualifier_key(fref))
        ))
    }

    fn render_event_config(
        &self,
        name: &str,
        key: &str,
        r: &EventInvokeRecord,
    ) -> FunctionEventInvokeConfig {
        FunctionEventInvokeConfig {
            last_modified: r.last_modified,
            function_arn: self.resources().qualified_arn(name, key),
            maximum_retry_attempts: r.maximum_retry_attempts,
            maximum_event_age_in_seconds: r.maximum_event_age_in_seconds,
            // AWS always shows both destinations, empty when unset.
            destination_config: DestinationConfig {
                on_success: Some(EventDestination {
                    destination: r.on_success.clone(),
                }),
                on_failure: Some(EventDestination {
                    destination: r.on_failure.clone(),
                }),
            },
        }
    }

    fn check_event_request(
        &self,
        fref: &FunctionRef,
        req: &EventInvokeConfigRequest,
    ) -> Result<()> {
        rules::request(req)?;
        if req.maximum_retry_attempts.is_none()
            && req.maximum_event_age_in_seconds.is_none()
            && req.destination_config.is_none()
        {
            return Err(ApiError::InvalidParameterValue(
                "You must specify at least one of error handling or destination setting.".into(),
            )
            .into());
        }
        if let Some(d) = &req.destination_config {
            let own = self.function_arn(&fref.name);
            for (kind, arn) in rules::destinations(d) {
                rules::destination_target(arn, kind, &own, d)?;
                self.check_function_destination(arn)?;
            }
        }
        Ok(())
    }

    /// A Lambda destination in this account and region must exist (AWS
    /// checks its own functions; other accounts' it cannot see).
    fn check_function_destination(&self, arn: &str) -> Result<()> {
        let Some(name) = rules::function_destination_name(arn) else {
            return Ok(());
        };
        if !arn.starts_with(&self.function_arn("")) {
            return Ok(());
        }
        let mut tx = self.meta.begin()?;
        let exists: Option<serde_json::Value> = load(&mut *tx, records::FUNCTIONS, name)?;
        match exists {
            Some(_) => Ok(()),
            None => Err(ApiError::InvalidParameterValue(format!(
                "The destination ARN {arn} is invalid."
            ))
            .into()),
        }
    }

    /// PutFunctionEventInvokeConfig (replace) and UpdateFunctionEventInvokeConfig (merge).
    pub fn write_event_invoke_config(
        &self,
        fref: &FunctionRef,
        req: EventInvokeConfigRequest,
        merge: bool,
    ) -> Result<FunctionEventInvokeConfig> {
        self.check_event_request(fref, &req)?;
        let mut tx = self.meta.begin()?;
        // The function, and the version or alias named, must exist.
        self.resolve_in(&mut *tx, fref)
            .map_err(function_doesnt_exist)?;
        let ns = event_config_ns(&fref.name);
        let key = qualifier_key(fref);
        let existing: Option<EventInvokeRecord> = load(&mut *tx, &ns, &key)?;
        let (success, failure) = match &req.destination_config {
            Some(d) => (
                Some(non_empty(d.on_success.as_ref())),
                Some(non_empty(d.on_failure.as_ref())),
            ),
            None => (None, None),
        };
        let record = match (merge, existing) {
            (true, None) => return Err(self.no_event_config(fref).into()),
            (true, Some(old)) => EventInvokeRecord {
                maximum_retry_attempts: req.maximum_retry_attempts.or(old.maximum_retry_attempts),
                maximum_event_age_in_seconds: req
                    .maximum_event_age_in_seconds
                    .or(old.maximum_event_age_in_seconds),
                // A DestinationConfig in an update replaces the destinations
                // it names; an absent one keeps them.
                on_success: match &req.destination_config {
                    Some(d) if d.on_success.is_some() => success.flatten(),
                    _ => old.on_success,
                },
                on_failure: match &req.destination_config {
                    Some(d) if d.on_failure.is_some() => failure.flatten(),
                    _ => old.on_failure,
                },
                last_modified: now_secs(),
            },
            (false, _) => EventInvokeRecord {
                maximum_retry_attempts: req.maximum_retry_attempts,
                maximum_event_age_in_seconds: req.maximum_event_age_in_seconds,
                on_success: success.flatten(),
                on_failure: failure.flatten(),
                last_modified: now_secs(),
            },
        };
        save(&mut *tx, &ns, &key, &record)?;
        self.commit(tx)?;
        Ok(self.render_event_config(&fref.name, &key, &record))
    }

    /// GetFunctionEventInvokeConfig.
    pub fn get_event_invoke_config(&self, fref: &FunctionRef) -> Result<FunctionEventInvokeConfig> {
        let mut tx = self.meta.begin()?;
        let key = qualifier_key(fref);
        let record: Option<EventInvokeRecord> = load(&mut *tx, &event_config_ns(&fref.name), &key)?;
        let record = record.ok_or_else(|| self.no_event_config(fref))?;
        Ok(self.render_event_config(&fref.name, &key, &record))
    }

    /// DeleteFunctionEventInvokeConfig.
    pub fn delete_event_invoke_config(&self, fref: &FunctionRef) -> Result<()> {
        let mut tx = self.meta.begin()?;
        if !tx.delete(&event_config_ns(&fref.name), &qualifier_key(fref))? {
            return Err(self.no_event_config(fref).into());
        }
        self.commit(tx)?;
        Ok(())
    }

    /// ListFunctionEventInvokeConfigs: every qualifier's config, 1–50 a page.
    pub fn list_event_invoke_configs(
        &self,
        fref: &FunctionRef,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<EventInvokeConfigList> {
        let limit = records::config_page_size(max_items)?;
        self.require_unqualified(fref)?;
        let mut tx = self.meta.begin()?;
        self.load_function(&mut *tx, fref)
            .map_err(function_doesnt_exist)?;
        let ns = event_config_ns(&fref.name);
        let page = tx.scan(&ns, marker, limit + 1)?;
        let mut configs = Vec::new();
        let mut next_marker = None;
        for (i, (k, bytes)) in page.iter().enumerate() {
            if i == limit {
                next_marker = configs.last().map(|_| page[i - 1].0.clone());
                break;
            }
            let r: EventInvokeRecord = records::decode(&ns, k, bytes)?;
            configs.push(self.render_event_config(&fref.name, k, &r));
        }
        Ok(EventInvokeConfigList {
            configs,
            next_marker,
        })
    }

    /// The settings one asynchronous event of `fref` runs under, as
    /// configured right now (a config changed while the event waits applies
    /// to its next attempt, as on Lambda).
    pub fn async_settings(&self, fref: &FunctionRef) -> Result<AsyncSettings> {
        let mut tx = self.meta.begin()?;
        let resolved = self.resolve_in(&mut *tx, fref)?;
        let record: Option<EventInvokeRecord> =
            load(&mut *tx, &event_config_ns(&fref.name), &qualifier_key(fref))?;
        let reserved: Option<i64> = load(&mut *tx, records::CONCURRENCY, &fref.name)?;
        let record = record.as_ref();
        Ok(AsyncSettings {
            max_retries: record
                .and_then(|r| r.maximum_retry_attempts)
                .map_or(DEFAULT_MAX_RETRIES, |n| n as u32),
            max_event_age_secs: record
                .and_then(|r| r.maximum_event_age_in_seconds)
                .map_or(DEFAULT_MAX_EVENT_AGE_SECS, |n| n as u64),
            on_success: record.and_then(|r| r.on_success.clone()),
            on_failure: record.and_then(|r| r.on_failure.clone()),
            dead_letter: resolved
                .config
                .dead_letter_config
                .and_then(|d| d.target_arn)
                .filter(|a| !a.is_empty()),
            reserved_concurrency: reserved,
        })
    }
}
