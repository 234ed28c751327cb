//! The routes of the Lambda control-plane API, with their dated paths.

use crate::body::{MAX_CODE_REQUEST, MAX_CONTROL_REQUEST, parse_json, read_limited};
use crate::dispatch::{DispatchError, Dispatcher, host_invoker};
use crate::error::ApiResponseError;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use flint_control::ControlPlane;
use flint_types::model::{
    CreateAliasRequest, CreateFunctionRequest, PublishVersionRequest,
    PutFunctionConcurrencyRequest, TagResourceRequest, UpdateAliasRequest,
    UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest,
};
use flint_types::{ApiError, FunctionRef};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct AppState {
    pub control: Arc<ControlPlane>,
    /// `Err` says why functions cannot run on this host (flint still serves
    /// the control plane, and every invoke gets that reason).
    pub invoker: Result<Arc<flint_invoke::Invoker>, String>,
    /// The asynchronous-invocation queue (`None`: Event invocations are refused).
    pub events: Option<Arc<flint_events::EventQueue>>,
    /// Set when the server runs on a manual clock that `/_flint/clock` moves.
    pub test_clock: Option<Arc<flint_events::ManualClock>>,
}

impl AppState {
    /// The invocation dispatch over this server's control plane and invoker.
    pub(crate) fn dispatcher(&self) -> Dispatcher {
        Dispatcher::new(self.control.clone(), self.invoker.clone())
    }

    /// The invoker, or the refusal on a host that cannot run functions.
    pub(crate) fn host_invoker(&self) -> Result<&Arc<flint_invoke::Invoker>, DispatchError> {
        host_invoker(&self.invoker)
    }
}

pub(crate) type ApiResult = Result<Response, ApiResponseError>;

