//! `config get|set`: the run-time settings (`settings.rs`) as JSON. `GET config`
//! answers every key (or `?key=K` alone); `PUT config?key=K&value=V` changes one and
//! answers its new value. An unknown key or a bad value is `400 InvalidArgument` with
//! the reason, and nothing changes.

use shoal_http::{Route, S3Error, S3ErrorCode};

use crate::front::handler::ShardContext;
use crate::front::json::JsonObject;

/// Every setting (or the one `key` names) as `{"key": "value", ...}`.
pub fn get(ctx: &ShardContext, route: &Route) -> Result<String, S3Error> {
    check_names(route, &["key"])?;
    let settings = &ctx.admin_node()?.settings;
    let values = match route.query_value("key") {
        Some(key) => vec![(key.to_owned(), settings.get(key).map_err(invalid)?)],
        None => settings
            .get_all()
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    };
    Ok(render(&values))
}

/// Sets `key` to `value`; answers the setting as it now is.
pub fn set(ctx: &ShardContext, route: &Route) -> Result<String, S3Error> {
    check_names(route, &["key", "value"])?;
    let (Some(key), Some(value)) = (route.query_value("key"), route.query_value("value")) else {
        return Err(invalid("config set needs key and value".to_owned()));
    };
    let settings = &ctx.admin_node()?.settings;
    settings.set(key, value).map_err(invalid)?;
    let now = settings.get(key).map_err(invalid)?;
    tracing::info!(shard = ctx.shard_index, key, value = %now, "setting changed by an admin request");
    Ok(render(&[(key.to_owned(), now)]))
}

fn render(values: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut object = JsonObject::new(&mut out);
    for (key, value) in values {
        object.string(key, value);
    }
    object.finish();
    out
}

fn check_names(route: &Route, known: &[&str]) -> Result<(), S3Error> {
    match route
        .query
        .iter()
        .find(|(name, _)| !known.contains(&name.as_str()))
    {
        None => Ok(()),
        Some((name, _)) => Err(invalid(format!(
            "config takes {}, not {name:?}",
            known.join(" and ")
        ))),
    }
}

fn invalid(message: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message)
}
