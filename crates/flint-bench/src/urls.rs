//! Function URL section: a GET through a function URL (the no-op `provided` function,
//! `AuthType: NONE`, path form `/_url/<id>/`) next to the loopback round trip and to a warm
//! `Invoke` of the same function measured in the same run.

use crate::http::{Conn, Op, measure};
use crate::sections::{Ctx, FLOOR_HTTP_RTT, Section};
use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use hyper::StatusCode;

pub async fn run_urls(ctx: &mut Ctx) -> anyhow::Result<()> {
    let s = ctx.settings.clone();
    let section = Section::FunctionUrl.title();
    let addr = ctx.flint_addr()?;
    let mut conn = Conn::open(addr).await?;
    let name = "bench-url";
    let body = serde_json::json!({
        "FunctionName": name,
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Role": "arn:aws:iam::000000000000:role/bench",
        "MemorySize": 1769,
        "Code": {"ZipFile": base64::engine::general_purpose::STANDARD
            .encode(crate::invoke::noop_provided_zip()?)},
    });
    let send = |path: String, body: serde_json::Value| {
        Op::post(path, Bytes::from(serde_json::to_vec(&body).expect("json")))
    };
    let (status, resp) = conn
        .send(&send("/2015-03-31/functions".into(), body))
        .await?;
    if status != StatusCode::CREATED && status != StatusCode::CONFLICT {
        bail!(
            "creating {name}: {status} {}",
            String::from_utf8_lossy(&resp)
        );
    }
    let (status, resp) = conn
        .send(&send(
            format!("/2021-10-31/functions/{name}/url"),
            serde_json::json!({"AuthType": "NONE"}),
        ))
        .await?;
    if status != StatusCode::CREATED {
        bail!(
            "creating the URL: {status} {}",
            String::from_utf8_lossy(&resp)
        );
    }
    let cfg: serde_json::Value = serde_json::from_slice(&resp)?;
    let url = cfg["FunctionUrl"].as_str().context("FunctionUrl")?;
    let (host, port) = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .rsplit_once(':')
        .context("host:port in FunctionUrl")?;
    let url_id = host.split('.').next().context("url id")?.to_string();
    let port: u16 = port.parse()?;
    let (status, resp) = conn
        .send(&send(
            format!("/2015-03-31/functions/{name}/policy"),
            serde_json::json!({"StatementId": "public", "Action": "lambda:InvokeFunctionUrl",
                               "Principal": "*", "FunctionUrlAuthType": "NONE"}),
        ))
        .await?;
    if status != StatusCode::CREATED {
        bail!(
            "adding the permission: {status} {}",
            String::from_utf8_lossy(&resp)
        );
    }

    let invoke = Op::post(
        format!("/2015-03-31/functions/{name}/invocations"),
        Bytes::from_static(b"{}"),
    );
    let (status, _) = conn.send(&invoke).await?;
    if status != StatusCode::OK {
        bail!("warming {name}: {status}");
    }
    let warm = measure(addr, ctx.budget(s.iterations), StatusCode::OK, move |_| {
        invoke.clone()
    })
    .await?;
    ctx.push_row(
        section,
        "url.invoke_floor",
        format!("warm Invoke of {name} (the same function through the API)"),
        warm,
        Some(FLOOR_HTTP_RTT),
    );
    let url_addr = std::net::SocketAddr::new(addr.ip(), port);
    let get = Op::get(format!("/_url/{url_id}/bench?x=1"));
    let through_url = measure(
        url_addr,
        ctx.budget(s.iterations),
        StatusCode::OK,
        move |_| get.clone(),
    )
    .await?;
    ctx.push_row(
        section,
        "url.get",
        "GET through the function URL (AuthType NONE, payload 2.0 event, 1 client)".into(),
        through_url,
        Some(FLOOR_HTTP_RTT),
    );
    Ok(())
}
