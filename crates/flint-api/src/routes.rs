//! The route table of the Lambda control-plane API, with its dated paths.

use crate::handlers::{
    account, aliases, code_download, concurrency, environments, event_invoke_config, events,
    fallback, function_url_config, functions, invoke, invoke_stream, layers, logs, policy,
    provisioned, recursion_config, runtime_management, scaling_config, tags, test_clock, versions,
};
use crate::request_id::request_id;
use crate::state::AppState;
use axum::Router;
use axum::middleware;
use axum::routing::{delete, get, post, put};

/// The Lambda API router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/2015-03-31/functions",
            post(functions::create_function).get(functions::list_functions),
        )
        .route(
            "/2015-03-31/functions/",
            post(functions::create_function).get(functions::list_functions),
        )
        .route(
            "/2015-03-31/functions/{function}",
            get(functions::get_function).delete(functions::delete_function),
        )
        .route(
            "/2015-03-31/functions/{function}/configuration",
            get(functions::get_function_configuration)
                .put(functions::update_function_configuration),
        )
        .route(
            "/2015-03-31/functions/{function}/code",
            put(functions::update_function_code),
        )
        .route(
            "/2015-03-31/functions/{function}/versions",
            post(versions::publish_version).get(versions::list_versions),
        )
        .route(
            "/2015-03-31/functions/{function}/aliases",
            post(aliases::create_alias).get(aliases::list_aliases),
        )
        .route(
            "/2015-03-31/functions/{function}/aliases/{alias}",
            get(aliases::get_alias)
                .put(aliases::update_alias)
                .delete(aliases::delete_alias),
        )
        .route(
            "/2017-03-31/tags/{resource}",
            get(tags::list_tags)
                .post(tags::tag_resource)
                .delete(tags::untag_resource),
        )
        .route(
            "/2016-08-19/account-settings",
            get(account::account_settings),
        )
        .route(
            "/2016-08-19/account-settings/",
            get(account::account_settings),
        )
        .route(
            "/2017-10-31/functions/{function}/concurrency",
            put(concurrency::put_concurrency).delete(concurrency::delete_concurrency),
        )
        .route(
            "/2019-09-30/functions/{function}/concurrency",
            get(concurrency::get_concurrency),
        )
        .route(
            "/2019-09-30/functions/{function}/provisioned-concurrency",
            get(provisioned::get_provisioned)
                .put(provisioned::put_provisioned)
                .delete(provisioned::delete_provisioned),
        )
        .route(
            "/2015-03-31/functions/{function}/invocations",
            post(invoke::invoke),
        )
        .route(
            "/2021-10-31/functions/{function}/url",
            post(function_url_config::create)
                .get(function_url_config::get)
                .put(function_url_config::update)
                .delete(function_url_config::delete),
        )
        .route(
            "/2021-10-31/functions/{function}/urls",
            get(function_url_config::list),
        )
        .route(
            "/2015-03-31/functions/{function}/policy",
            post(policy::add_permission).get(policy::get_policy),
        )
        .route(
            "/2015-03-31/functions/{function}/policy/{statement}",
            delete(policy::remove_permission),
        )
        .route(
            "/2021-11-15/functions/{function}/response-streaming-invocations",
            post(invoke_stream::invoke_with_response_stream),
        )
        .route(
            "/2014-11-13/functions/{function}/invoke-async/",
            post(invoke::invoke_async),
        )
        .route(
            "/2014-11-13/functions/{function}/invoke-async",
            post(invoke::invoke_async),
        )
        .route(
            "/2019-09-25/functions/{function}/event-invoke-config",
            put(event_invoke_config::put_config)
                .post(event_invoke_config::update_config)
                .get(event_invoke_config::get_config)
                .delete(event_invoke_config::delete_config),
        )
        .route(
            "/2019-09-25/functions/{function}/event-invoke-config/list",
            get(event_invoke_config::list_configs),
        )
        .route(
            "/2024-08-31/functions/{function}/recursion-config",
            get(recursion_config::get_recursion_config).put(recursion_config::put_recursion_config),
        )
        .route(
            "/2021-07-20/functions/{function}/runtime-management-config",
            get(runtime_management::get_config).put(runtime_management::put_config),
        )
        .route(
            "/2025-11-30/functions/{function}/function-scaling-config",
            get(scaling_config::get_config).put(scaling_config::put_config),
        )
        .merge(layers::routes())
        // CloudWatch Logs: a JSON 1.1 protocol, every operation a POST to `/`.
        .route("/", post(crate::cwlogs::handle))
        .route("/_flint/events", get(events::stats))
        .route("/_flint/events/undelivered", get(events::undelivered))
        .route("/_flint/clock", post(test_clock::advance_clock))
        .route("/_flint/code/{blob}", get(code_download::download_code))
        .route("/_flint/logs/{function}", get(logs::read_logs))
        .route("/_flint/concurrency", get(environments::concurrency_view))
        .route("/_flint/environments", get(environments::environments_view))
        .fallback(fallback::unknown_operation)
        // A known path with a method it does not take is no operation either (not axum's
        // empty 405).
        .method_not_allowed_fallback(fallback::unknown_operation)
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}