/// The Lambda API router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/2015-03-31/functions",
            post(create_function).get(list_functions),
        )
        .route(
            "/2015-03-31/functions/",
            post(create_function).get(list_functions),
        )
        .route(
            "/2015-03-31/functions/{function}",
            get(get_function).delete(delete_function),
        )
        .route(
            "/2015-03-31/functions/{function}/configuration",
            get(get_function_configuration).put(update_function_configuration),
        )
        .route(
            "/2015-03-31/functions/{function}/code",
            put(update_function_code),
        )
        .route(
            "/2015-03-31/functions/{function}/versions",
            post(publish_version).get(list_versions),
        )
        .route(
            "/2015-03-31/functions/{function}/aliases",
            post(create_alias).get(list_aliases),
        )
        .route(
            "/2015-03-31/functions/{function}/aliases/{alias}",
            get(get_alias).put(update_alias).delete(delete_alias),
        )
        .route(
            "/2017-03-31/tags/{resource}",
            get(list_tags).post(tag_resource).delete(untag_resource),
        )
        .route("/2016-08-19/account-settings", get(account_settings))
        .route("/2016-08-19/account-settings/", get(account_settings))
        .route(
            "/2017-10-31/functions/{function}/concurrency",
            put(put_concurrency).delete(delete_concurrency),
        )
        .route(
            "/2019-09-30/functions/{function}/concurrency",
            get(get_concurrency),
        )
        .route(
            "/2019-09-30/functions/{function}/provisioned-concurrency",
            get(crate::concurrency::get_provisioned)
                .put(crate::concurrency::put_provisioned)
                .delete(crate::concurrency::delete_provisioned),
        )
        .route(
            "/2015-03-31/functions/{function}/invocations",
            post(crate::invoke::invoke),
        )
        .route(
            "/2021-10-31/functions/{function}/url",
            post(crate::function_url::create)
                .get(crate::function_url::get)
                .put(crate::function_url::update)
                .delete(crate::function_url::delete),
        )
        .route(
            "/2021-10-31/functions/{function}/urls",
            get(crate::function_url::list),
        )
        .route(
            "/2015-03-31/functions/{function}/policy",
            post(crate::policy::add_permission).get(crate::policy::get_policy),
        )
        .route(
            "/2015-03-31/functions/{function}/policy/{statement}",
            delete(crate::policy::remove_permission),
        )
        .route(
            "/2021-11-15/functions/{function}/response-streaming-invocations",
            post(crate::invoke::invoke_with_response_stream),
        )
        .route(
            "/2014-11-13/functions/{function}/invoke-async/",
            post(crate::invoke::invoke_async),
        )
        .route(
            "/2014-11-13/functions/{function}/invoke-async",
            post(crate::invoke::invoke_async),
        )
        .route(
            "/2019-09-25/functions/{function}/event-invoke-config",
            put(crate::events::put_config)
                .post(crate::events::update_config)
                .get(crate::events::get_config)
                .delete(crate::events::delete_config),
        )
        .route(
            "/2019-09-25/functions/{function}/event-invoke-config/list",
            get(crate::events::list_configs),
        )
        .route("/_flint/events", get(crate::events::stats))
        .route(
            "/_flint/events/undelivered",
            get(crate::events::undelivered),
        )
        .route("/_flint/clock", post(crate::events::advance_clock))
        .route("/_flint/code/{blob}", get(download_code))
        .route("/_flint/logs/{function}", get(crate::invoke::read_logs))
        .route(
            "/_flint/concurrency",
            get(crate::concurrency::concurrency_view),
        )
        .route(
            "/_flint/environments",
            get(crate::concurrency::environments_view),
        )
        .fallback(unknown_operation)
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Every response carries a request id, as Lambda's do.
async fn request_id(req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let mut resp = next.run(req).await;
    // A handler that minted its own id (an accepted Event invocation: the
    // id the function and the destinations see) keeps it.
    if !resp.headers().contains_key("x-amzn-RequestId")
        && let Ok(v) = HeaderValue::from_str(&id)
    {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

async fn unknown_operation(req: Request) -> ApiResponseError {
    ApiError::UnknownOperation(format!(
        "No Lambda operation matches {} {}",
        req.method(),
        req.uri().path()
    ))
    .into()
}

/// Runs a control-plane operation on the blocking pool: it does SQLite and
/// file I/O and must not stall the async workers.
pub(crate) async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, ApiResponseError>
where
    T: Send + 'static,
    F: FnOnce(&ControlPlane) -> flint_control::Result<T> + Send + 'static,
{
    let control = state.control.clone();
    tokio::task::spawn_blocking(move || f(&control))
        .await
        .map_err(|e| ApiResponseError(ApiError::Service(format!("operation failed: {e}"))))?
        .map_err(ApiResponseError::from)
}

pub(crate) fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let body = serde_json::to_vec(value).expect("responses serialize");
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Query parameters in order; repeated keys (`tagKeys`) appear repeatedly.
pub(crate) struct Query(pub(crate) Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: Option<String>) -> Result<Self, ApiResponseError> {
        let raw = raw.unwrap_or_default();
        serde_urlencoded::from_str::<Vec<(String, String)>>(&raw)
            .map(Query)
            .map_err(|e| ApiError::Validation(format!("Malformed query string: {e}")).into())
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn max_items(&self) -> Result<Option<i64>, ApiResponseError> {
        match self.get("MaxItems") {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::constraint(v, "maxItems", "Member must be a number").into()),
        }
    }
}

pub(crate) fn function_ref(
    state: &AppState,
    raw: &str,
    max_len: usize,
    query: &Query,
) -> Result<FunctionRef, ApiResponseError> {
    let fref = FunctionRef::parse(raw, max_len, state.control.resources())?;
    Ok(fref.with_query_qualifier(query.get("Qualifier"))?)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn create_function(State(s): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult {
    let bytes = read_limited(&headers, body, MAX_CODE_REQUEST, "CreateFunction").await?;
    let req: CreateFunctionRequest = parse_json(&bytes)?;
    let config = blocking(&s, move |c| c.create_function(req)).await?;
    Ok(json_response(StatusCode::CREATED, &config))
}

async fn list_functions(State(s): State<AppState>, RawQuery(q): RawQuery) -> ApiResult {
    let q = Query::parse(q)?;
    let all = match q.get("FunctionVersion") {
        None => false,
        Some("ALL") => true,
        Some(other) => {
            return Err(ApiError::enum_value(other, "functionVersion", &["ALL"]).into());
        }
    };
    if let Some(region) = q.get("MasterRegion") {
        // ALL|[a-z]{2}(-gov)?-[a-z]+-\d{1}
        let parts: Vec<&str> = region.split('-').collect();
        let lower = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
        let well_formed = region == "ALL"
            || match parts.as_slice() {
                [a, b, n] => {
                    a.len() == 2
                        && lower(a)
                        && lower(b)
                        && n.len() == 1
                        && n.bytes().all(|c| c.is_ascii_digit())
                }
                [a, "gov", b, n] => {
                    a.len() == 2
                        && lower(a)
                        && lower(b)
                        && n.len() == 1
                        && n.bytes().all(|c| c.is_ascii_digit())
                }
                _ => false,
            };
        if !well_formed {
            return Err(ApiError::pattern(
                region,
                "masterRegion",
                "ALL|[a-z]{2}(-gov)?-[a-z]+-\\d{1}",
            )
            .into());
        }
    }
    let marker = q.get("Marker").map(str::to_string);
    let max = q.max_items()?;
    let page = blocking(&s, move |c| c.list_functions(marker.as_deref(), max, all)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"Functions": page.functions, "NextMarker": page.next_marker}),
    ))
}

