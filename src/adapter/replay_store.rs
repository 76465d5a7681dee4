//! DPoP replay stores in the Worker: the isolate's bounded cache, or a Durable Object shared by every
//! isolate, sharded by key thumbprint (one object per client key).

use std::cell::RefCell;

use wasm_bindgen::JsValue;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, ScheduledTime, SqlCursor,
    SqlStorage, SqlStorageValue, State,
};

use super::outbound;
use crate::jose::json::parse_strict;
use crate::out_of_line::OutOfLine;
use crate::state::replay::{entry_id, ReplayCache, ReplayError, ReplayStore};

/// Name of the Durable Object namespace binding in wrangler.toml.
pub const BINDING: &str = "DPOP_REPLAY";

/// The store a request uses, per `DPOP_REPLAY_STORE`.
pub enum WorkerReplayStore<'a> {
    Isolate(&'a RefCell<ReplayCache>),
    DurableObject(&'a Env),
}

impl ReplayStore for WorkerReplayStore<'_> {
    async fn check_and_record(
        &self,
        jkt: &str,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        match self {
            Self::Isolate(cache) => cache.check_and_record(jkt, jti, expires_at, now).await,
            // Out of line (src/out_of_line.rs): with the default in-isolate store it never runs.
            Self::DurableObject(env) => {
                OutOfLine::new(record_in_durable_object(env, jkt, jti, expires_at)).await
            }
        }
    }
}

/// Asks the key's Durable Object to record the proof; any failure fails closed.
async fn record_in_durable_object(
    env: &Env,
    jkt: &str,
    jti: &str,
    expires_at: u64,
) -> Result<(), ReplayError> {
    let ask = async {
        let stub = env.durable_object(BINDING)?.id_from_name(jkt)?.get_stub()?;
        let body = serde_json::json!({ "id": hex(&entry_id(jkt, jti)), "expires": expires_at });
        let body = JsValue::from(body.to_string());
        let request = outbound::request(
            "https://replay-guard/record",
            "POST",
            None,
            Some(&body),
            None,
        )?;
        let response = stub.fetch_with_request(Request::from(request)).await?;
        Ok::<u16, worker::Error>(response.status_code())
    };
    match ask.await {
        Ok(201) => Ok(()),
        Ok(409) => Err(ReplayError::Replayed),
        _ => Err(ReplayError::Unavailable),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a request asks the Durable Object to record: `{"id": <hex>, "expires": <epoch seconds>}`.
struct RecordRequest {
    id: String,
    expires: u64,
}

impl RecordRequest {
    fn parse(body: &[u8]) -> Option<Self> {
        let value = parse_strict(body).ok()?;
        Some(Self {
            id: value.get("id")?.as_str()?.to_owned(),
            expires: value.get("expires")?.as_u64()?,
        })
    }
}

/// One Durable Object per client key: records (jkt, jti) ids until they expire. Check and insert are
/// synchronous SQLite calls with no await between them, so two concurrent requests with the same proof
/// cannot both pass.
#[durable_object(alarm)]
pub struct ReplayGuard {
    state: State,
    sql: SqlStorage,
}

impl DurableObject for ReplayGuard {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        // A failure here resurfaces on the first query, which then answers 500 (fail closed).
        let _ = sql.exec(
            "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, expires INTEGER NOT NULL)",
            None,
        );
        let _ = sql.exec(
            "CREATE INDEX IF NOT EXISTS seen_expires ON seen (expires)",
            None,
        );
        Self { state, sql }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // Parsed by the gateway's JSON reader: `Request::json` would bring `serde_wasm_bindgen` into the
        // module.
        let Some(record) = RecordRequest::parse(&req.bytes().await?) else {
            return Response::error("bad record request", 400);
        };
        let now = now_secs();
        let expires = i64::try_from(record.expires)
            .unwrap_or(i64::MAX)
            .min(1 << 52);
        let seen = self.sql.exec(
            "SELECT expires FROM seen WHERE id = ?",
            vec![record.id.as_str().into()],
        )?;
        for expires in integers(&seen) {
            if expires? > now {
                return Response::error("replayed", 409);
            }
        }
        self.sql.exec(
            "INSERT OR REPLACE INTO seen (id, expires) VALUES (?, ?)",
            vec![record.id.as_str().into(), expires.into()],
        )?;
        // Expired rows are removed by the alarm, so storage holds only live proofs.
        let storage = self.state.storage();
        if storage.get_alarm().await?.is_none() {
            storage.set_alarm(at(expires)).await?;
        }
        Ok(Response::empty()?.with_status(201))
    }

    async fn alarm(&self) -> Result<Response> {
        let now = now_secs();
        self.sql
            .exec("DELETE FROM seen WHERE expires <= ?", vec![now.into()])?;
        // MIN over no rows is one NULL row, which `integers` skips.
        let next = self.sql.exec("SELECT MIN(expires) FROM seen", None)?;
        if let Some(next) = integers(&next).next() {
            self.state.storage().set_alarm(at(next?)).await?;
        }
        Response::empty()
    }
}

/// The integers of a one-column result, its NULLs skipped. Read as raw values rather than deserialised
/// rows: `SqlCursor::to_array` brings `serde_wasm_bindgen` and float formatting into the module for two
/// queries of one integer column. Anything else in the column fails the request (closed).
fn integers(cursor: &SqlCursor) -> impl Iterator<Item = Result<i64>> {
    cursor
        .raw()
        .filter_map(|row| match row.map(|values| values.into_iter().next()) {
            Ok(Some(SqlStorageValue::Integer(value))) => Some(Ok(value)),
            Ok(Some(SqlStorageValue::Null)) => None,
            Ok(_) => Some(Err("replay store: a row that is not one integer".into())),
            Err(error) => Some(Err(error)),
        })
}

/// An alarm time at `epoch_secs` (an `i64` alone would be read as an offset).
fn at(epoch_secs: i64) -> ScheduledTime {
    ScheduledTime::new(js_sys::Date::new(&js_sys::Number::from(
        epoch_secs as f64 * 1000.0,
    )))
}

fn now_secs() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}