async fn get_function(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let fref = function_ref(&s, &function, 256, &Query::parse(q)?)?;
    let resp = blocking(&s, move |c| c.get_function(&fref, now_unix())).await?;
    Ok(json_response(StatusCode::OK, &resp))
}

async fn get_function_configuration(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let fref = function_ref(&s, &function, 256, &Query::parse(q)?)?;
    let config = blocking(&s, move |c| c.get_function_configuration(&fref)).await?;
    Ok(json_response(StatusCode::OK, &config))
}

async fn delete_function(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let fref = function_ref(&s, &function, 256, &Query::parse(q)?)?;
    let whole_function = fref.qualifier.is_none().then(|| fref.name.clone());
    let version = match &fref.qualifier {
        Some(q @ flint_types::Qualifier::Version(_)) => Some((fref.name.clone(), q.to_string())),
        _ => None,
    };
    blocking(&s, move |c| c.delete_function(&fref)).await?;
    if let Some((name, v)) = version {
        crate::concurrency::unprovisioned(&s, &name, &v).await;
    }
    if let (Some(name), Ok(invoker)) = (whole_function, &s.invoker) {
        // Nothing of a deleted function keeps running.
        invoker.drop_function(&name).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn update_function_configuration(
    State(s): State<AppState>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
    let bytes = read_limited(
        &headers,
        body,
        MAX_CONTROL_REQUEST,
        "UpdateFunctionConfiguration",
    )
    .await?;
    let req: UpdateFunctionConfigurationRequest = parse_json(&bytes)?;
    let config = blocking(&s, move |c| c.update_function_configuration(&fref, req)).await?;
    retire_latest(&s, &config.function_name).await;
    Ok(json_response(StatusCode::OK, &config))
}

async fn update_function_code(
    State(s): State<AppState>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
    let bytes = read_limited(&headers, body, MAX_CODE_REQUEST, "UpdateFunctionCode").await?;
    let req: UpdateFunctionCodeRequest = parse_json(&bytes)?;
    let dry_run = req.dry_run;
    let config = blocking(&s, move |c| c.update_function_code(&fref, req)).await?;
    if !dry_run {
        retire_latest(&s, &config.function_name).await;
    }
    Ok(json_response(StatusCode::OK, &config))
}

/// `$LATEST` changed: its warm environments must not serve the new code.
async fn retire_latest(s: &AppState, function: &str) {
    if let Ok(invoker) = &s.invoker {
        invoker.retire(function, "$LATEST").await;
    }
}

async fn publish_version(
    State(s): State<AppState>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
    let bytes = read_limited(&headers, body, MAX_CONTROL_REQUEST, "PublishVersion").await?;
    let req: PublishVersionRequest = parse_json(&bytes)?;
    let config = blocking(&s, move |c| c.publish_version(&fref, req)).await?;
    Ok(json_response(StatusCode::CREATED, &config))
}

async fn list_versions(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let q = Query::parse(q)?;
    let fref = function_ref(&s, &function, 256, &Query(vec![]))?;
    let marker = q.get("Marker").map(str::to_string);
    let max = q.max_items()?;
    let page = blocking(&s, move |c| c.list_versions(&fref, marker.as_deref(), max)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"Versions": page.functions, "NextMarker": page.next_marker}),
    ))
}

async fn create_alias(
    State(s): State<AppState>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
    let bytes = read_limited(&headers, body, MAX_CONTROL_REQUEST, "CreateAlias").await?;
    let req: CreateAliasRequest = parse_json(&bytes)?;
    let alias = blocking(&s, move |c| c.create_alias(&fref, req)).await?;
    Ok(json_response(StatusCode::CREATED, &alias))
}

async fn list_aliases(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let q = Query::parse(q)?;
    let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
    let marker = q.get("Marker").map(str::to_string);
    let version = q.get("FunctionVersion").map(str::to_string);
    if let Some(v) = &version {
        let numeric = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        if !(numeric || v == "$LATEST" || v == "$LATEST.PUBLISHED") {
            return Err(ApiError::pattern(
                v,
                "functionVersion",
                "(\\$LATEST(\\.PUBLISHED)?|[0-9]+)",
            )
            .into());
        }
    }
    let max = q.max_items()?;
    let page = blocking(&s, move |c| {
        c.list_aliases(&fref, version.as_deref(), marker.as_deref(), max)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"Aliases": page.aliases, "NextMarker": page.next_marker}),
    ))
}

async fn get_alias(
    State(s): State<AppState>,
    Path((function, alias)): Path<(String, String)>,
) -> ApiResult {
    let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
    let alias = blocking(&s, move |c| c.get_alias(&fref, &alias)).await?;
    Ok(json_response(StatusCode::OK, &alias))
}

async fn update_alias(
    State(s): State<AppState>,
    Path((function, alias)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
    let bytes = read_limited(&headers, body, MAX_CONTROL_REQUEST, "UpdateAlias").await?;
    let req: UpdateAliasRequest = parse_json(&bytes)?;
    let name = fref.name.clone();
    let alias = blocking(&s, move |c| c.update_alias(&fref, &alias, req)).await?;
    // Its provisioned environments follow the alias to its new version.
    crate::concurrency::reprovision(&s, &name, &alias.name).await;
    Ok(json_response(StatusCode::OK, &alias))
}

async fn delete_alias(
    State(s): State<AppState>,
    Path((function, alias)): Path<(String, String)>,
) -> ApiResult {
    let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
    let name = fref.name.clone();
    let alias_name = alias.clone();
    blocking(&s, move |c| c.delete_alias(&fref, &alias)).await?;
    crate::concurrency::unprovisioned(&s, &name, &alias_name).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_tags(State(s): State<AppState>, Path(resource): Path<String>) -> ApiResult {
    let tags = blocking(&s, move |c| c.list_tags(&resource)).await?;
    Ok(json_response(StatusCode::OK, &json!({ "Tags": tags })))
}

async fn tag_resource(
    State(s): State<AppState>,
    Path(resource): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let bytes = read_limited(&headers, body, MAX_CONTROL_REQUEST, "TagResource").await?;
    let req: TagResourceRequest = parse_json(&bytes)?;
    let tags = req
        .tags
        .ok_or_else(|| ApiError::InvalidParameterValue("Tags is required".into()))?;
    blocking(&s, move |c| c.tag_resource(&resource, tags)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn untag_resource(
    State(s): State<AppState>,
    Path(resource): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let keys = Query::parse(q)?.all("tagKeys");
    blocking(&s, move |c| c.untag_resource(&resource, &keys)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn account_settings(State(s): State<AppState>) -> ApiResult {
    let settings = blocking(&s, |c| c.account_settings()).await?;
    Ok(json_response(StatusCode::OK, &settings))
}

async fn put_concurrency(
    State(s): State<AppState>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
    let bytes = read_limited(
        &headers,
        body,
        MAX_CONTROL_REQUEST,
        "PutFunctionConcurrency",
    )
    .await?;
    let req: PutFunctionConcurrencyRequest = parse_json(&bytes)?;
    let n = req.reserved_concurrent_executions.ok_or_else(|| {
        ApiError::InvalidParameterValue("ReservedConcurrentExecutions is required".into())
    })?;
    let name = fref.name.clone();
    let n = blocking(&s, move |c| c.put_function_concurrency(&fref, n)).await?;
    crate::concurrency::reserved_changed(&s, &name, Some(n));
    Ok(json_response(
        StatusCode::OK,
        &json!({ "ReservedConcurrentExecutions": n }),
    ))
}

async fn get_concurrency(State(s): State<AppState>, Path(function): Path<String>) -> ApiResult {
    let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
    let n = blocking(&s, move |c| c.get_function_concurrency(&fref)).await?;
    let body = match n {
        Some(n) => json!({ "ReservedConcurrentExecutions": n }),
        None => json!({}),
    };
    Ok(json_response(StatusCode::OK, &body))
}

async fn delete_concurrency(State(s): State<AppState>, Path(function): Path<String>) -> ApiResult {
    let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
    let name = fref.name.clone();
    blocking(&s, move |c| c.delete_function_concurrency(&fref)).await?;
    crate::concurrency::reserved_changed(&s, &name, None);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The target of `Code.Location`: a signed, expiring download link, like
/// the presigned S3 URL Lambda returns.
async fn download_code(
    State(s): State<AppState>,
    Path(blob): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = match Query::parse(q) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let expires = q.get("expires").and_then(|v| v.parse::<i64>().ok());
    let signature = q.get("signature");
    let valid = match (expires, signature) {
        (Some(exp), Some(sig)) => s.control.signer().verify(&blob, exp, sig, now_unix()),
        _ => false,
    };
    if !valid {
        // S3's answer to a bad or expired presigned URL.
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "application/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Request has expired or the signature does not match</Message></Error>",
        )
            .into_response();
    }
    let control = s.control.clone();
    match tokio::task::spawn_blocking(move || control.code_bytes(&blob)).await {
        Ok(Ok(bytes)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/zip")],
            bytes,
        )
            .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>",
        )
            .into_response(),
    }
}
